"""Docker CLI output: `--format json` (NDJSON, `{{json .}}`, or an array) and table fallbacks."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from . import ParseError, json_loads
from . import _json


def parse_json_lines(text: str, what: str = "docker --format json") -> list[dict]:
    """One object per line (`--format json` / `{{json .}}`), or one JSON array of objects."""
    items = _json.load_lines(text, what)
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ParseError(what, f"item {n} is {type(item).__name__}, expected an object")
    return items


def _str(obj: dict, key: str, what: str, required: bool = True) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise ParseError(what, f"object without {key!r}: {sorted(obj)}")
        return ""
    if not isinstance(value, str):
        raise ParseError(what, f"{key!r} is {value!r}, expected a string")
    return value


# --- docker node ls ---------------------------------------------------------------------------

NODE_WHAT = "docker node ls"


@dataclass
class Node:
    id: str
    hostname: str
    status: str             # Ready, Down, Unknown, Disconnected
    availability: str       # Active, Pause, Drain
    manager_status: str     # Leader, Reachable, Unreachable, or "" for a worker
    self: bool
    engine_version: str


def parse_nodes(text: str) -> list[Node]:
    """`docker node ls --format json`."""
    out = []
    for o in parse_json_lines(text, NODE_WHAT + " --format json"):
        what = NODE_WHAT + " --format json"
        is_self = o.get("Self", False)
        if isinstance(is_self, str):    # {{json .}} of older CLIs gives "true"/"false"
            is_self = is_self.strip().lower() == "true"
        out.append(Node(
            id=_str(o, "ID", what).rstrip(" *"), hostname=_str(o, "Hostname", what),
            status=_str(o, "Status", what), availability=_str(o, "Availability", what),
            manager_status=_str(o, "ManagerStatus", what, required=False), self=bool(is_self),
            engine_version=_str(o, "EngineVersion", what, required=False)))
    return out


def parse_node_ls_table(text: str) -> list[Node]:
    """`docker node ls` default table: `*` after the ID marks this node; a worker's MANAGER
    STATUS cell is blank; ENGINE VERSION is absent before Docker 17.06."""
    rows = parse_table(text, ("ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS",
                              "ENGINE VERSION"), NODE_WHAT, optional=("ENGINE VERSION",))
    out = []
    for r in rows:
        node_id, star = r["ID"], r["ID"].endswith("*")
        out.append(Node(id=node_id.rstrip(" *"), hostname=r["HOSTNAME"], status=r["STATUS"],
                        availability=r["AVAILABILITY"], manager_status=r["MANAGER STATUS"],
                        self=star, engine_version=r.get("ENGINE VERSION", "")))
    return out


# --- docker service ls ------------------------------------------------------------------------

SERVICE_WHAT = "docker service ls"
# "1/1", "0/3", "2/2 (max 1 per node)", and for jobs "1/1 (3/5 completed)": running/desired
# (completed/total), docker/cli cli/command/service/formatter.go serviceContext.Replicas
_REPLICAS = re.compile(r"^(\d+)/(\d+)(?:\s+\((.*)\))?$")
_COMPLETED = re.compile(r"^(\d+)/(\d+) completed$")
JOB_MODES = ("replicated job", "global job")


@dataclass
class Service:
    id: str
    name: str
    mode: str                       # replicated, global, replicated-job, global-job
    replicas_running: int | None    # None: REPLICAS not in the n/m form
    replicas_desired: int | None
    image: str
    replicas: str = ""              # the raw REPLICAS cell
    ports: str = ""
    completed: int | None = None    # jobs: tasks completed in the current job iteration
    total: int | None = None        # jobs: completions the job needs

    @property
    def is_job(self) -> bool:
        """A job runs to completion (docker CLI "replicated job"/"global job"; the API's
        mode filter spells them replicated-job/global-job)."""
        return self.mode.replace("-", " ") in JOB_MODES


def parse_replicas(value: str) -> tuple[int | None, int | None]:
    """Running and desired from a REPLICAS cell; (None, None) when it has another form."""
    m = _REPLICAS.match(value.strip())
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def parse_completed(value: str) -> tuple[int | None, int | None]:
    """A job's completed and total from a REPLICAS cell ("0/1 (3/5 completed)");
    (None, None) when the cell has no such part."""
    m = _REPLICAS.match(value.strip())
    c = _COMPLETED.match(m.group(3) or "") if m else None
    return (int(c.group(1)), int(c.group(2))) if c else (None, None)


def _service(o: dict, what: str) -> Service:
    replicas = _str(o, "Replicas", what, required=False)
    running, desired = parse_replicas(replicas)
    completed, total = parse_completed(replicas)
    return Service(id=_str(o, "ID", what), name=_str(o, "Name", what), mode=_str(o, "Mode", what),
                   replicas_running=running, replicas_desired=desired,
                   image=_str(o, "Image", what, required=False), replicas=replicas,
                   ports=_str(o, "Ports", what, required=False), completed=completed, total=total)


def parse_services(text: str) -> list[Service]:
    """`docker service ls --format json`."""
    what = SERVICE_WHAT + " --format json"
    return [_service(o, what) for o in parse_json_lines(text, what)]


def parse_service_ls_table(text: str) -> list[Service]:
    """`docker service ls` default table (PORTS may be absent or blank)."""
    rows = parse_table(text, ("ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"), SERVICE_WHAT,
                       optional=("PORTS",))
    return [_service({k.title(): v for k, v in r.items()} | {"ID": r["ID"]}, SERVICE_WHAT) for r in rows]


# --- docker service ps ------------------------------------------------------------------------

TASK_WHAT = "docker service ps"


@dataclass
class Task:
    id: str
    name: str               # <service>.<slot> (or <service>.<node id> for global services)
    image: str
    node: str               # short host name
    desired_state: str      # Running, Shutdown, Ready, ...
    current_state: str      # e.g. "Rejected 3 seconds ago"
    error: str              # e.g. failed to mount local volume: ... (quotes of the table removed)
    ports: str

    @property
    def service(self) -> str:
        return service_of(self.name)

    @property
    def state(self) -> str:
        """First word of current_state: Running, Rejected, Failed, Shutdown, ..."""
        return self.current_state.split(" ", 1)[0]


def service_of(name: str) -> str:
    """The swarm service a task or its container is named after: `ldap.1` (task of slot 1),
    `ldap.<node id>` (a global service's task), `ldap.1.<task id>` (the task's container, as
    `docker ps` and `docker stats` name it). Swarm refuses a service name that is not a DNS label
    (swarmkit controlapi validateAnnotations), so the service is what comes before the first dot."""
    return name.split(".", 1)[0]


def _task(o: dict, what: str) -> Task:
    error = _str(o, "Error", what, required=False)
    if len(error) >= 2 and error[0] == error[-1] == '"':
        error = error[1:-1]
    # table history rows are indented as " \_ name"; JSON gives the bare name
    name = re.sub(r"^\s*\\_\s*", "", _str(o, "Name", what))
    return Task(id=_str(o, "ID", what), name=name, image=_str(o, "Image", what, required=False),
                node=_str(o, "Node", what, required=False),
                desired_state=_str(o, "DesiredState", what), current_state=_str(o, "CurrentState", what),
                error=error, ports=_str(o, "Ports", what, required=False))


def parse_tasks(text: str) -> list[Task]:
    """`docker service ps --no-trunc --format json`."""
    what = TASK_WHAT + " --format json"
    return [_task(o, what) for o in parse_json_lines(text, what)]


def parse_service_ps_table(text: str) -> list[Task]:
    """`docker service ps [--no-trunc]` default table (the layout https://hive-builder.readthedocs.io/ja/latest/repair.html shows)."""
    rows = parse_table(text, ("ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE",
                              "ERROR", "PORTS"), TASK_WHAT)
    keys = {"DESIRED STATE": "DesiredState", "CURRENT STATE": "CurrentState"}
    return [_task({keys.get(k, k.title()): v for k, v in r.items()} | {"ID": r["ID"]}, TASK_WHAT)
            for r in rows]


_MOUNT_FAILED = re.compile(r"failed to mount local volume\b", re.I)
_DAMAGED_FS = re.compile(r"\b(invalid argument|structure needs cleaning)", re.I)


def local_volume_mount_failure(error: str) -> str | None:
    """The reason in a task's `failed to mount local volume: ...` error when it is one a damaged
    filesystem gives (`invalid argument`, `structure needs cleaning`, as XFS refuses the mount);
    None for any other error."""
    failed = _MOUNT_FAILED.search(error or "")
    if failed is None:
        return None
    reason = None
    for reason in _DAMAGED_FS.finditer(error, failed.end()):     # the last one: the innermost cause
        pass
    return reason.group(1) if reason else None


def parse_constraint(text: str) -> tuple[str, str, str] | None:
    """A service's placement constraint `<attr> ==|!= <value>` (`node.labels.zone == a`) as
    (attr, op, value); None when it is neither form."""
    for op in ("==", "!="):
        if op in text:
            attr, value = (x.strip() for x in text.split(op, 1))
            return attr, op, value
    return None


# --- docker volume inspect --------------------------------------------------------------------

VOLUME_WHAT = "docker volume inspect"


def parse_volume_inspect(text: str) -> list[dict]:
    """`docker volume inspect v1 v2 ...`: a JSON array of volume objects."""
    if not text.strip():
        return []
    data = _json.load(text, VOLUME_WHAT)
    if not isinstance(data, list) or not all(isinstance(v, dict) and "Name" in v for v in data):
        raise ParseError(VOLUME_WHAT, "expected a JSON array of volume objects with a Name")
    return data


def volume_device(vol: dict) -> str | None:
    """Options.device (e.g. /dev/drbd1 for a hive DRBD volume); None when not set."""
    options = vol.get("Options") or {}
    device = options.get("device") if isinstance(options, dict) else None
    return device or None


# --- tables -----------------------------------------------------------------------------------


def _column(header: str, name: str) -> int | None:
    """Where header `name` starts in a table's header line: the first place it stands between
    spaces (or the line's ends)."""
    at = header.find(name)
    while at >= 0:
        end = at + len(name)
        if (at == 0 or header[at - 1].isspace()) and (end == len(header) or header[end].isspace()):
            return at
        at = header.find(name, at + 1)
    return None


def parse_table(text: str, headers: tuple[str, ...], what: str,
                optional: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Rows of a docker CLI table as {HEADER: cell}.

    Docker's tabwriter pads every column to its widest cell, so a cell starts at its header's
    column: slicing at the header positions copes with blank cells (a worker's MANAGER STATUS)
    and with cells that contain spaces (`1/1 (3/5 completed)`, `Rejected 3 seconds ago`).
    """
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = []
    for h in headers:
        start = _column(header, h)
        if start is None:
            if h in optional:
                continue
            raise ParseError(what, f"table header has no {h!r} column: {header.strip()[:120]!r}")
        starts.append((start, h))
    starts.sort()
    rows = []
    for ln in lines[1:]:
        row = {}
        for i, (start, h) in enumerate(starts):
            end = starts[i + 1][0] if i + 1 < len(starts) else None
            if start > 0 and len(ln) > start and ln[start - 1] != " ":
                raise ParseError(what, f"row does not line up with the header at {h!r}: {ln.strip()[:120]!r}")
            row[h] = ln[start:end].strip()
        rows.append(row)
    return rows


# --- docker info / ps / node inspect ------------------------------------------------------------

def swarm_local_state(text: str):
    """`docker info --format '{{json .Swarm}}'`: LocalNodeState (active, inactive, pending, locked,
    error); what it printed instead (cut to 80 characters) when that is not the JSON object."""
    try:
        return json_loads(text).get("LocalNodeState")
    except (ValueError, AttributeError):
        return text.strip()[:80]


def service_using_volume(text: str, volume: str) -> str | None:
    """`docker ps --format '{{json .}}'`: the swarm service of the first container that mounts
    `volume` (its com.docker.swarm.service.name label); lines that are not JSON are passed over."""
    for line in text.splitlines():
        try:
            c = json_loads(line)
        except ValueError:
            continue
        if volume in str(c.get("Mounts", "")).split(","):
            return parse_labels(c.get("Labels")).get(SERVICE_LABEL)
    return None


SERVICE_LABEL = "com.docker.swarm.service.name"     # on every container of a swarm task


def parse_labels(raw) -> dict:
    """A container's labels as `docker ps --format json` prints them (`k=v,k=v`); a dict (a
    template that prints them as JSON) is taken as it is."""
    if isinstance(raw, dict):
        return raw
    out = {}
    for part in str(raw or "").split(","):
        k, sep, val = part.partition("=")
        if sep:
            out[k.strip()] = val
    return out


def container_services(text: str) -> dict[str, str]:
    """`docker ps --format json`: container name -> the swarm service it runs a task of
    (containers that are no swarm task are left out)."""
    out = {}
    for o in parse_json_lines(text, "docker ps --format json"):
        svc = parse_labels(o.get("Labels")).get(SERVICE_LABEL)
        if svc:
            for name in str(o.get("Names", "")).split(","):
                out[name.strip()] = svc
    return out


def parse_node_inspect(text: str) -> list[dict]:
    """`docker node inspect`: the node objects as docker prints them."""
    data = _json.load(text, "docker node inspect")
    if not isinstance(data, list):
        raise ParseError("docker node inspect", "expected a JSON array")
    return [n for n in data if isinstance(n, dict)]


def node_facts(text: str) -> list[dict]:
    """`docker node inspect`: hostname, id, role, labels, ready, active of every node."""
    out = []
    for n in parse_node_inspect(text):
        spec, status = n.get("Spec") or {}, n.get("Status") or {}
        out.append({"hostname": (n.get("Description") or {}).get("Hostname", ""),
                    "id": n.get("ID", ""), "role": spec.get("Role", ""),
                    "labels": spec.get("Labels") or {},
                    "ready": status.get("State") == "ready",
                    "active": spec.get("Availability") == "active"})
    return out


def parse_time(stamp: str | None) -> float | None:
    """Seconds since the epoch of docker's RFC 3339 UTC time with nanoseconds
    (`docker node inspect`'s UpdatedAt, "2026-11-29T01:02:03.123456789Z"), to the second; None
    when it is not one."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", stamp or "")
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
