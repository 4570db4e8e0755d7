"""Runbook 7.9: swarm membership, as the managers see it.

hive-builder's zabbix never looks at swarm node health. A node must be Ready and Active, a
manager Leader or Reachable, and the managers must agree on one Leader. A node is the server of
the same short or full name (docker reports the hostname the server has, short or FQDN).
A server rebuilt (runbook 7.9) and joined again without `docker node rm` leaves its old entry
behind, Down, and for a manager still a raft member that counts against quorum: that stale
entry fails, named by its node ID (the swarm remedy removes exactly that ID).
"""

from hivehealth.gather.sections import declare
from hivehealth.judge.cluster import manager_answers, no_manager_answered, node_entries
from hivehealth.parsers import ParseError
from hivehealth.parsers import docker as dockerp
from hivehealth.judge.verdict import Verdict
from hivehealth.shell import command, sequence


# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    swarm_info=("hive", "$DOCKER info --format '{{json .Swarm}}'"),
    # `{{json .}}`, not `--format json`: the same output on Docker 23+, and readable on 20.10,
    # whose CLI prints the word "json" for `--format json` (docker/cli formatter.go JSONFormatKey)
    nodes=("hive", "$DOCKER node ls --format '{{json .}}'"),
    # every hive is asked: the managers that disagree are reported
    nodes_inspect=("manager", "n=$($DOCKER node ls -q) || exit $?; $DOCKER node inspect $n"),
)


def test_swarm_node(swarm_node, verify):
    verify(node_state, swarm_node)


def test_swarm_leader(verify):
    verify(leader_state, None)


def _views(ctx, v: Verdict) -> dict[str, list]:
    """Every reachable manager's `docker node ls`, keyed by the manager that said it."""
    views = {}
    for host, r in manager_answers(ctx, "nodes"):
        try:
            views[host] = dockerp.parse_nodes(r.stdout)
        except ParseError as e:
            v.unknown(f"{host}: {e}")
    if not views and not v.problems:
        v.fail(no_manager_answered(ctx, "nodes", "docker node ls"))
    return views


def node_state(ctx, name) -> Verdict:
    v = Verdict(f"swarm node {name}")
    views = _views(ctx, v)
    seen, stale = {}, {}
    for manager, nodes in views.items():
        node, stale[manager], rivals = node_entries(ctx.site, nodes, name)
        seen[manager] = (node.status, node.availability, node.manager_status) if node else None
        if rivals:
            v.fail(f"{len(rivals) + 1} live node entries for one server ("
                   + ", ".join(f"{n.id} {n.hostname} {n.status}" for n in [node, *rivals])
                   + f", as seen from {manager}): two machines share the hostname")
    if not seen:
        return v
    first_manager, first = next(iter(seen.items()))
    if first is None:
        v.fail(f"not a member of the swarm (as seen from {first_manager})")
    else:
        status, availability, manager = first
        if status != "Ready":
            v.fail(f"status {status} (expected Ready), as seen from {first_manager}")
        if availability != "Active":
            # drained or paused on purpose: noted nightly, blocks the maintenance gate
            v.warn(f"availability {availability} (expected Active)")
        if manager and manager not in ("Leader", "Reachable"):
            v.fail(f"manager status {manager} (expected Leader or Reachable)")
    for n in stale[first_manager]:
        role = f", still a manager ({n.manager_status}) counted in raft quorum" if n.manager_status else ""
        v.fail(f"stale node entry {n.id} ({n.hostname} {n.status}{role}) beside the live one: the "
               f"server was joined again without `docker node rm` (runbook 7.9); remove it: "
               + sequence(*([command("docker", "node", "demote", n.id)] if n.manager_status else []),
                          command("docker", "node", "rm", n.id)))
    others = {m: s for m, s in seen.items() if s != first}
    if others:
        v.fail("managers disagree: " + "; ".join(f"{m} sees {s or 'no such node'}" for m, s in others.items())
               + f" while {first_manager} sees {first}" + _settling_hint(seen.values()))
    v.data.update(seen=seen, stale=[n.id for n in stale[first_manager]],
                  stale_managers=[n.id for n in stale[first_manager] if n.manager_status])
    return v


def _settling_hint(views) -> str:
    """A new Leader marks every node Unknown until it reports in again, so for a few seconds
    after a leader change the managers' answers differ; say so rather than leave it a riddle."""
    statuses = {s[0] for s in views if s}
    if "Unknown" in statuses and "Ready" in statuses:
        return " (every node is Unknown for a few seconds after a Leader change: run again)"
    return ""


def leader_state(ctx, _) -> Verdict:
    v = Verdict("swarm managers")
    if not ctx.site.hives or ctx.site.kind == "local":
        v.skip(f"{ctx.site.describe()} has no hives, so no swarm to check")
        return v
    views = _views(ctx, v)
    leaders = {m: sorted(n.hostname for n in nodes if n.manager_status == "Leader") for m, nodes in views.items()}
    if not leaders:
        return v
    first_manager, first = next(iter(leaders.items()))
    if len(first) != 1:
        v.fail(f"{len(first)} Leaders ({', '.join(first) or 'none'}) as seen from {first_manager}; "
               f"expected exactly one (quorum lost?)")
    for m, l in leaders.items():
        if l != first:
            v.fail(f"{m} sees Leader {', '.join(l) or 'none'} while {first_manager} sees {', '.join(first) or 'none'}")
    for hive in ctx.site.hives:
        f = ctx.host(hive)
        r = None if f.unreachable else f.get("swarm_info")
        if r is None or not r.ok:
            continue
        state = dockerp.swarm_local_state(r.stdout)
        if state != "active":
            v.fail(f"{hive.name}: swarm state {state!r} (expected active)")
    return v
