"""A check's message names its subject once: `s-hive0.lab: `df` was not gathered`, never
`s-hive0.lab: s-hive0.lab: ...`. A problem about one server of a cluster object names that server
after the object's name; a per-server check's problem does not name its server again."""
from hivehealth.checks.test_disk import disk_usage
from hivehealth.checks.test_drbd import drbd_state
from hivehealth.checks.test_registry import registry_size
from hivehealth.checks.test_service_usage import service_usage
from hivehealth.gather.probe import Gatherer
from hivehealth.judge.verdict import FAIL, UNKNOWN, Verdict
from hivehealth.report.gate import gate_line
from hivehealth.site.inventory import Server
from hivehealth.site.transport import MAX_JUMPS, Pool
from test_more_checks import HIVES, REPO, ctx_of, make_site, result

HIVE = HIVES[1]
DOWN = "connection to s-hive1.lab failed: timed out"


def first_line(v: Verdict) -> str:
    return v.message().splitlines()[0]


def test_per_server_unreachable_names_the_server_once():
    v = ctx_of({}, unreachable={HIVE.name: DOWN}).judge(disk_usage, HIVE)
    assert v.status == FAIL
    assert first_line(v) == f"s-hive1.lab: unreachable: {DOWN}"
    assert v.problems == [f"unreachable: {DOWN}"]     # the report's unreachable card keys on this


def test_an_unreachable_reason_from_the_transport_does_not_name_the_server_again(tmp_path):
    cfg = tmp_path / "ssh_config"       # refused before any connection is tried
    cfg.write_text("Host s-hive1.lab\n  HostName 127.0.0.1\n  ProxyJump s-hive1.lab\n")
    server = Server(HIVE.name, HIVE.roles, "hive", str(cfg))
    facts = Gatherer(make_site(), Pool(connect_timeout=3), 5).gather_host(server, ["df"])
    loop = f"ProxyJump loops or is longer than {MAX_JUMPS} hops: s-hive1.lab -> s-hive1.lab"
    assert facts.unreachable == loop
    v = ctx_of({}, unreachable={HIVE.name: facts.unreachable}).judge(disk_usage, HIVE)
    assert first_line(v) == f"s-hive1.lab: unreachable: {loop}"


def test_per_server_section_not_gathered_names_the_server_once():
    v = ctx_of({HIVE.name: [result("findmnt", "{}\n")]}).judge(disk_usage, HIVE)
    assert v.status == UNKNOWN
    assert first_line(v) == "s-hive1.lab: `df` was not gathered"


def test_per_server_unreadable_section_names_the_server_once():
    df = result("df", "", rc=1, stderr="sudo: a password is required")
    v = ctx_of({HIVE.name: [df]}).judge(disk_usage, HIVE)
    assert v.status == UNKNOWN
    assert first_line(v) == ("s-hive1.lab: cannot read state: `$SUDO df -P -T -k` exited 1: "
                             "sudo: a password is required")


def test_per_server_output_cut_short_names_the_server_once():
    v = ctx_of({HIVE.name: [result("df", "Filesystem Type 1024-blocks Used Avail")]}).judge(disk_usage, HIVE)
    assert v.status == UNKNOWN
    assert first_line(v) == ("s-hive1.lab: cannot read df: `$SUDO df -P -T -k` its output ends in the "
                             "middle of a line ('Filesystem Type 1024-blocks Used Avail'): it was cut short")


def test_a_subject_that_starts_with_its_server_does_not_name_it_again():
    v = ctx_of({REPO.name: []}).judge(registry_size, REPO)
    assert v.status == UNKNOWN
    assert first_line(v) == f"{v.subject}: `registry_du` was not gathered"
    assert v.subject.startswith("s-hive3.lab ") and v.subject.count("s-hive3.lab") == 1


def test_a_cluster_object_names_the_server_its_problem_comes_from():
    ok = [result("service_stats", ""), result("containers", "")]
    by_host = {h.name: ok for h in HIVES if h is not HIVE}
    by_host[HIVE.name] = [result("containers", "")]       # docker stats not gathered on one hive
    v = ctx_of(by_host).judge(service_usage, "ldap")
    assert v.status == UNKNOWN
    assert first_line(v) == "service ldap: s-hive1.lab: `service_stats` was not gathered"


def test_a_cluster_object_names_an_unreachable_server():
    v = Verdict("DRBD resource ldap_data")
    ctx = ctx_of({}, unreachable={HIVE.name: DOWN})
    assert ctx.section(v, HIVE, "drbd_text") is None
    assert v.message() == f"DRBD resource ldap_data: s-hive1.lab: unreachable: {DOWN}"


def outdated_everywhere(host: str) -> str:
    peers = "".join(f"  {h.name} role:Secondary\n    peer-disk:Outdated\n" for h in HIVES if h.name != host)
    return f"ldap_data role:Secondary\n  disk:Outdated\n{peers}\n"


def test_drbd_resource_message_names_the_resource_once():
    v = ctx_of({h.name: [result("drbd_text", outdated_everywhere(h.name))] for h in HIVES}).judge(drbd_state, "ldap_data")
    assert v.status == FAIL
    assert first_line(v).startswith("DRBD resource ldap_data: all copies Outdated (runbook 7.7a); ")
    assert "ldap_data: ldap_data" not in v.message()
    entry = {"outcome": "failed", "id": "checks/test_drbd.py::test_drbd[ldap_data]",
             "subject": v.subject, "problems": v.problems}
    assert gate_line([entry]) == ("GATE: NOT READY (1 blocking): DRBD resource ldap_data: all copies "
                                  "Outdated (runbook 7.7a)")
