"""Swarm states real sites reach beyond the runbook's faults: a service whose task can never be
scheduled, and a server rebuilt and joined again without `docker node rm`."""
import re

from conftest import poll, ssh
from test_faults import assert_fails_exactly, per_host, wait_for_failure

UNSCHEDULABLE = "checks/test_services.py::test_service[unschedulable-demo]"
SCHEDULING_ERROR = "no suitable node (scheduling constraints not satisfied on 3 nodes)"


def _status(result, check_id):
    return next(c.get("status") for c in result.checks if c["id"] == check_id)


def test_unschedulable_service_fails_once_pending_longer_than_the_grace(suite, fault):
    fault("services:unschedulable")
    # within the grace (300 s by default) a Pending task may still be on its way
    young = suite.run("-k", "test_service")
    assert _status(young, UNSCHEDULABLE) == "warn", young
    assert UNSCHEDULABLE not in young.failed(), young
    # a short grace: the same task, once Pending longer than it, fails with docker's reason
    r = wait_for_failure(suite, UNSCHEDULABLE, "-o", "service_start_grace=5", showing="stuck")
    assert_fails_exactly(r, {UNSCHEDULABLE: ["0 of 1 replicas running", "unschedulable-demo.1 stuck: Pending",
                                             "longer than service_start_grace 5 s", SCHEDULING_ERROR]})
    assert "Replica count mismatch" in next(c["alert"] for c in r.checks if c["id"] == UNSCHEDULABLE)


def _entries(site, short):
    out = ssh(site, "s-hive0.lab", "docker node ls --format '{{.ID}} {{.Hostname}} {{.Status}}'")
    return sorted((x.split()[0], x.split()[2]) for x in out.splitlines() if x.split()[1:2] == [short])


def test_rebuilt_node_stale_entry_is_removed_by_its_id(suite, fault, site):
    # the fault picks a hive that is neither first_hive nor running ldap
    desc = fault("swarm:stale-node")
    host, old, new = re.search(r"(s-hive\d)\.lab rebuilt .*old node (\w+) Down.*new node (\w+) Ready", desc).groups()
    assert _entries(site, host) == sorted([(old, "Down"), (new, "Ready")])
    node = f"checks/test_swarm.py::test_swarm_node[{host}]"
    r = wait_for_failure(suite, node, showing=old)
    # raft may still call the old member Reachable: the rebuilt server answers on its address
    assert_fails_exactly(r, {node: [f"stale node entry {old}", f"{host} Down, still a manager (",
                                    "without `docker node rm`", f"docker node demote {old}",
                                    f"docker node rm {old}"]},
                         allowed=[per_host(f"{host}.lab"), re.compile(r"test_drbd\[|test_volume\[")])
    assert new not in r.failed()[node]
    held = suite.run("--fix", "-k", "swarm_node")
    assert held.rc == 1 and "--allow-destructive" in held.failed()[node], held
    assert _entries(site, host) == sorted([(old, "Down"), (new, "Ready")]), "held back, yet changed"
    fixed = suite.run("--fix", "--allow-destructive", "-k", "swarm_node")
    assert fixed.rc == 0, fixed
    assert _entries(site, host) == [(new, "Ready")]
    green = poll(suite, lambda res: res.rc == 0, timeout=120)
    assert green.rc == 0, green
