"""DRBD 9 status: `drbdsetup status --json` and the `drbdadm status` / `drbdsetup status` text.

Both formats give the same ResourceView, one per resource as seen from ONE host. States are
kept as the raw strings DRBD prints (UpToDate, Outdated, WFBitMapS, ...), never mapped away.

Text format facts (drbd-utils drbdsetup.c, status_cmd): in non-verbose output the connection
state is printed only when it is not Connected, the peer role only when Connected, the
replication state only when it is not Established, peer devices only when Connected, and
`volume:N` only when the resource has several volumes. The defaults below restore those.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from . import ParseError
from . import _json

JSON_WHAT = "drbdsetup status --json"
TEXT_WHAT = "drbdadm status"

# Replication states for which drbdsetup prints `done:` (C_SYNC_SOURCE..C_PAUSED_SYNC_T).
SYNC_STATES = frozenset({"SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT"})

# Every state name DRBD 9 can print (drbd-headers drbd_strings.c). A word outside these is not
# a state this code knows how to judge, or a token cut short: the view is unreadable, not ok.
ROLES = frozenset({"Primary", "Secondary", "Unknown"})
DISK_STATES = frozenset({"Diskless", "Attaching", "Detaching", "Failed", "Negotiating",
                         "Inconsistent", "Outdated", "DUnknown", "Consistent", "UpToDate"})
CONNECTION_STATES = frozenset({"StandAlone", "Disconnecting", "Unconnected", "Timeout",
                               "BrokenPipe", "NetworkFailure", "ProtocolError", "TearDown",
                               "Connecting", "Connected"})
REPLICATION_STATES = frozenset({"Off", "Established", "StartingSyncS", "StartingSyncT",
                                "WFBitMapS", "WFBitMapT", "WFSyncUUID", "SyncSource",
                                "SyncTarget", "VerifyS", "VerifyT", "PausedSyncS", "PausedSyncT",
                                "Ahead", "Behind"})
# drbdsetup.c susp_str() / resync_susp_str(): the reasons, comma-joined, or "no"
SUSPEND_REASONS = frozenset({"user", "no-data", "fencing", "quorum"})
RESYNC_SUSPEND_REASONS = frozenset({"user", "peer", "dependency", "max-parallel"})


@dataclass
class Device:
    volume: int
    minor: int | None
    disk: str
    client: bool = False
    quorum: bool | None = None      # None: not shown (non-verbose text shows only quorum:no)
    open: bool | None = None        # None: not shown (older utils)
    size_kib: int | None = None
    blocked: str | None = None      # None/"no": not blocked; "upper", "lower" or "upper,lower"
    extra: dict = field(default_factory=dict)   # every other key, raw


@dataclass
class PeerDevice:
    volume: int
    replication: str
    peer_disk: str
    peer_client: bool = False
    done: float | None = None       # `done:` as drbdadm status prints it (resync/verify progress)
    out_of_sync_kib: int | None = None
    resync_suspended: str | None = None   # None: not suspended; else the reasons, e.g. "peer"
    extra: dict = field(default_factory=dict)


@dataclass
class Connection:
    peer: str
    state: str                      # connection-state: Connected, Connecting, StandAlone, ...
    peer_role: str
    peer_devices: list[PeerDevice] = field(default_factory=list)
    congested: bool | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class ResourceView:
    name: str
    role: str
    suspended: str | None           # None: not suspended; else the reason(s), e.g. "quorum";
                                    # "yes": JSON of drbd-utils before 9.21 gives no reason
    devices: list[Device] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    node_id: int | None = None
    force_io_failures: bool = False     # after `secondary --force`: every I/O fails
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# JSON


def parse_status_json(text: str) -> list[ResourceView]:
    """`drbdsetup status --json [--verbose --statistics]`: an array of resources.

    Accepts drbd-utils' bare `nan` (invalid JSON) and u64 counters (Python ints are unbounded).
    """
    if not text.strip():
        return []
    data = _json.load(text, JSON_WHAT, lenient_nan=True)
    if not isinstance(data, list):
        raise ParseError(JSON_WHAT, f"expected an array of resources, got {type(data).__name__}")
    return [_resource_from_json(r, i) for i, r in enumerate(data)]


def _field(obj: dict, key: str, types, where: str, default=...):
    if not isinstance(obj, dict):
        raise ParseError(JSON_WHAT, f"{where}: expected an object, got {type(obj).__name__}")
    if key not in obj:
        if default is ...:
            raise ParseError(JSON_WHAT, f"{where}: key {key!r} missing")
        return default
    value = obj[key]
    # bool is an int subclass: do not let true/false pass as a number
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        raise ParseError(JSON_WHAT, f"{where}: {key!r} is {value!r}, expected {_type_names(types)}")
    return value


def _known(value: str, allowed: frozenset, what: str, tool: str, where: str) -> str:
    if value not in allowed:
        raise ParseError(tool, f"{where}: {what} {value!r} is not a state DRBD 9 prints "
                               f"(output cut short, or a newer DRBD)")
    return value


def _reasons(value: str, allowed: frozenset, what: str, tool: str, where: str) -> str | None:
    """susp_str()/resync_susp_str(): "no", or reasons joined by commas."""
    if value == "no":
        return None
    for reason in value.split(","):
        _known(reason, allowed, f"{what} reason", tool, where)
    return value


def _percent(value) -> float | None:
    """A percentage as printed by %.2f; drbdsetup prints nan at the very start of a resync."""
    if value is None or math.isnan(float(value)):
        return None
    return float(value)


def _as_tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def _type_names(types) -> str:
    return " or ".join(t.__name__ for t in _as_tuple(types))


_NUM = (int, float)


def _resource_from_json(r, i: int) -> ResourceView:
    name = _field(r, "name", str, f"resource #{i}")
    where = f"resource {name!r}"
    return ResourceView(
        name=name,
        role=_known(_field(r, "role", str, where), ROLES, "role", JSON_WHAT, where),
        suspended=_json_suspended(r, where),
        devices=[_device_from_json(d, f"{where} device #{j}")
                 for j, d in enumerate(_field(r, "devices", list, where, []))],
        connections=[_connection_from_json(c, f"{where} connection #{j}")
                     for j, c in enumerate(_field(r, "connections", list, where, []))],
        node_id=_field(r, "node-id", int, where, None),
        force_io_failures=_field(r, "force-io-failures", bool, where, False),
        extra={k: v for k, v in r.items()
               if k not in ("name", "role", "suspended", "devices", "connections", "node-id",
                            "force-io-failures")},
    )


def _json_suspended(r: dict, where: str) -> str | None:
    if not _field(r, "suspended", bool, where, False):
        return None
    # drbd-utils 9.21 adds the reasons as separate booleans; older utils only say true.
    reasons = [k[len("suspended-"):] for k, v in r.items() if k.startswith("suspended-") and v is True]
    return ",".join(reasons) or "yes"


def _device_from_json(d, where: str) -> Device:
    known = ("volume", "minor", "disk-state", "client", "quorum", "open", "size")
    return Device(
        volume=_field(d, "volume", int, where, 0),
        minor=_field(d, "minor", int, where, None),
        disk=_known(_field(d, "disk-state", str, where), DISK_STATES, "disk-state", JSON_WHAT, where),
        client=_field(d, "client", bool, where, False),
        quorum=_field(d, "quorum", bool, where, None),
        open=_field(d, "open", bool, where, None),
        size_kib=_field(d, "size", int, where, None),
        extra={k: v for k, v in d.items() if k not in known},
    )


def _connection_from_json(c, where: str) -> Connection:
    peer = _field(c, "name", str, where)
    where = f"{where} ({peer})"
    # drbdsetup spells this key with an underscore; accept the dashed form too
    pds = c.get("peer_devices", c.get("peer-devices", [])) if isinstance(c, dict) else []
    if not isinstance(pds, list):
        raise ParseError(JSON_WHAT, f"{where}: 'peer_devices' is not an array")
    known = ("name", "connection-state", "peer-role", "congested", "peer_devices", "peer-devices")
    return Connection(
        peer=peer,
        state=_known(_field(c, "connection-state", str, where), CONNECTION_STATES,
                     "connection-state", JSON_WHAT, where),
        peer_role=_known(_field(c, "peer-role", str, where, "Unknown"), ROLES, "peer-role",
                         JSON_WHAT, where),
        peer_devices=[_peer_device_from_json(p, f"{where} peer device #{j}") for j, p in enumerate(pds)],
        congested=_field(c, "congested", bool, where, None),
        extra={k: v for k, v in c.items() if k not in known},
    )


def _peer_device_from_json(p, where: str) -> PeerDevice:
    replication = _known(_field(p, "replication-state", str, where), REPLICATION_STATES,
                         "replication-state", JSON_WHAT, where)
    # drbdsetup prints `done:` in the text and "percent-resync-done" in the JSON from the same
    # figure: with the kernel's resync details, (rs-total - still to go) / rs-total, the part
    # of THIS resync already copied; without them, 100 * (1 - out-of-sync / size), equal to
    # "percent-in-sync". percent-in-sync alone is the share of the whole device in sync,
    # which is far higher than done: when a resync copies a small part of a big device.
    done = _field(p, "percent-resync-done", _NUM + (type(None),), where, None)   # nan -> None
    susp = _field(p, "resync-suspended", str, where, "no")
    known = ("volume", "replication-state", "peer-disk-state", "peer-client", "out-of-sync",
             "resync-suspended", "percent-resync-done")
    return PeerDevice(
        volume=_field(p, "volume", int, where, 0),
        replication=replication,
        peer_disk=_known(_field(p, "peer-disk-state", str, where), DISK_STATES, "peer-disk-state",
                         JSON_WHAT, where),
        peer_client=_field(p, "peer-client", bool, where, False),
        done=_percent(done),
        out_of_sync_kib=_field(p, "out-of-sync", int, where, None),
        resync_suspended=_reasons(susp, RESYNC_SUSPEND_REASONS, "resync-suspended", JSON_WHAT, where),
        extra={k: v for k, v in p.items() if k not in known},
    )


# ---------------------------------------------------------------------------------------------
# Text

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Lines that mean "this resource is not up here" (drbdsetup / drbdadm) and drbdadm's echo of
# the failed drbdsetup call; the engine reads the exit code separately.
_NO_SUCH = re.compile(r"^(?P<name>\S+): No such resource\s*$")
_NOT_DEFINED = re.compile(r"^'(?P<name>[^']+)' not defined in your config")
_CMD_FAILED = re.compile(r"^Command '.*' terminated with exit code \d+\s*$")
_NONE_CONFIGURED = "# No currently configured DRBD found."


@dataclass
class _Raw:
    """One object line of the text format plus its continuation lines."""
    name: str | None
    attrs: dict
    line: int
    children: list = field(default_factory=list)


def parse_status_text(text: str, whole: bool = False) -> list[ResourceView]:
    """`drbdadm status` / `drbdsetup status [--verbose] [--statistics]`, DRBD 9 layout.

    Indentation tells the objects apart: resource at column 0; device (`volume:`/`disk:` first)
    or connection (a bare peer name first) at 2; peer device at 4 under a connection. Anything
    indented deeper is a continuation of the previous object: drbdsetup's own statistics lines
    and the line breaks the DRBD user guide inserts into its verbose examples.

    whole: the text is a command's complete stdout. drbdsetup ends every resource with a blank
    line, so a stdout whose last resource is not followed by one was cut short (a timeout, a
    full pipe) and may lack connections or volumes: that is unreadable, not a smaller resource.
    """
    resources: list[tuple[_Raw, list[_Raw], list[_Raw]]] = []
    res = conn = last = None
    for n, raw_line in enumerate(_ANSI.sub("", text).splitlines(), 1):
        line = raw_line.rstrip()
        if not line.strip():
            continue
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        tokens = body.split()
        if indent == 0:
            if body == _NONE_CONFIGURED:
                continue
            if _NO_SUCH.match(body) or _NOT_DEFINED.match(body) or _CMD_FAILED.match(body):
                res = conn = last = None
                continue
            if len(tokens) < 2 or ":" in tokens[0] or ":" not in tokens[1]:
                raise ParseError(TEXT_WHAT, f"line {n}: not a resource line (name role:...): {body[:100]!r}")
            res = (_Raw(tokens[0], _pairs(tokens[1:], n), n), [], [])
            resources.append(res)
            conn, last = None, res[0]
        elif res is None:
            raise ParseError(TEXT_WHAT, f"line {n}: indented line before any resource line: {body!r}")
        elif indent <= 2:
            if ":" in tokens[0]:
                last = _Raw(None, _pairs(tokens, n), n)
                res[1].append(last)
                conn = None
            else:
                conn = last = _Raw(tokens[0], _pairs(tokens[1:], n), n)
                res[2].append(conn)
        elif indent <= 4 and conn is not None:
            last = _Raw(None, _pairs(tokens, n), n)
            conn.children.append(last)
        else:
            last.attrs.update(_pairs(tokens, n))
    if whole and resources and not _ANSI.sub("", text).endswith("\n\n"):
        raise ParseError(TEXT_WHAT, f"output ends inside resource {resources[-1][0].name} (no blank "
                                    f"line after it as drbdsetup prints): cut short")
    return [_view_from_raw(*r) for r in resources]


def _pairs(tokens: list[str], n: int) -> dict:
    out = {}
    for t in tokens:
        key, sep, value = t.partition(":")
        if not sep or not key:
            raise ParseError(TEXT_WHAT, f"line {n}: expected key:value, got {t!r}")
        out[key] = value
    return out


def _yes_no(attrs: dict, key: str, where: str) -> bool | None:
    value = attrs.get(key)
    if value is None:
        return None
    if value not in ("yes", "no"):
        raise ParseError(TEXT_WHAT, f"{where}: {key}:{value} is neither yes nor no")
    return value == "yes"


def _int(attrs: dict, key: str, where: str, default=None) -> int | None:
    value = attrs.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ParseError(TEXT_WHAT, f"{where}: {key}:{value} is not a number") from None


def _view_from_raw(r: _Raw, devices: list[_Raw], conns: list[_Raw]) -> ResourceView:
    where = f"line {r.line} (resource {r.name})"
    if "role" not in r.attrs:
        raise ParseError(TEXT_WHAT, f"{where}: resource line has no role:")
    return ResourceView(
        name=r.name,
        role=_known(r.attrs["role"], ROLES, "role", TEXT_WHAT, where),
        suspended=_reasons(r.attrs.get("suspended", "no"), SUSPEND_REASONS, "suspended", TEXT_WHAT, where),
        devices=[_device_from_raw(d, r.name) for d in devices],
        connections=[_connection_from_raw(c, r.name) for c in conns],
        node_id=_int(r.attrs, "node-id", where),
        force_io_failures=bool(_yes_no(r.attrs, "force-io-failures", where)),
        extra={k: v for k, v in r.attrs.items()
               if k not in ("role", "suspended", "node-id", "force-io-failures")},
    )


def _device_from_raw(d: _Raw, res: str) -> Device:
    where = f"line {d.line} (resource {res} device)"
    if "disk" not in d.attrs:
        raise ParseError(TEXT_WHAT, f"{where}: device line has no disk:")
    known = ("volume", "minor", "disk", "client", "quorum", "open", "size", "blocked")
    blocked = d.attrs.get("blocked")
    if blocked not in (None, "no", "upper", "lower", "upper,lower"):
        raise ParseError(TEXT_WHAT, f"{where}: blocked:{blocked} is not no/upper/lower/upper,lower")
    return Device(
        volume=_int(d.attrs, "volume", where, 0),
        minor=_int(d.attrs, "minor", where),
        disk=_known(d.attrs["disk"], DISK_STATES, "disk", TEXT_WHAT, where),
        blocked=None if blocked == "no" else blocked,
        client=bool(_yes_no(d.attrs, "client", where)),
        quorum=_yes_no(d.attrs, "quorum", where),
        open=_yes_no(d.attrs, "open", where),
        size_kib=_int(d.attrs, "size", where),
        extra={k: v for k, v in d.attrs.items() if k not in known},
    )


def _connection_from_raw(c: _Raw, res: str) -> Connection:
    where = f"line {c.line} (resource {res} connection {c.name})"
    state = c.attrs.get("connection")
    if state is None:
        # non-verbose output omits connection: exactly when it is Connected (and then shows role:)
        if "role" not in c.attrs:
            raise ParseError(TEXT_WHAT, f"{where}: connection line has neither connection: nor role:")
        state = "Connected"
    return Connection(
        peer=c.name,
        state=_known(state, CONNECTION_STATES, "connection", TEXT_WHAT, where),
        peer_role=_known(c.attrs.get("role", "Unknown"), ROLES, "role", TEXT_WHAT, where),
        peer_devices=[_peer_device_from_raw(p, res, c.name) for p in c.children],
        congested=_yes_no(c.attrs, "congested", where),
        extra={k: v for k, v in c.attrs.items() if k not in ("connection", "role", "congested")},
    )


def _peer_device_from_raw(p: _Raw, res: str, peer: str) -> PeerDevice:
    where = f"line {p.line} (resource {res} peer {peer})"
    replication = _known(p.attrs.get("replication", "Established"), REPLICATION_STATES,
                         "replication", TEXT_WHAT, where)
    # old drbd-utils (8.9.x era) print the peer's disk as disk:, current ones as peer-disk:
    peer_disk = _known(p.attrs.get("peer-disk", p.attrs.get("disk", "DUnknown")), DISK_STATES,
                       "peer-disk", TEXT_WHAT, where)
    done = p.attrs.get("done")
    try:
        done_pct = _percent(done) if done is not None else None
    except ValueError:
        raise ParseError(TEXT_WHAT, f"{where}: done:{done} is not a number") from None
    known = ("volume", "replication", "peer-disk", "disk", "peer-client", "done", "out-of-sync",
             "resync-suspended")
    return PeerDevice(
        volume=_int(p.attrs, "volume", where, 0),
        replication=replication,
        peer_disk=peer_disk,
        peer_client=bool(_yes_no(p.attrs, "peer-client", where)),
        done=done_pct,
        out_of_sync_kib=_int(p.attrs, "out-of-sync", where),
        resync_suspended=_reasons(p.attrs.get("resync-suspended", "no"), RESYNC_SUSPEND_REASONS,
                                  "resync-suspended", TEXT_WHAT, where),
        extra={k: v for k, v in p.attrs.items() if k not in known},
    )


# ---------------------------------------------------------------------------------------------
# Kernel log: what DRBD's handshakes said about each connection

KERNEL_LOG_WHAT = "the kernel log (journalctl -k / dmesg)"
# the probe appends this line after the log, with the exit code of the command that read it
KERNEL_LOG_END = re.compile(r"^# exit (?P<rc>\d+)\s*$")
# drbd's per-connection prefix (drbd_int.h, __drbd_printk_peer_device / _connection):
# "drbd <resource> <peer>: ..." or "drbd <resource>/<volume> drbd<minor> <peer>: ..."
_KLOG = re.compile(r"\bdrbd (?P<res>[^\s/:]+)(?:/(?P<vol>\d+) drbd\d+)? (?P<peer>[^\s:]+): (?P<msg>.*)$")
_KLOG_BITS = re.compile(r"^(?P<who>self|peer) [0-9A-F]{16}(?::[0-9A-F]{16})*(?::)? bits:(?P<bits>\d+)")
_KLOG_CONNECTED = re.compile(r"conn\( \S+ -> Connected \)")
_KLOG_SOURCE = re.compile(r"\s*\S+ kernel:$")   # journalctl's "<host> kernel:" after the time
BITMAP_BLOCK_KIB = 4            # one bit of DRBD's bitmap covers 4 KiB (BM_BLOCK_SIZE)


@dataclass
class SplitBrain:
    """drbd_sync_handshake() found the two copies diverged and dropped the connection
    ("Split-Brain detected but unresolved, dropping connection!"), as the viewer logged it."""
    resource: str
    peer: str                       # as the viewer's DRBD names it
    when: str                       # the log line's time stamp as printed
    own_kib: int | None = None      # changed here and not on the peer (the bitmap's bits for it)
    peer_kib: int | None = None     # changed on the peer and not here


@dataclass
class KernelLog:
    """The DRBD lines of one host's kernel log (this boot), oldest first."""
    lines: list[tuple[str, str, str, str]] = field(default_factory=list)   # (when, resource, peer, msg)

    def split_brain(self, resource: str, peer: str) -> SplitBrain | None:
        """The split brain DRBD last logged on this link, unless a connection or a manual
        resolution ("Split-Brain detected, manually solved") came after it. `peer` matches by
        its short name (EL9 sites print short peer names)."""
        found = None
        bits: dict[str, int] = {}
        want = peer.split(".", 1)[0]
        for when, res, p, msg in self.lines:
            if res != resource or p.split(".", 1)[0] != want:
                continue
            m = _KLOG_BITS.match(msg)
            if m:
                bits[m.group("who")] = int(m.group("bits"))
            elif msg.startswith("drbd_sync_handshake"):
                bits = {}
            elif msg.startswith("Split-Brain detected but unresolved"):
                kib = {k: v * BITMAP_BLOCK_KIB for k, v in bits.items()}
                found = SplitBrain(resource, p, when, kib.get("self"), kib.get("peer"))
            elif msg.startswith("Split-Brain detected, ") or _KLOG_CONNECTED.search(msg):
                found = None
        return found


def parse_kernel_log(text: str) -> KernelLog:
    """The drbd lines of `journalctl -k -b` (or dmesg) as the probe's drbd_kernel_log section
    prints them, ending with its `# exit N` line. A log whose reader failed or that lacks the
    end line (cut short) is unreadable: it cannot tell that no split brain was logged."""
    lines = _ANSI.sub("", text).splitlines()
    end = KERNEL_LOG_END.match(lines[-1]) if lines else None
    if end is None:
        raise ParseError(KERNEL_LOG_WHAT, "no `# exit` line at the end: cut short, or not read")
    if end.group("rc") != "0":
        raise ParseError(KERNEL_LOG_WHAT, f"neither journalctl -k nor dmesg could be read (exit "
                                          f"{end.group('rc')})")
    log = KernelLog()
    for line in lines[:-1]:
        m = _KLOG.search(line)
        if m:
            when = _KLOG_SOURCE.sub("", line[:m.start()].strip())
            log.lines.append((when, m.group("res"), m.group("peer"), m.group("msg")))
    return log
