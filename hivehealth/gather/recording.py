"""--record DIR saves what every server answered; --replay DIR checks such a recording without
any server (a support bundle from another site, or test data). Recordings hold no secrets:
outputs go through the same redaction as every output (JSON outputs as JSON, so they still
replay), and no key or password file is read. The files are private (hivehealth.safe_write).

A recording is data from another site, however it was made: a replay reads its files from the
recording's own directory only (by name, never through a link, regular files of bounded size),
and no path it names (the site's root, context dir, ssh_config) is kept, so nothing of this
machine is read or run on its say.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import time
from pathlib import Path

from hivehealth import __version__
from hivehealth.gather.probe import OUTPUT_MAX, CommandResult, HostFacts
from hivehealth.site.inventory import InventoryError, Site
from hivehealth.safe_write import checked_dir, write_atomic
from hivehealth.redact import redact_output, redact_tree

FORMAT = 1
SITE_FILE_MAX = 4 << 20        # site.json: the site's servers and settings
HOST_FILES_PER_OUTPUT = 8      # host-<name>.json: this many times section_output_max at most


def save(directory: str, site: Site, facts: dict[str, HostFacts]):
    out = checked_dir(directory)
    times = [f.gathered_at for f in facts.values() if f.gathered_at]
    recorded = {"at": min(times) if times else time.time(), "by": f"hive-health {__version__}"}
    described = site.to_dict()
    described.pop("recorded", None)
    write_atomic(out / "site.json", json.dumps({"format": FORMAT, "recorded": recorded, "site": described},
                                               indent=1))
    for name, f in facts.items():
        if "/" in name or "\0" in name:
            raise InventoryError(out, f"cannot record server {name!r}: its name is not a file name")
        d = f.to_dict()
        results = d.pop("results")
        d = redact_tree(d)          # the unreachable reason
        d["results"] = {k: dict(redact_tree({x: y for x, y in r.items() if x not in ("stdout", "stderr")}),
                                stdout=redact_output(r["stdout"]), stderr=redact_output(r["stderr"]))
                        for k, r in results.items()}
        write_atomic(out / f"host-{name}.json", json.dumps(d, indent=1))


class BundleFileError(OSError):
    """A file of the recording that is not read: a link, not a regular file, or too large."""


class _Bundle:
    """The recording's directory, opened once; its files are read from it by name."""

    def __init__(self, directory: str):
        self.fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def read(self, name: str, limit: int) -> bytes:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self.fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise BundleFileError(e.errno, "it is a symbolic link: a recording's files are read "
                                               "from the recording itself, never through a link") from None
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise BundleFileError(errno.EINVAL, "not a regular file")
            if st.st_size > limit:
                raise BundleFileError(errno.EFBIG, f"{st.st_size} bytes, more than a recording's file "
                                                   f"holds ({limit} at most)")
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read(limit + 1)
            if len(data) > limit:
                raise BundleFileError(errno.EFBIG, f"more than {limit} bytes")
            return data
        finally:
            os.close(fd)

    def close(self):
        os.close(self.fd)


def _read_json(bundle: _Bundle, name: str, limit: int):
    """The parsed file; raises ValueError naming the line of what is wrong."""
    data = bundle.read(name, limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(f"line {line}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"line {e.lineno}: not valid JSON ({e.msg}); truncated?") from None
    except RecursionError:
        raise ValueError("values nested too deeply to be a recording") from None


def _shown(value) -> str:
    """A value for a message: containers by their kind only (one may be nested deeply)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return json.dumps(value)[:60]


def _need(value, types, where: str, what: str):
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        raise ValueError(f"{where} should be {what}, found {_shown(value)}")
    return value


_STR, _OPT_STR, _NUM = (str,), (str, type(None)), (int, float)
_OPT_NUM = (int, float, type(None))


def _site(doc) -> Site:
    _need(doc, (dict,), "the file", "an object")
    d = _need(doc.get("site"), (dict,), "'site'", "an object")
    for key, types, what in [("kind", _STR, "text"), ("name", _STR, "text"), ("stage", _STR, "text"),
                             ("root", _OPT_STR, "a path or null"), ("context_dir", _OPT_STR, "a path or null"),
                             ("first_hive", (int,), "a number"), ("separate_repository", (bool,), "true or false"),
                             ("no_format", (bool,), "true or false"), ("drbd_device_map", (dict,), "an object")]:
        if key in d:
            _need(d[key], types, f"site.{key}", what)
    unknown = set(d) - set(Site.__dataclass_fields__)
    if unknown:
        raise ValueError(f"site has keys this version does not know: {', '.join(sorted(unknown))}")
    if d.get("kind") not in ("hive", "hosts", "local"):
        raise ValueError(f"site.kind should be hive, hosts or local, found {_shown(d.get('kind'))}")
    for vol, minor in d.get("drbd_device_map", {}).items():
        _need(minor, (int,), f"site.drbd_device_map.{vol}", "a number")
    servers = _need(d.get("servers"), (list,), "site.servers", "a list")
    names = set()
    for i, srv in enumerate(servers):
        where = f"site.servers[{i}]"
        _need(srv, (dict,), where, "an object")
        name = _need(srv.get("name"), _STR, f"{where}.name", "text")
        # the name becomes a file name of the recording: host-<name>.json, in this directory
        if not name or "/" in name or "\0" in name or name.startswith(".") or name in names:
            raise ValueError(f"{where}.name {json.dumps(name)} is not a server name (or repeats one)")
        names.add(name)
        roles = _need(srv.get("roles"), (list,), f"{where}.roles", "a list")
        for r in roles:
            _need(r, _STR, f"{where}.roles", "a list of text")
        _need(srv.get("spec"), _STR, f"{where}.spec", "text")
        _need(srv.get("ssh_config"), _OPT_STR, f"{where}.ssh_config", "a path or null")
    site = Site.from_dict({k: v for k, v in d.items() if k != "recorded"})   # said beside "site"
    # its paths are the recorded site's: a replay reads no file of this machine a bundle names
    # and runs none of its code (its root's health/ checks, conftest.py), and OpenSSH's errors
    # about a file it was pointed at would quote that file's lines
    site.recorded = _recorded(doc.get("recorded"), site.root)
    site.root = site.context_dir = None
    for server in site.servers:
        server.ssh_config = None
    return site


def _recorded(value, root: str | None) -> dict:
    """When and by which version the recording was made (older recordings do not say), and the
    site's root as text, for the commands its operator would type (never a path read here)."""
    value = _need(value if value is not None else {}, (dict,), "'recorded'", "an object")
    at = _need(value.get("at"), _OPT_NUM, "recorded.at", "a time (seconds since 1970) or null")
    by = _need(value.get("by"), _OPT_STR, "recorded.by", "text or null")
    return {"at": float(at) if at else None, "by": by, "site_root": root}


def _host(doc, server: str, output_max: int) -> HostFacts:
    _need(doc, (dict,), "the file", "an object")
    if doc.get("server") != server:
        raise ValueError(f"'server' is {_shown(doc.get('server'))}, expected {json.dumps(server)}")
    _need(doc.get("unreachable"), _OPT_STR, "'unreachable'", "text or null")
    for key in ("gathered_at", "seconds"):
        _need(doc.get(key, 0.0), _NUM, f"'{key}'", "a number")
    _need(doc.get("clock_window"), _OPT_NUM, "'clock_window'", "a number or null")
    for name in _need(doc.get("sections"), (list, type(None)), "'sections'", "a list of section names") or ():
        _need(name, _STR, "'sections'", "a list of section names")
    results = _need(doc.get("results"), (dict,), "'results'", "an object")
    for name, r in results.items():
        where = f"results.{name}"
        _need(r, (dict,), where, "an object")
        if r.get("name") != name:
            raise ValueError(f"{where}.name should be {json.dumps(name)}")
        for key in ("command", "stdout", "stderr"):
            _need(r.get(key), _STR, f"{where}.{key}", "text")
        _need(r.get("rc"), (int,), f"{where}.rc", "a number")
        _need(r.get("unreadable", ""), _STR, f"{where}.unreadable", "text")
        unknown = set(r) - set(CommandResult.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{where} has keys this version does not know: {', '.join(sorted(unknown))}")
    facts = HostFacts.from_dict(doc)
    for r in facts.results.values():     # the cap a live run holds every output to
        if len(r.stdout) > output_max and not r.unreadable:
            r.stdout, r.unreadable = "", (f"output too large ({len(r.stdout)} characters; "
                                          f"section_output_max is {output_max} bytes)")
    return facts


def load(directory: str, output_max: int = OUTPUT_MAX) -> tuple[Site, dict[str, HostFacts]]:
    """A recording: site.json that cannot be read is a usage error naming the file and what is
    wrong; a host-<name>.json that cannot be read makes that server unreachable with the reason,
    and the others are checked."""
    meta = Path(directory) / "site.json"
    try:
        bundle = _Bundle(directory)
    except OSError as e:
        raise InventoryError(directory, f"cannot read the recording: {e.strerror}") from None
    try:
        try:
            doc = _read_json(bundle, "site.json", SITE_FILE_MAX)
        except FileNotFoundError:
            raise InventoryError(meta, "not found: not a hive-health recording (made with --record)") from None
        except OSError as e:
            raise InventoryError(meta, f"cannot read: {e.strerror}") from None
        except ValueError as e:
            raise InventoryError(meta, f"broken recording: {e}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else None
            raise InventoryError(meta, f"recording format {_shown(found) if isinstance(found, (dict, list)) else repr(found)}, this version reads {FORMAT}")
        try:
            site = _site(doc)
        except ValueError as e:
            raise InventoryError(meta, f"broken recording: {e}") from None
        facts = {server.name: _host_facts(bundle, server.name, output_max) for server in site.servers}
    finally:
        bundle.close()
    times = [f.gathered_at for f in facts.values() if f.gathered_at]
    if site.recorded["at"] is None and times:      # an older recording: when its servers were asked
        site.recorded["at"] = min(times)
    return site, facts


def _host_facts(bundle: _Bundle, server: str, output_max: int) -> HostFacts:
    """The server's recorded facts, else the server unreachable with why its file cannot be read."""
    name = f"host-{server}.json"
    try:
        return _host(_read_json(bundle, name, HOST_FILES_PER_OUTPUT * output_max), server, output_max)
    except FileNotFoundError:
        return HostFacts(server, unreachable="not in the recording")
    except UnicodeError:
        return HostFacts(server, unreachable=f"recording {name}: its name is not a file name here")
    except OSError as e:
        return HostFacts(server, unreachable=f"recording {name}: cannot read: {e.strerror}")
    except ValueError as e:
        return HostFacts(server, unreachable=f"recording {name} is broken: {e}")
