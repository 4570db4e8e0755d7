"""Filesystems: `df -P [-T] -k`, `findmnt -J`, `du -s`, and which mounts are real disks."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from . import ParseError
from . import _json

DF_WHAT = "df -P -T -k"
FINDMNT_WHAT = "findmnt -J"
DU_WHAT = "du -s"


@dataclass
class Filesystem:
    source: str
    fstype: str | None      # None for `df -P` without -T
    size_kib: int
    used_kib: int
    avail_kib: int
    use_pct: int            # df's Capacity; computed from used/size when df prints "-"
    target: str


class DfRow(NamedTuple):
    source: str
    fstype: str | None      # None without -T
    numbers: tuple[str, str, str]   # size, used, avail (or inodes, used, free): digits or "-"
    pct: str                # "12%" or "-"
    target: str


_WORD = re.compile(r"\S+")
_COUNT = re.compile(r"\d+|-")
_PCT = re.compile(r"\d+%|-")


def df_row(line: str, typed: bool) -> DfRow | None:
    """One row of df -P: the last five columns are fixed (three counts, a percentage, the mount
    point from its leading /); Filesystem (and Type) take what is left at the start, so a long
    device name that overflows its column still parses, and the mount point may hold spaces.
    The first place the fixed columns fit wins: one pass over the row's words."""
    words = [(m.start(), m.group()) for m in _WORD.finditer(line)]
    first = 2 if typed else 1               # at least one word of Filesystem (and the Type)
    for i in range(first, len(words) - 4):
        (_, a), (_, b), (_, c), (_, pct), (at, target) = words[i:i + 5]
        if all(_COUNT.fullmatch(x) for x in (a, b, c)) and _PCT.fullmatch(pct) and target.startswith("/"):
            fstype = words[i - 1][1] if typed else None
            source = line[:words[i - 1][0] if typed else words[i][0]].strip()
            return DfRow(source, fstype, (a, b, c), pct, line[at:])
    return None


_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescape(path: str) -> str:
    """Mount points as the kernel escapes them (\\040 for a space)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), path)


def parse_df_posix(text: str) -> list[Filesystem]:
    """`df -P -T -k` (with Type) or `df -P` / plain `df` (without): 1K blocks only."""
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    header = lines[0].split()
    if header[:1] != ["Filesystem"]:
        raise ParseError(DF_WHAT, f"no df header line: {lines[0][:100]!r}")
    if not any(h in ("1024-blocks", "1K-blocks") for h in header):
        raise ParseError(DF_WHAT, f"sizes are not in 1K blocks (run df -P -k): {lines[0][:100]!r}")
    typed = "Type" in header
    out, pending = [], ""
    for n, line in enumerate(lines[1:], 2):
        # without -P, df puts a long device name on a line of its own: join it to the next
        line = f"{pending} {line.strip()}" if pending else line
        row = df_row(line, typed)
        if row is None:
            if not pending and len(line.split()) == 1:
                pending = line
                continue
            raise ParseError(DF_WHAT, f"line {n}: not a df row: {line.strip()[:120]!r}")
        pending = ""
        size, used, avail = (0 if x == "-" else int(x) for x in row.numbers)
        use_pct = int(row.pct[:-1]) if row.pct != "-" else (-(-used * 100 // size) if size else 0)
        out.append(Filesystem(source=row.source, fstype=row.fstype, size_kib=size, used_kib=used,
                              avail_kib=avail, use_pct=use_pct, target=_unescape(row.target)))
    if pending:
        raise ParseError(DF_WHAT, f"device {pending!r} without its numbers at the end")
    return out


def parse_df_errors(stderr: str) -> dict[str, str]:
    """The mounts df could not read, from its stderr: {mount point: reason}.

    coreutils df prints `df: <mount>: <strerror>` for each (the mount quoted only when it holds
    characters a shell would read specially) and still lists every other filesystem."""
    out = {}
    for line in stderr.splitlines():
        if not line.startswith("df: "):
            continue
        path, sep, reason = line[4:].rpartition(": ")
        if not sep or not path:
            continue
        if len(path) > 1 and path[0] == path[-1] == "'":
            path = path[1:-1]
        out[path] = reason.strip()
    return out


def parse_findmnt_json(text: str) -> list[dict]:
    """`findmnt -J [-l] [-o ...]`: every mount as a flat dict (tree `children` flattened, parents
    first); keys as findmnt prints them (target, source, fstype, fsroot, options, ...)."""
    if not text.strip():
        return []
    data = _json.load(text, FINDMNT_WHAT)
    if not isinstance(data, dict) or not isinstance(data.get("filesystems"), list):
        raise ParseError(FINDMNT_WHAT, "expected an object with a 'filesystems' array")
    out: list[dict] = []

    def walk(items, depth):
        for fs in items:
            if not isinstance(fs, dict) or not isinstance(fs.get("target"), str):
                raise ParseError(FINDMNT_WHAT, f"mount entry without a target: {fs!r:.100}")
            out.append({k: v for k, v in fs.items() if k != "children"})
            children = fs.get("children") or []
            if not isinstance(children, list):
                raise ParseError(FINDMNT_WHAT, f"{fs['target']}: 'children' is not an array")
            walk(children, depth + 1)

    walk(data["filesystems"], 0)
    return out


# Kernel and memory filesystems: never a disk that can fill up.
PSEUDO_FSTYPES = frozenset({
    "proc", "sysfs", "tmpfs", "devtmpfs", "devpts", "mqueue", "nsfs", "overlay", "squashfs",
    "autofs", "debugfs", "tracefs", "securityfs", "pstore", "configfs", "selinuxfs", "bpf",
    "hugetlbfs", "binfmt_misc", "efivarfs", "fusectl", "rpc_pipefs", "ramfs", "shm", "cgroup",
    "cgroup2", "nfsd", "iso9660", "aufs", "zram",
})
# FUSE filesystems that are views, not storage (fuse.sshfs etc. stay: they are real data).
PSEUDO_FUSE = frozenset({"fuse.lxcfs", "fuse.gvfsd-fuse", "fuse.portal", "fuse.snapfuse", "fuse.fusectl"})
# df's Filesystem column for pseudo mounts, to judge `df -P` output without Type.
PSEUDO_SOURCES = frozenset({"proc", "sysfs", "tmpfs", "devtmpfs", "udev", "devpts", "overlay", "shm",
                            "none", "cgroup", "cgroup2", "mqueue", "nsfs", "systemd-1"})
# docker's own per-container mounts (layers, shm, netns); named volumes stay real.
DOCKER_PRIVATE = re.compile(r"^(/var/lib/docker/(overlay2?|containers|aufs|plugins|image|buildkit)/|/run/docker/)")


def is_pseudo(fstype: str | None, source: str) -> bool:
    if fstype is None:
        return source in PSEUDO_SOURCES
    return fstype in PSEUDO_FSTYPES or fstype.startswith("cgroup") or fstype in PSEUDO_FUSE


def _is_pseudo_mount(fstype: str | None, source: str, target: str) -> bool:
    if fstype is None and source.startswith("/dev/loop") and target.startswith("/snap/"):
        return True     # snap images (squashfs, always 100 % full) in df output without Type
    return is_pseudo(fstype, source)


def real_filesystems(dfs: list[Filesystem], findmnt: list[dict] | None = None) -> list[Filesystem]:
    """The filesystems whose fullness matters: no pseudo filesystems, no docker container mounts,
    no bind mounts (findmnt fsroot other than "/"), and one entry per device (shortest target)."""
    by_target = {m["target"]: m for m in findmnt or []}
    kept: list[Filesystem] = []
    for f in dfs:
        mnt = by_target.get(f.target, {})
        fstype = f.fstype or mnt.get("fstype")
        if _is_pseudo_mount(fstype, f.source, f.target) or DOCKER_PRIVATE.match(f.target):
            continue
        fsroot = mnt.get("fsroot")
        # a bind mount shows a subdirectory as its root; btrfs subvolumes do too, so those are
        # left to the per-device dedup below instead
        if fsroot not in (None, "/") and fstype != "btrfs":
            continue
        kept.append(f)
    shortest: dict[str, Filesystem] = {}
    for f in kept:
        best = shortest.get(f.source)
        if best is None or (len(f.target), f.target) < (len(best.target), best.target):
            shortest[f.source] = f
    return [f for f in kept if shortest[f.source] is f]


_DU_LINE = re.compile(r"^(?P<size>\d+(?:\.\d+)?)(?P<unit>[KMGTPE]?)\s+(?P<path>.+)$")
_DU_UNIT_KIB = {"": 1, "K": 1, "M": 1024, "G": 1024 ** 2, "T": 1024 ** 3, "P": 1024 ** 4, "E": 1024 ** 5}


def parse_du(text: str) -> list[tuple[int, str]]:
    """`du -s -B G` / `-BM` / `-k`: (size in the unit du was given, path) per line."""
    return [(int(float(size)), path) for size, _, path in _du_rows(text)]


def parse_du_kib(text: str) -> list[tuple[int, str]]:
    """Like parse_du, converted to KiB from du's unit suffix (no suffix: `-k`, already KiB)."""
    return [(int(float(size) * _DU_UNIT_KIB[unit]), path) for size, unit, path in _du_rows(text)]


# du's complaint about a file removed while it walked the tree: that file takes no space any more
DU_VANISHED = "No such file or directory"


def parse_du_errors(stderr: str) -> list[tuple[str, str]]:
    """(path, reason) for each `du: cannot access|read directory '<path>': <reason>` line, and
    ("", line) for any other complaint of du's (e.g. `du: fts_read failed: ...`)."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith("du: "):
            continue
        m = re.match(r"^du: cannot (?:access|read directory) (.+): ([^:]+)$", line.strip())
        if m:
            path = m.group(1)
            if len(path) > 1 and path[0] == path[-1] and path[0] in "'\"":
                path = path[1:-1]
            out.append((path, m.group(2).strip()))
        else:
            out.append(("", line.strip()[4:]))
    return out


def _du_rows(text: str) -> list[tuple[str, str, str]]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _DU_LINE.match(line.strip("\n"))
        if m is None:
            raise ParseError(DU_WHAT, f"line {n}: expected SIZE<TAB>PATH, got {line.strip()[:120]!r}")
        rows.append((m.group("size"), m.group("unit"), m.group("path")))
    return rows
