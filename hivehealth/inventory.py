"""Finding the servers of a site.

Order: explicit testinfra options win; else a hive-builder project at --hive-root;
else the local machine. A hive project is read exactly as `hive ssh` reads it: the stage from
.hive/persistents.yml, the context dir .hive/<stage>/, the servers from the `Host` lines of its
ssh_config in order (the last one is the repository server).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

STAGE_PREFIX = {"private": "p-", "staging": "s-", "production": ""}

HIVE = "hive"
REPOSITORY = "repository"
FIRST_HIVE = "first_hive"


class InventoryError(Exception):
    """A problem with the site's files: message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


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
            return f"hive site {self.name or '?'} (stage {self.stage}) at {self.root}"
        if self.kind == "hosts":
            return "hosts given on the command line"
        return "the local machine"

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
        data = yaml.safe_load(path.read_text())
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
    entry = persist.get(key)
    if entry is None:
        return default
    if not isinstance(entry, dict):
        raise InventoryError(path, f"'{key}' should map scopes (global/<stage>) to values")
    return entry.get(stage, entry.get("global", default))


def is_hive_project(root: Path) -> bool:
    return (root / ".hive").is_dir() or (root / "inventory" / "hive.yml").exists()


def host_lines(ssh_config_text: str) -> list[str]:
    """Host names in file order (paramiko's get_hostnames() is a set and loses the order)."""
    names = []
    for m in re.finditer(r"^\s*Host\s+(.+)$", ssh_config_text, re.M | re.I):
        names.extend(n for n in m.group(1).split() if not any(c in n for c in "*?!"))
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

    ctx = _per_stage(persist, "context_dir", stage, persist_path) or root / ".hive" / stage
    ctx = Path(ctx) if Path(ctx).is_absolute() else root / ctx
    ssh_config = ctx / "ssh_config"
    if not ssh_config.exists():
        raise InventoryError(ssh_config, f"file not found (is stage '{stage}' built? run hive build-infra)")
    try:
        text = ssh_config.read_text()
    except OSError as e:
        raise InventoryError(ssh_config, f"cannot read: {e.strerror}") from None
    names = host_lines(text)
    if not names:
        raise InventoryError(ssh_config, "no 'Host' entries: the site has no servers")

    first_hive = _per_stage(persist, "first_hive", stage, persist_path, 0)
    try:
        first_hive = int(first_hive)   # `hive set first_hive 1` stores the string "1"
    except (TypeError, ValueError):
        raise InventoryError(persist_path, f"first_hive should be a server index, found {first_hive!r}") from None
    if separate is None:
        separate = len(names) > 1
    hive_names = names[:-1] if separate else names
    if not hive_names:
        raise InventoryError(ssh_config, "only a repository server is listed: the site has no hives")
    if not 0 <= first_hive < len(hive_names):
        raise InventoryError(persist_path, f"first_hive {first_hive} is outside the {len(hive_names)} hives")

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

    device_map = _per_stage(persist, "drbd_device_map", stage, persist_path, {}) or {}
    if not isinstance(device_map, dict):
        raise InventoryError(persist_path, "drbd_device_map should map volume names to minors")
    no_format = _per_stage(persist, "no_format", "global", persist_path, False)
    if not name and names:
        name = names[0].split(".", 1)[1] if "." in names[0] else ""
    return Site("hive", servers, name=name, stage=stage, root=str(root), context_dir=str(ctx),
                first_hive=first_hive, separate_repository=separate,
                drbd_device_map=dict(device_map), no_format=str(no_format).lower() == "true")


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
    try:
        names = host_lines(Path(path).read_text())
    except OSError as e:
        raise InventoryError(path, f"cannot read: {e.strerror}") from None
    if not names:
        raise InventoryError(path, "no 'Host' entries: no servers to check")
    servers = []
    for i, n in enumerate(names):
        last = i == len(names) - 1 and len(names) > 1
        roles = {REPOSITORY} if last else {HIVE} | ({FIRST_HIVE} if i == 0 else set())
        servers.append(Server(n, frozenset(roles), "hive", str(Path(path).resolve())))
    return Site("hive", servers, context_dir=str(Path(path).resolve().parent))


def local_site() -> Site:
    import socket
    return Site("local", [Server(socket.gethostname(), frozenset({"local"}), "local")])


def discover(hosts: str | None, ssh_config: str | None, connection: str | None,
             hive_root: str | None, stage: str | None) -> Site:
    if hosts or (connection and connection != "local"):
        specs = (hosts or "").split(",")
        if not hosts and connection:
            raise InventoryError("--connection", f"'{connection}' needs --hosts to say which hosts")
        return explicit_hosts(specs, ssh_config, connection)
    if connection == "local":
        return local_site()
    if ssh_config:
        return from_ssh_config(ssh_config)
    root = Path(hive_root or os.getcwd())
    if hive_root and not root.is_dir():
        raise InventoryError(root, "hive root directory not found")
    if is_hive_project(root):
        return load_hive_project(root, stage)
    if hive_root:
        raise InventoryError(root, "not a hive-builder project (no .hive/ or inventory/hive.yml)")
    return local_site()
