"""Mother-side state left behind by a recovery (runbook 7.9): one item.

Inventory and persistents: https://hive-builder.readthedocs.io/ja/latest/inventory.html

- `no_format` left true in .hive/persistents.yml: build-volumes then never formats or promotes
  a *new* volume (it only resyncs existing ones). Runbook 7.9 sets it for the recovery and never
  says to reset it: `hive set no_format false`.
- `first_hive` pointing at a server whose swarm node is Down (or gone): swarm init, node labels,
  build-networks, deploy-services and the backup scripts' DOCKER_HOST all use it:
  `hive set first_hive <index of a Ready hive>`.
Both are warnings in the runbook's sense; here they fail, with the exact `hive set` command.
Not applicable (skip): a site that is not a hive-builder project (no persistents.yml read).
"""
from hivehealth.judge.cluster import manager_answers, node_entries
from hivehealth.parsers import ParseError
from hivehealth.parsers import docker as dockerp
from hivehealth.judge.verdict import Verdict
from hivehealth.shell import command

ALERT = "(none: mother-side state; runbook 7.9)"


def test_hive_state(site, verify):
    verify(hive_state, site)


def hive_state(ctx, site) -> Verdict:
    persist = f"{site.root}/.hive/persistents.yml" if site.root else ".hive/persistents.yml"
    v = Verdict(f"hive state ({persist})", alert=ALERT)
    if site.kind != "hive":
        v.skip(f"{site.describe()} is not a hive-builder project: no persistents.yml to check")
        return v
    if site.no_format:
        v.fail(f"no_format is true in {persist} (expected false outside a recovery): "
               f"build-volumes will never format or promote a new volume; after the recovery "
               f"(runbook 7.9) run: hive set no_format false")
    hives = site.hives
    first = next((s for s in hives if "first_hive" in s.roles), None)
    if first is None:
        v.unknown(f"first_hive {site.first_hive} names no hive of this stage")
        return v
    answers = manager_answers(ctx, "nodes")
    nodes, seen_by = None, None
    for host, r in answers:
        try:
            nodes = dockerp.parse_nodes(r.stdout)
            seen_by = host
            break
        except ParseError:
            continue
    if nodes is None:
        v.unknown(f"no swarm manager answered `docker node ls`: cannot tell whether first_hive "
                  f"{site.first_hive} ({first.name}) is up")
        return v
    v.cite(seen_by, dict(answers)[seen_by])
    # the live entry per server (short or full hostname; a stale entry of a rebuilt server aside)
    by_host = {s.short: node_entries(site, nodes, s.short)[0] for s in site.servers}
    node = by_host.get(first.short)
    ready = [i for i, s in enumerate(site.servers)
             if s.is_hive and by_host.get(s.short) is not None
             and by_host[s.short].status == "Ready" and by_host[s.short].availability == "Active"]
    suggest = (command("hive", "set", "first_hive", ready[0]) if ready else
               "hive set first_hive <index of a Ready hive>")
    if node is None:
        v.fail(f"first_hive is {site.first_hive} ({first.name}) but {first.short} is not a swarm "
               f"node (as seen by {seen_by}; expected Ready): run {suggest}")
    elif node.status != "Ready":
        v.fail(f"first_hive is {site.first_hive} ({first.name}) but its swarm node is "
               f"{node.status}/{node.availability} (as seen by {seen_by}; expected Ready): "
               f"hive's deploys and the backups' DOCKER_HOST go there; run {suggest}")
    v.data.update(no_format=site.no_format, first_hive=site.first_hive,
                  first_hive_state=node.status if node else None, suggest=suggest)
    return v
