"""Replicated services spread over the nodes (FAQ 7.26): one item per swarm service.

Swarm places tasks when they start and never moves running ones: after a node was down or
rebooted, every replica of a service can end up on the nodes that stayed up, and one more node
failure then takes the whole service. FAQ 7.26 checks it with
`docker service ps ... --format "{{.Name}}\\t{{.Node}}\\t{{.CurrentState}}" -f desired-state=running`
and rebalances with `docker service update --force <svc>` (restarts the service's tasks: the
remedy in fixes/spread.py is risky).

Fails: a replicated service with more than one running task, all on one node, while at least
two Ready/Active nodes satisfy its placement constraints. Passes (with a note) when only one node
is eligible: then nothing can be rebalanced (test_swarm reports the nodes that are down).
Global services and services with one replica have nothing to spread.
"""

from hivehealth.judge.cluster import manager_answers
from hivehealth.parsers import ParseError
from hivehealth.parsers import docker as dockerp
from hivehealth.judge.services import listed_service, service_spec
from hivehealth.judge.verdict import Verdict
from hivehealth.shell import command

FAQ = "FAQ 7.26"


def test_spread(service, verify):
    verify(service_spread, service)


def _first(ctx, section):
    answers = manager_answers(ctx, section)
    return answers[0] if answers else (None, None)


def _node_facts(ctx) -> list[dict]:
    """hostname, role, labels, ready, active of every node (`docker node inspect`)."""
    _, r = _first(ctx, "nodes_inspect")
    if r is None:
        return []
    try:
        return dockerp.node_facts(r.stdout)
    except ParseError:
        return []


def _matches(node: dict, constraint: str) -> bool:
    """Swarm placement constraint `<attr> ==|!= <value>`; attributes not known here match."""
    parsed = dockerp.parse_constraint(constraint)
    if parsed is None:
        return True
    attr, op, value = parsed
    if attr == "node.hostname":
        have = node["hostname"]
    elif attr == "node.id":
        have = node["id"]
    elif attr == "node.role":
        have = node["role"]
    elif attr.startswith("node.labels."):
        have = node["labels"].get(attr[len("node.labels."):])
    else:
        return True
    return (have == value) if op == "==" else (have != value)


def eligible_nodes(nodes: list[dict], constraints: list[str]) -> list[str]:
    return [n["hostname"] for n in nodes if n["ready"] and n["active"]
            and all(_matches(n, c) for c in constraints)]


def service_spread(ctx, name) -> Verdict:
    v = Verdict(f"service {name}", alert=f"(none: zabbix does not see placement; {FAQ})")
    found = listed_service(ctx, v, name, cite=False)
    if found is None:
        return v
    manager, svc = found
    if svc.mode != "replicated":
        v.data["mode"] = svc.mode
        return v               # global services run one task per node by definition
    tm, tr = _first(ctx, "tasks")
    if tr is None:
        ctx.section(v, manager, "tasks")    # says why
        return v
    v.cite(tm, tr)
    try:
        tasks = [t for t in dockerp.parse_tasks(tr.stdout)
                 if t.service == name and t.desired_state == "Running"
                 and t.current_state.startswith("Running")]
    except ParseError as e:
        v.unknown(str(e))
        return v
    nodes_of = sorted({t.node for t in tasks})
    v.data.update(running=len(tasks), nodes=nodes_of, manager=manager)
    if len(tasks) < 2 or len(nodes_of) > 1:
        return v
    spec = service_spec(ctx, name)
    constraints = spec.constraints if spec else []
    node_facts = _node_facts(ctx)
    if node_facts:
        eligible = eligible_nodes(node_facts, constraints)
    else:
        try:
            _, nr = _first(ctx, "nodes")
            eligible = [n.hostname for n in dockerp.parse_nodes(nr.stdout)
                        if n.status == "Ready" and n.availability == "Active"] if nr else []
        except ParseError:
            eligible = []
        if constraints:
            v.notes.append("node labels could not be read: placement constraints not evaluated")
    v.data["eligible"] = eligible
    where = f" under constraints {', '.join(constraints)}" if constraints else ""
    if len(eligible) < 2:
        v.notes.append(f"all {len(tasks)} tasks run on {nodes_of[0]}, but only "
                       f"{len(eligible)} Ready/Active node is eligible{where}: nothing to rebalance")
        return v
    v.fail(f"all {len(tasks)} running tasks ({svc.replicas or len(tasks)} replicas) are on one node, "
           f"{nodes_of[0]} (expected spread over the {len(eligible)} eligible nodes "
           f"{', '.join(eligible)}{where}): losing {nodes_of[0]} stops the service; "
           f"{FAQ}: {command('docker', 'service', 'update', '--force', name)} (restarts its tasks)")
    return v
