"""Runbook 7.9: a server lost for good."""
import json
import re
import shlex
import time
from datetime import datetime, timezone

from hivehealth.checks.test_swarm import node_state
from hivehealth.judge.cluster import manager_answers, node_name
from hivehealth.remedy.plan import DESTRUCTIVE, Plan, Step, remedy


@remedy(node_state, tier=DESTRUCTIVE)
def remove_down_node(ctx, name, verdict):
    """`docker node demote` + `docker node rm` from a surviving manager, then the mother-side
    rebuild. Guards: Down longer than node_down_grace, unreachable over SSH, quorum kept."""
    seen = verdict.data.get("seen") or {}
    first = next(iter(seen.values()), None)
    if not first or first[0] != "Down":
        return None
    node = _inspect(ctx, name)
    if node is None:
        return Plan(refused=f"no manager could inspect node {name}")
    grace = ctx.number("node_down_grace")
    since = _age(node.get("UpdatedAt"))
    if since is None or since < grace:
        return Plan(refused=f"{name} has been Down for {since or 0:.0f} s, less than node_down_grace {grace:g} s; "
                            f"it may be rebooting")
    server = next((s for s in ctx.site.servers if s.short == name), None)
    if server is not None and not ctx.host(server).unreachable:
        return Plan(refused=f"{server.name} still answers over SSH: repair its docker instead of removing it")
    managers, reachable = _quorum(ctx)
    if reachable < managers // 2 + 1:
        return Plan(refused=f"only {reachable} of {managers} managers are reachable: swarm has lost quorum, "
                            f"demote/rm would fail (the runbook does not cover this case)")
    survivor = manager_answers(ctx, "nodes")[0][0]
    index = ctx.site.first_hive
    if ctx.site.hives[index].short == name:      # the lost node was #1: the next survivor takes over
        index = next(i for i, s in enumerate(ctx.site.hives) if s.short != name)
    steps = []
    if node.get("Spec", {}).get("Role") == "manager":
        steps.append(Step(survivor, f"$SUDO docker node demote {node['ID']}", f"runbook 7.9: {name} is gone"))
    steps.append(Step(survivor, f"$SUDO docker node rm {node['ID']}", f"runbook 7.9: remove {name} from the swarm"))
    return Plan(steps=steps, notes=[
        "rebuild on the mother: hive set no_format true; "
        f"hive set first_hive {index}; hive build-infra; hive setup-hosts; hive build-volumes; "
        "afterwards: hive set no_format false"])


# a swarm node ID as swarmkit makes them (identity.NewID: 25 base-36 digits)
NODE_ID = re.compile(r"^[a-z0-9]{25}$")


@remedy(node_state, tier=DESTRUCTIVE)
def remove_stale_node(ctx, name, verdict):
    """A server rebuilt and joined again without `docker node rm` (runbook 7.9): its old entry
    is demoted and removed, by its ID, from a surviving manager. Guards: a well-formed node ID,
    Down as `docker node inspect` says, quorum kept while the stale managers leave raft."""
    stale = verdict.data.get("stale") or []
    if not stale:
        return None
    steps = []
    survivor = manager_answers(ctx, "nodes")[0][0]
    for node_id in stale:
        if not isinstance(node_id, str) or not NODE_ID.match(node_id):
            return Plan(refused=f"{node_id!r} is not a swarm node ID (25 lowercase letters and digits)")
        node = _inspect(ctx, lambda n: n.get("ID") == node_id)
        if node is None:
            return Plan(refused=f"no manager could inspect node {node_id}")
        state = (node.get("Status") or {}).get("State")
        if state != "down":
            return Plan(refused=f"node {node_id} is {state!r}, not down: only a Down entry is removed")
        quoted = shlex.quote(node_id)
        if (node.get("Spec") or {}).get("Role") == "manager":
            steps.append(Step(survivor, f"$SUDO docker node demote {quoted}",
                              f"runbook 7.9: {node_id} is the old entry of {name}, still a raft member"))
            # swarm takes it out of raft a moment after the demote; rm refuses a raft member
            steps.append(Step(survivor, f"$SUDO docker node inspect --format "
                                        f"'{{{{if .ManagerStatus}}}}manager{{{{else}}}}worker{{{{end}}}}' {quoted}",
                              f"wait until {node_id} has left raft", until=lambda out: "worker" in out, wait=60))
        steps.append(Step(survivor, f"$SUDO docker node rm {quoted}",
                          f"runbook 7.9: remove the old entry {node_id} of rebuilt {name}"))
    managers, reachable = _quorum(ctx)
    if reachable < managers // 2 + 1:
        return Plan(refused=f"only {reachable} of {managers} managers are reachable: swarm has lost quorum, "
                            f"demote/rm would fail (the runbook does not cover this case)")
    return Plan(steps=steps)


def _inspect(ctx, name):
    """The first node a manager's `docker node inspect` gives that is `name` (a server's short
    name, see node_name) or for which `name(node)` holds."""
    wanted = name if callable(name) else (
        lambda n: node_name(ctx.site, (n.get("Description") or {}).get("Hostname", "")) == name)
    for _, r in manager_answers(ctx, "nodes_inspect"):
        try:
            for node in json.loads(r.stdout):
                if isinstance(node, dict) and wanted(node):
                    return node
        except ValueError:
            continue
    return None


def _age(stamp):
    """Seconds since docker's RFC 3339 time with nanoseconds ("2026-11-29T01:02:03.123456789Z")."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", stamp or "")
    if not m:
        return None
    t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return time.time() - t.timestamp()


def _quorum(ctx):
    answers = manager_answers(ctx, "nodes")
    from hivehealth.parsers import docker as dockerp
    nodes = dockerp.parse_nodes(answers[0][1].stdout) if answers else []
    managers = [n for n in nodes if n.manager_status]
    # a Down node does not count even if raft still calls it Reachable: a rebuilt server that
    # answers on the old address keeps its stale entry "Reachable"
    return len(managers), len([n for n in managers if n.manager_status in ("Leader", "Reachable")
                               and n.status != "Down"])

