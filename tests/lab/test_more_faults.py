"""One lab scenario per check beyond the runbook: inject the fault, see exactly the
matching check fail with its value, limit, alert/FAQ and the command that clears it, run that
command (or the suite's remedy, held to its tier), see the lab healthy again."""
import hashlib
import re
import subprocess
from pathlib import Path

import yaml
from conftest import lab, ssh, wait_for_green
from test_faults import assert_fails_exactly, per_host, wait_for_failure

REPO_HOST = "s-hive3.lab"
BACKUP = f"checks/test_backup.py::test_backup[{REPO_HOST}]"
REGISTRY_API = f"checks/test_registry_api.py::test_registry_api[{REPO_HOST}]"
HIVE_STATE = "checks/test_hive_state.py::test_hive_state"
SPREAD = "checks/test_spread.py::test_spread[spread-demo]"
RERUN = "hive-backup.sh -l hive-registry"


def _md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def test_backup_stale_names_the_target_and_its_rerun(suite, fault, site):
    fault("backup:stale")
    r = suite.run()
    assert_fails_exactly(r, {BACKUP: ["backup of hive-registry is stale", "30.0 h old",
                                      "limit backup_max_age 26 h", RERUN,
                                      "hive's zabbix does not watch backups"]})
    assert suite.run("-k", "backup", "-o", "backup_max_age=48").rc == 0, "ini limit not honoured"
    out = ssh(site, REPO_HOST, RERUN)              # the rerun the message gives, as admin
    assert "backup for hive-registry done" in out, out
    assert suite.run().rc == 0


def test_backup_fail_line_fails_although_the_service_exited_0(suite, fault, site):
    fault("backup:failed")
    assert ssh(site, REPO_HOST, "systemctl show -p Result --value backup.service").strip() == "success"
    r = suite.run()
    assert_fails_exactly(r, {BACKUP: ["printed `INFO: hive-backup.sh: FAIL backup for hive-registry`",
                                      RERUN]})
    # the fault's cause is gone (the directory is writable again): the rerun the message gives
    # clears it, although the journal of the last backup.service run keeps its FAIL line
    assert "backup for hive-registry done" in ssh(site, REPO_HOST, RERUN)
    after = suite.run()
    assert after.rc == 0, after


def test_backup_dump_failing_inside_sh_c_fails_without_a_fail_line(suite, fault, site):
    fault("backup:dump-fails-in-sh-c")
    assert ssh(site, REPO_HOST, "systemctl show -p Result --value backup.service").strip() == "success"
    r = suite.run()
    assert_fails_exactly(r, {BACKUP: ["backup of hhdump failed", "20 bytes: an empty dump",
                                      "printed no FAIL", "mysqldump: not found",
                                      "hive-backup.sh -l hhdump"]})


def test_backup_timer_stopped_is_reported_with_its_command(suite, fault, site):
    fault("backup:timer-stopped")
    r = suite.run()
    assert_fails_exactly(r, {BACKUP: ["backup.timer is inactive/dead (expected active)",
                                      "sudo systemctl enable --now backup.timer"]})
    ssh(site, REPO_HOST, "sudo systemctl enable --now backup.timer")
    assert suite.run().rc == 0


def test_chronyd_stopped_is_restarted_safely(suite, fault, site):
    fault("time:chronyd-stopped", "s-hive1.lab")
    check = "checks/test_time.py::test_time[s-hive1.lab]"
    r = suite.run()
    assert_fails_exactly(r, {check: ["chrony.service (chronyd) is inactive/dead (expected active)",
                                     "FAQ 7.15", "sudo systemctl restart chronyd"]})
    plan = suite.run("--fix-plan", "-k", "time")
    assert plan.rc == 1 and "systemctl restart -- chrony.service" in plan.failed()[check], plan
    fixed = suite.run("--fix", "-k", "time")          # safe: no --allow-risky needed
    assert fixed.rc == 0, fixed
    assert ssh(site, "s-hive1.lab", "systemctl is-active chrony").strip() == "active"
    assert suite.run().rc == 0


def test_chronyd_without_a_source_is_not_synchronised(suite, fault, site):
    fault("time:chronyd-no-source", "s-hive1.lab")
    check = "checks/test_time.py::test_time[s-hive1.lab]"
    r = suite.run()
    assert_fails_exactly(r, {check: ["chrony.service is running but not synchronised",
                                     "never synchronised", "chronyc sources"]})
    # a restart gives it no source: no remedy is offered for it
    assert "systemctl restart -- chrony.service" not in suite.run("--fix-plan", "-k", "time").failed()[check]


def test_leftover_enabled_drbd_unit_fails_before_the_reboot(suite, fault, site):
    fault("units:leftover-drbd-enabled", "s-hive1.lab")
    check = "checks/test_drbd_units.py::test_drbd_units[s-hive1.lab]"
    r = suite.run()
    assert_fails_exactly(r, {check: ["drbd-resource@old_data.service is still enabled",
                                     "Dependency failed",
                                     "sudo systemctl disable drbd-resource@old_data.service"]},
                         allowed=[re.compile(re.escape("test_units[s-hive1.lab]"))])
    ssh(site, "s-hive1.lab", "sudo systemctl disable drbd-resource@old_data.service && "
                             "sudo systemctl reset-failed drbd-resource@old_data.service")
    assert suite.run().rc == 0


def test_registry_down_is_refused_connection(suite, fault, site):
    fault("registry_api:down")
    r = suite.run()
    assert_fails_exactly(r, {REGISTRY_API: [f"GET http://{REPO_HOST}:5000/v2/", "curl exit 7",
                                            "connection refused", "expected HTTP 200",
                                            "docker ps -a --filter name=registry"]})
    password = (Path(site) / ".hive" / "staging" / "registry_password").read_text().strip()
    assert password and password not in r.output and password not in str(r.doc)
    ssh(site, REPO_HOST, "docker start registry")    # the lab's registry has no compose file
    assert suite.run().rc == 0


def _spread_nodes(site):
    out = ssh(site, "s-hive0.lab", "docker service ps spread-demo --filter desired-state=running "
                                   "--format '{{.Node}} {{.CurrentState}}'")
    return sorted(x.split()[0] for x in out.splitlines() if " Running" in x)


def test_spread_is_rebalanced_only_with_allow_risky(suite, fault, site):
    fault("spread:one-node", "s-hive1.lab")
    r = suite.run()
    assert_fails_exactly(r, {SPREAD: ["all 2 running tasks", "on one node, s-hive1",
                                      "3 eligible nodes s-hive0, s-hive1, s-hive2", "FAQ 7.26",
                                      "docker service update --force spread-demo"]})
    held = suite.run("--fix", "-k", "spread")
    assert held.rc == 1 and "--allow-risky" in held.failed()[SPREAD], held
    assert _spread_nodes(site) == ["s-hive1", "s-hive1"], "held back, yet the tasks moved"
    fixed = suite.run("--fix", "--allow-risky", "-k", "spread")
    assert fixed.rc == 0, fixed
    nodes = _spread_nodes(site)
    assert len(nodes) == 2 and len(set(nodes)) == 2, nodes
    assert suite.run().rc == 0


def test_drbd_unit_inactive_is_started_without_restarting_docker(suite, fault, site):
    fault("drbd_units:inactive", "s-hive1.lab")
    check = "checks/test_drbd_units.py::test_drbd_units[s-hive1.lab]"
    unit = "drbd-resource@ldap_data.service"
    r = suite.run()
    # only the unit: the resource itself stays up (test_drbd passes)
    assert_fails_exactly(r, {check: [f"{unit} is inactive/dead", "expected active",
                                     "docker will not start", f"sudo systemctl start {unit}"]})
    docker_run = ssh(site, "s-hive1.lab", "systemctl show -p InvocationID --value docker")
    ssh(site, "s-hive1.lab", f"sudo systemctl start {unit}")
    assert ssh(site, "s-hive1.lab", "systemctl show -p InvocationID --value docker") == docker_run, \
        "starting the unit restarted docker"
    assert suite.run().rc == 0


def test_no_format_left_true_prints_hive_set(suite, fault, site):
    fault("hive_state:no-format-left")
    r = suite.run()
    assert_fails_exactly(r, {HIVE_STATE: ["no_format is true", "expected false outside a recovery",
                                          "runbook 7.9", "hive set no_format false"]})
    # what `hive set no_format false` stores (global scope of .hive/persistents.yml)
    path = Path(site) / ".hive" / "persistents.yml"
    doc = yaml.safe_load(path.read_text())
    doc["no_format"]["global"] = False
    path.write_text(yaml.safe_dump(doc, default_flow_style=False, sort_keys=False))
    assert suite.run().rc == 0


def test_first_hive_down_prints_hive_set_first_hive(suite, fault):
    fault("swarm:node-down", "s-hive0.lab")
    # right after the leader is lost every node is briefly Unknown (no Ready hive to name yet):
    # wait until the swarm has settled, every manager seeing the surviving nodes Ready
    survivors = [f"checks/test_swarm.py::test_swarm_node[{n}]" for n in ("s-hive1", "s-hive2")]
    r = wait_for_failure(suite, HIVE_STATE, showing="hive set first_hive 1", settled=survivors)
    lost = [per_host("s-hive0.lab"), re.compile(r"test_swarm_node\[s-hive0\]$|test_swarm_leader$"),
            re.compile(r"test_drbd\[|test_volume\[|test_service\[")]
    assert_fails_exactly(r, {HIVE_STATE: ["first_hive is 0 (s-hive0.lab) but its swarm node is",
                                          "expected Ready", "hive set first_hive 1"]},
                         allowed=lost)
    assert "no_format" not in r.failed()[HIVE_STATE]
    lab("heal")                       # s-hive0 back: first_hive 0 is Ready again, nothing to set
    healed = wait_for_green(suite)
    assert healed.rc == 0, healed


def test_changed_host_key_gets_the_faq_recovery_and_is_never_accepted(suite, fault, site):
    fault("hostkeys:changed", "s-hive1.lab")
    check = "checks/test_hostkeys.py::test_hostkeys[s-hive1.lab]"
    kh = Path(site) / ".hive" / "staging" / "known_hosts"
    before = _md5(kh)
    r = suite.run()
    assert_fails_exactly(r, {check: ["host key refused, not accepted", "does not match", "FAQ 7.18",
                                     f"rm {kh}", "hive build-infra", "hive ssh -t s-hive1.lab"]},
                         allowed=[per_host("s-hive1.lab"), re.compile(r"test_drbd\[|test_volume\[")])
    tried = suite.run("--fix", "--allow-risky", "--allow-destructive")
    assert tried.rc == 1 and check in tried.failed()
    assert _md5(kh) == before, "the suite changed known_hosts"
    # FAQ 7.18 once the rebuild is confirmed: rm known_hosts; hive build-infra re-scans the keys
    ips = [ln.split()[1] for ln in (Path(site) / ".hive" / "staging" / "ssh_config").read_text().splitlines()
           if ln.strip().startswith("HostName")]
    kh.unlink()
    scan = subprocess.run(["ssh-keyscan", "-T", "5", "-t", "ecdsa,ed25519,rsa", *ips],
                          capture_output=True, text=True, timeout=60)
    kh.write_text(scan.stdout)
    assert suite.run().rc == 0
