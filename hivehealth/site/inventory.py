"""Finding the servers of a site.

Order: explicit testinfra options win; this machine when asked for (--local); else the
hive-builder project at --hive-root, else the nearest one at or above the current directory;
nothing found is an error. A hive project is read exactly as `hive ssh` reads it: the stage from
.hive/persistents.yml, the context dir .hive/<stage>/, the servers from the `Host` lines of its
ssh_config in order (the last one is the repository server).
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hivehealth.site import ssh_config
from hivehealth.site.bounded_yaml import BoundedLoader, YamlLimitError, read_bytes

STAGE_PREFIX = {"private": "p-", "staging": "s-", "production": ""}

HIVE = "hive"
REPOSITORY = "repository"
FIRST_HIVE = "first_hive"


class InventoryError(Exception):
    """A problem with the site's files: message names the file (and line) and the problem."""

    def __init__(self, path, problem: str, line: int | None = None):
        self.path = str(path)
        self.problem = problem
        self.line = line
        super().__init__(f"{self.path}{f', line {line}' if line else ''}: {problem}")


class _Mapping(dict):
    """A YAML mapping that remembers the line of each of its keys."""
    lines: dict


class _LineLoader(BoundedLoader):
    pass


def _construct_map(loader, node):
    data = _Mapping()
    data.lines = {}
    yield data
    data.update(loader.construct_mapping(node))
    for key_node, _ in node.value:
        try:
            data.lines[loader.construct_object(key_node)] = key_node.start_mark.line + 1
        except TypeError:     # an unhashable key: construct_mapping has refused it already
            pass


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def line_of(mapping, key) -> int | None:
    return getattr(mapping, "lines", {}).get(key)


def read_utf8(path: Path) -> str:
    """The file's text; bytes that are not UTF-8 are an error naming their line, a file larger
    than a site file holds is not read."""
    try:
        data = read_bytes(path)
    except YamlLimitError as e:
        raise InventoryError(path, e.problem) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InventoryError(path, f"not UTF-8 text (byte 0x{data[e.start]:02x})",
                             data.count(b"\n", 0, e.start) + 1) from None


@dataclass
class Server:
    name: str                      # full name as in ssh_config (s-hive0.pdns) or a --hosts spec
    roles: frozenset = frozenset()
    spec: str = ""                 # how to reach it: "hive" (ssh_config), "local", or a testinfra spec
    ssh_config: str | None = None  # path of the ssh_config that defines it

    @property
    def short(self) -> str:
        return self.name.split(".")[0]

    @property
    def is_hive(self) -> bool:
        return HIVE in self.roles

    @property
    def is_repository(self) -> bool:
        return REPOSITORY in self.roles

    def to_dict(self) -> dict:
        return {"name": self.name, "roles": sorted(self.roles), "spec": self.spec,
                "ssh_config": self.ssh_config}

    @classmethod
    def from_dict(cls, d: dict) -> "Server":
        return cls(d["name"], frozenset(d["roles"]), d["spec"], d["ssh_config"])


@dataclass
class Site:
    kind: str                      # "hive", "hosts" (explicit testinfra options) or "local"
    servers: list[Server]
    name: str = ""
    stage: str = ""
    root: str | None = None
    context_dir: str | None = None
    first_hive: int = 0
    separate_repository: bool = True
    drbd_device_map: dict = field(default_factory=dict)
    no_format: bool = False
    # a replayed recording: {"at": epoch or None, "by": "hive-health <version>" or None,
    # "site_root": the recorded site's root, as text only}
    recorded: dict | None = None

    @property
    def hives(self) -> list[Server]:
        return [s for s in self.servers if s.is_hive]

    @property
    def repository(self) -> Server | None:
        return next((s for s in self.servers if s.is_repository), None)

    def server(self, name: str) -> Server:
        for s in self.servers:
            if name in (s.name, s.short):
                return s
        raise KeyError(name)

    def describe(self) -> str:
        if self.kind == "hive":
            return f"hive site {self.name or '?'} (stage {self.stage})" + (f" at {self.root}" if self.root else "")
        if self.kind == "hosts":
            return "hosts given on the command line"
        return "the local machine"

    def headline(self) -> str:
        """What the run checked, as the report and the terminal name it first."""
        if self.recorded is None:
            return "this machine, not a hive site" if self.kind == "local" else self.describe()
        at, by = self.recorded.get("at"), self.recorded.get("by")
        when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(at)) if at else "at an unknown date"
        return f"replay of a recording made {when} on {self.describe()} by {by or 'hive-health (unknown version)'}"

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["servers"] = [s.to_dict() for s in self.servers]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Site":
        d = dict(d)
        d["servers"] = [Server.from_dict(s) for s in d["servers"]]
        return cls(**d)


def _load_yaml(path: Path, required: bool):
    if not path.exists():
        if required:
            raise InventoryError(path, "file not found")
        return None
    try:
        data = yaml.load(read_utf8(path), Loader=_LineLoader)
    except YamlLimitError as e:
        raise InventoryError(path, e.problem, e.line) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InventoryError(path, f"not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    except OSError as e:
        raise InventoryError(path, f"cannot read: {e.strerror}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InventoryError(path, f"expected a mapping at the top, found {type(data).__name__}")
    return data


def _per_stage(persist: dict, key: str, stage: str, path: Path, default=None):
    """Value of a persisted variable: persistents.yml stores `var: {global|<stage>: value}`."""
    return _per_stage_at(persist, key, stage, path, default)[0]


def _per_stage_at(persist: dict, key: str, stage: str, path: Path, default=None):
    """(value, line of the value's key or None)."""
    entry = persist.get(key)
    if entry is None:
        return default, line_of(persist, key)
    if not isinstance(entry, dict):
        raise InventoryError(path, f"'{key}' should map scopes (global/<stage>) to values",
                             line_of(persist, key))
    scope = stage if stage in entry else "global"
    return entry.get(scope, default), line_of(entry, scope) or line_of(persist, key)


def _device_map(persist: dict, stage: str, path: Path) -> dict[str, int]:
    """drbd_device_map: volume name (text) -> DRBD minor (a number)."""
    raw, line = _per_stage_at(persist, "drbd_device_map", stage, path, {})
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InventoryError(path, f"drbd_device_map should map volume names to minors, found "
                                   f"{type(raw).__name__}", line)
    out = {}
    for vol, minor in raw.items():
        where = line_of(raw, vol) or line
        if not isinstance(vol, str) or not vol:
            raise InventoryError(path, f"drbd_device_map key {vol!r} should be a volume name, found "
                                       f"{type(vol).__name__}", where)
        if isinstance(minor, bool) or not (isinstance(minor, int) or str(minor).isdigit()):
            raise InventoryError(path, f"drbd_device_map: minor of {vol} should be a number, found {minor!r}",
                                 where)
        out[vol] = int(minor)
    return out


def is_hive_project(root: Path) -> bool:
    return (root / ".hive").is_dir() or (root / "inventory" / "hive.yml").exists()


def host_lines(ssh_config_text: str, path="ssh_config") -> list[str]:
    """Host names in file order (paramiko's get_hostnames() is a set and loses the order)."""
    names = []
    for n, line in enumerate(ssh_config_text.splitlines(), 1):
        m = re.match(r"^\s*Host(?:\s*=\s*|\s+)(.+)$", line, re.I)
        if not m:
            continue
        try:
            m.group(1).encode("utf-8")
        except UnicodeEncodeError:
            raise InventoryError(path, "a Host name that is not UTF-8 text", n) from None
        names.extend(h for h in m.group(1).split() if not any(c in h for c in "*?!"))
    return names


def _ssh_hosts(path, empty: str) -> list[str]:
    """The Host entries of an ssh_config, in order, after checking that OpenSSH (or paramiko,
    without it) can read the file for them: a broken file is the site's problem."""
    try:
        names = host_lines(ssh_config.read_text(path), path)
    except OSError as e:
        raise InventoryError(path, f"cannot read: {e.strerror}") from None
    if not names:
        raise InventoryError(path, f"no 'Host' entries: {empty}")
    try:
        ssh_config.check(str(path), names)
    except ssh_config.ConfigError as e:
        raise InventoryError(e.path, e.problem, e.line) from None
    except OSError as e:
        raise InventoryError(path, f"cannot read: {e.strerror}") from None
    return names


def _inventory_facts(root: Path, stage: str) -> tuple[str, bool | None, bool]:
    """(hive name, separate_repository or None if unknown, stage known) from inventory/hive.yml."""
    path = root / "inventory" / "hive.yml"
    inv = _load_yaml(path, required=False)
    if inv is None:
        return "", None, True
    stages = inv.get("stages")
    if stages is None:
        return str(inv.get("name", "")), None, True
    if not isinstance(stages, dict):
        raise InventoryError(path, "'stages' should be a mapping of stage name to settings")
    if stage not in stages:
        raise InventoryError(path, f"stage '{stage}' is not defined (stages: {', '.join(stages) or 'none'})")
    settings = stages[stage] or {}
    if not isinstance(settings, dict):
        raise InventoryError(path, f"stage '{stage}' should be a mapping of settings")
    return str(inv.get("name", "")), bool(settings.get("separate_repository", True)), True


def load_hive_project(root: str | os.PathLike, stage: str | None = None) -> Site:
    root = Path(root).resolve()
    persist_path = root / ".hive" / "persistents.yml"
    persist = _load_yaml(persist_path, required=False) or {}
    if stage is None:
        stage = _per_stage(persist, "stage", "global", persist_path, "private")
    if not isinstance(stage, str) or not stage:
        raise InventoryError(persist_path, f"stage.global should be a stage name, found {stage!r}")
    name, separate, _ = _inventory_facts(root, stage)

    ctx, line = _per_stage_at(persist, "context_dir", stage, persist_path)
    if ctx is not None and (not isinstance(ctx, str) or not ctx.strip()):
        raise InventoryError(persist_path, f"context_dir should be a directory path, found {ctx!r}", line)
    ctx = Path(ctx or root / ".hive" / stage)
    ctx = ctx if ctx.is_absolute() else root / ctx
    ssh_config = ctx / "ssh_config"
    if not ssh_config.exists():
        raise InventoryError(ssh_config, f"file not found (is stage '{stage}' built? run hive build-infra)")
    names = _ssh_hosts(ssh_config, "the site has no servers")

    first_hive, fh_line = _per_stage_at(persist, "first_hive", stage, persist_path, 0)
    try:
        first_hive = int(first_hive)   # `hive set first_hive 1` stores the string "1"
    except (TypeError, ValueError):
        raise InventoryError(persist_path, f"first_hive should be a server index, found {first_hive!r}",
                             fh_line) from None
    if separate is None:
        separate = len(names) > 1
    hive_names = names[:-1] if separate else names
    if not hive_names:
        raise InventoryError(ssh_config, "only a repository server is listed: the site has no hives")
    if not 0 <= first_hive < len(hive_names):
        raise InventoryError(persist_path, f"first_hive {first_hive} is outside the {len(hive_names)} hives",
                             fh_line)

    servers = []
    for i, n in enumerate(names):
        roles = set()
        if n in hive_names:
            roles.add(HIVE)
            if i == first_hive:
                roles.add(FIRST_HIVE)
        if i == len(names) - 1:
            roles.add(REPOSITORY)
        servers.append(Server(n, frozenset(roles), "hive", str(ssh_config)))

    device_map = _device_map(persist, stage, persist_path)
    no_format = _per_stage(persist, "no_format", "global", persist_path, False)
    if not name and names:
        name = names[0].split(".", 1)[1] if "." in names[0] else ""
    return Site("hive", servers, name=name, stage=stage, root=str(root), context_dir=str(ctx),
                first_hive=first_hive, separate_repository=separate,
                drbd_device_map=device_map, no_format=str(no_format).lower() == "true")


def explicit_hosts(specs: list[str], ssh_config: str | None, connection: str | None) -> Site:
    """Hosts from testinfra's --hosts: every one is checked for everything (roles all)."""
    servers = []
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        if "://" not in spec and connection:
            spec = f"{connection}://{spec}"
        name = spec.split("://", 1)[-1].split("@")[-1].split(":")[0].split("?")[0] or spec
        servers.append(Server(name, frozenset({HIVE, REPOSITORY}), spec, ssh_config))
    if not servers:
        raise InventoryError("--hosts", "empty host list")
    return Site("hosts", servers)


def from_ssh_config(path: str) -> Site:
    """--ssh-config alone: its Host entries in order, read like a hive context's ssh_config
    (the last one is the repository server, the others hives, the first one first_hive)."""
    names = _ssh_hosts(path, "no servers to check")
    servers = []
    for i, n in enumerate(names):
        last = i == len(names) - 1 and len(names) > 1
        roles = {REPOSITORY} if last else {HIVE} | ({FIRST_HIVE} if i == 0 else set())
        servers.append(Server(n, frozenset(roles), "hive", str(Path(path).resolve())))
    return Site("hive", servers, context_dir=str(Path(path).resolve().parent))


def local_site() -> Site:
    import socket
    return Site("local", [Server(socket.gethostname(), frozenset({"local"}), "local")])


def find_project(start: Path) -> Path | None:
    """The nearest hive project at or above `start` (a directory holding .hive/, as `hive`
    itself finds its project), so that SITE/inventory/ means SITE."""
    here = Path(start).resolve()
    for d in (here, *here.parents):
        if is_hive_project(d):
            return d
    return None


NO_SITE = ("no hive project here or above it (a directory holding .hive/): run hive-health inside "
           "the project, or name it: hive-health --hive-root DIR (or hive-health DIR); "
           "--local checks this machine instead")


def discover(hosts: str | None, ssh_config: str | None, connection: str | None,
             hive_root: str | None, stage: str | None, local: bool = False,
             start: str | os.PathLike | None = None) -> Site:
    """The site this run checks: hosts or an ssh_config given on the command line, this machine
    when asked for (`local`, or testinfra's --connection local), the hive project at hive_root,
    else the nearest one at or above `start` (the current directory). Nothing found is an
    error: checking this machine instead is never a silent fallback."""
    if hosts or (connection and connection != "local"):
        specs = (hosts or "").split(",")
        if not hosts and connection:
            raise InventoryError("--connection", f"'{connection}' needs --hosts to say which hosts")
        return explicit_hosts(specs, ssh_config, connection)
    if local or connection == "local":
        return local_site()
    if ssh_config:
        return from_ssh_config(ssh_config)
    if hive_root:
        root = Path(hive_root)
        if not root.is_dir():
            raise InventoryError(root, "hive root directory not found")
        if not is_hive_project(root):
            raise InventoryError(root, "not a hive-builder project (no .hive/ or inventory/hive.yml)")
        return load_hive_project(root, stage)
    here = Path(start or os.getcwd())
    root = find_project(here)
    if root is None:
        raise InventoryError(here, NO_SITE)
    return load_hive_project(root, stage)
