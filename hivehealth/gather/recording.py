"""--record DIR saves what every server answered; --replay DIR checks such a recording without
any server (a support bundle from another site, or test data). Recordings hold no secrets:
outputs go through the same redaction as every output (JSON outputs as JSON, so they still
replay), and no key or password file is read. The files are private (hivehealth.safe_write)."""
from __future__ import annotations

import json
from pathlib import Path

from hivehealth.gather.probe import CommandResult, HostFacts
from hivehealth.site.inventory import InventoryError, Site
from hivehealth.safe_write import private_dir, write_atomic
from hivehealth.redact import redact_output, redact_tree

FORMAT = 1


def save(directory: str, site: Site, facts: dict[str, HostFacts]):
    out = private_dir(directory)
    write_atomic(out / "site.json", json.dumps({"format": FORMAT, "site": site.to_dict()}, indent=1))
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


def _read_json(path: Path):
    """The parsed file; raises ValueError naming the line of what is wrong."""
    data = path.read_bytes()
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
        raise ValueError(_TOO_DEEP) from None


_TOO_DEEP = "JSON nested too deeply to be a recording"


def _need(value, types, where: str, what: str):
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        raise ValueError(f"{where} should be {what}, found {json.dumps(value)[:60]}")
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
        raise ValueError(f"site.kind should be hive, hosts or local, found {json.dumps(d.get('kind'))}")
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
    site = Site.from_dict(d)
    # its paths are the recorded site's: a replay reads no file of this machine a bundle names
    # (OpenSSH's errors about a file it was pointed at would quote that file's lines)
    for server in site.servers:
        server.ssh_config = None
    return site


def _host(doc, server: str) -> HostFacts:
    _need(doc, (dict,), "the file", "an object")
    if doc.get("server") != server:
        raise ValueError(f"'server' is {json.dumps(doc.get('server'))[:60]}, expected {json.dumps(server)}")
    _need(doc.get("unreachable"), _OPT_STR, "'unreachable'", "text or null")
    for key in ("gathered_at", "seconds"):
        _need(doc.get(key, 0.0), _NUM, f"'{key}'", "a number")
    _need(doc.get("clock_window"), _OPT_NUM, "'clock_window'", "a number or null")
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
    return HostFacts.from_dict(doc)


def load(directory: str) -> tuple[Site, dict[str, HostFacts]]:
    """A recording: site.json that cannot be read is a usage error naming the file and what is
    wrong; a host-<name>.json that cannot be read makes that server unreachable with the reason,
    and the others are checked."""
    src = Path(directory)
    meta = src / "site.json"
    try:
        doc = _read_json(meta)
    except FileNotFoundError:
        raise InventoryError(meta, "not found: not a hive-health recording (made with --record)") from None
    except OSError as e:
        raise InventoryError(meta, f"cannot read: {e.strerror}") from None
    except ValueError as e:
        raise InventoryError(meta, f"broken recording: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise InventoryError(meta, f"recording format {found!r}, this version reads {FORMAT}")
    try:
        site = _site(doc)
    except ValueError as e:
        raise InventoryError(meta, f"broken recording: {e}") from None
    except RecursionError:      # a value nested nearly as deep as the decoder follows
        raise InventoryError(meta, f"broken recording: {_TOO_DEEP}") from None
    facts = {}
    for server in site.servers:
        path = src / f"host-{server.name}.json"
        try:
            facts[server.name] = _host(_read_json(path), server.name)
        except FileNotFoundError:
            facts[server.name] = HostFacts(server.name, unreachable="not in the recording")
        except OSError as e:
            facts[server.name] = HostFacts(server.name, unreachable=f"recording {path.name}: cannot read: {e.strerror}")
        except ValueError as e:
            facts[server.name] = HostFacts(server.name, unreachable=f"recording {path.name} is broken: {e}")
        except RecursionError:
            facts[server.name] = HostFacts(server.name, unreachable=f"recording {path.name} is broken: {_TOO_DEEP}")
    return site, facts
