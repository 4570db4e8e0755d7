"""Runbook 7.9: a server lost for good."""
import time

from hivehealth.checks.test_swarm import node_state
from hivehealth.remedy import names
from hivehealth.judge.cluster import manager_answers, node_name
from hivehealth.parsers import ParseError
from hivehealth.parsers import docker as dockerp
from hivehealth.remedy.plan import DESTRUCTIVE, Cmd, Plan, Step, remedy
from hivehealth.shell import command


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
    if server is None:
        return Plan(refused=f"{name} is no server of the site's inventory: whether it still answers over SSH "
                            f"is not known, so it is not removed")
    if not ctx.host(server).unreachable:
        return Plan(refused=f"{server.name} still answers over SSH: repair its docker instead of removing it")
    lost = _quorum_lost(ctx)
    if lost:
        return lost
    survivor = manager_answers(ctx, "nodes")[0][0]
    index = ctx.site.first_hive
    if ctx.site.hives[index].short == name:      # the lost node was #1: the next survivor takes over
        index = next(i for i, s in enumerate(ctx.site.hives) if s.short != name)
    node_id = names.node_id(node.get("ID"))
    if _role(node) is None:
        return _unknown_role(node)
    steps = []
    if _role(node) == "manager":
        steps.append(Step(survivor, Cmd("docker", "node", "demote", node_id, root=True),
                          f"runbook 7.9: {name} is gone"))
    steps.append(Step(survivor, Cmd("docker", "node", "rm", node_id, root=True),
                      f"runbook 7.9: remove {name} from the swarm"))
    return Plan(steps=steps, notes=[
        "rebuild on the mother: hive set no_format true; "
        f"{command('hive', 'set', 'first_hive', index)}; hive build-infra; hive setup-hosts; hive build-volumes; "
        "afterwards: hive set no_format false"])


@remedy(node_state, tier=DESTRUCTIVE)
def remove_stale_node(ctx, name, verdict):
    """A server rebuilt and joined again without `docker node rm` (runbook 7.9): its old entry
    is demoted and removed, by its ID, from a surviving manager. Guards: a well-formed node ID,
    Down as `docker node inspect` says, quorum kept while the stale managers leave raft."""
    stale = verdict.data.get("stale") or []
    if not stale:
        return None
    lost = _quorum_lost(ctx)
    if lost:
        return lost
    steps = []
    survivor = manager_answers(ctx, "nodes")[0][0]
    for listed in stale:
        node_id = names.node_id(listed)
        node = _inspect(ctx, lambda n: n.get("ID") == node_id)
        if node is None:
            return Plan(refused=f"no manager could inspect node {node_id}")
        state = (node.get("Status") or {}).get("State")
        if state != "down":
            return Plan(refused=f"node {node_id} is {state!r}, not down: only a Down entry is removed")
        if _role(node) is None:
            return _unknown_role(node)
        if _role(node) == "manager":
            steps.append(Step(survivor, Cmd("docker", "node", "demote", node_id, root=True),
                              f"runbook 7.9: {node_id} is the old entry of {name}, still a raft member"))
            # swarm takes it out of raft a moment after the demote; rm refuses a raft member
            steps.append(Step(survivor, Cmd("docker", "node", "inspect", "--format",
                                            "{{if .ManagerStatus}}manager{{else}}worker{{end}}", node_id,
                                            root=True),
                              f"wait until {node_id} has left raft", until=lambda out: "worker" in out, wait=60))
        steps.append(Step(survivor, Cmd("docker", "node", "rm", node_id, root=True),
                          f"runbook 7.9: remove the old entry {node_id} of rebuilt {name}"))
    return Plan(steps=steps)


def _role(node: dict) -> str | None:
    """The node's role as `docker node inspect` gives it, None when it gives none."""
    role = (node.get("Spec") or {}).get("Role")
    return role if role in ("manager", "worker") else None


def _unknown_role(node: dict) -> Plan:
    # a manager taken for a worker would be removed without its demote
    return Plan(refused=f"docker node inspect gives no role for node {node.get('ID')!r}: the role of node "
                        f"(manager or worker) is not known, so nothing is removed")


def _inspect(ctx, name):
    """The first node a manager's `docker node inspect` gives that is `name` (a server's short
    name, see node_name) or for which `name(node)` holds."""
    wanted = name if callable(name) else (
        lambda n: node_name(ctx.site, (n.get("Description") or {}).get("Hostname", "")) == name)
    for _, r in manager_answers(ctx, "nodes_inspect"):
        try:
            nodes = dockerp.parse_node_inspect(r.stdout)
        except ParseError:
            continue
        for node in nodes:
            if wanted(node):
                return node
    return None


def _age(stamp):
    """Seconds since docker's time `stamp` (None when it is not one)."""
    t = dockerp.parse_time(stamp)
    return None if t is None else time.time() - t


def _quorum_lost(ctx) -> Plan | None:
    """A refusal unless a manager's `docker node ls` shows a majority of managers reachable."""
    answers = manager_answers(ctx, "nodes")
    if not answers:
        return Plan(refused="no manager answered `docker node ls`: whether swarm keeps its quorum is not known")
    nodes = dockerp.parse_nodes(answers[0][1].stdout)
    managers = [n for n in nodes if n.manager_status]
    # a Down node does not count even if raft still calls it Reachable: a rebuilt server that
    # answers on the old address keeps its stale entry "Reachable"
    reachable = [n for n in managers if n.manager_status in ("Leader", "Reachable") and n.status != "Down"]
    if len(reachable) < len(managers) // 2 + 1:
        return Plan(refused=f"only {len(reachable)} of {len(managers)} managers are reachable: swarm has lost "
                            f"quorum, demote/rm would fail (the runbook does not cover this case)")
    return None
