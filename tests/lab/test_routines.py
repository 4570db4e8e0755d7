"""The routines around the checks, end to end: the maintenance gate, an alert to its checks,
two fixers at once, and the data on a DRBD volume surviving its remedy."""
import re
import sys
import threading
import time

import pytest

from conftest import REPO, lab, poll, ssh

DRBD = "checks/test_drbd.py::test_drbd[ldap_data]"
SERVICE = "checks/test_services.py::test_service[ldap]"
ALERT = "Problem: DRBD resource ldap_data status is not UpToDate/Diskless client (lab)"


def slow_resync(seconds):
    """The DRBD stand-in resyncs in a few seconds; slow it so a resync can be watched."""
    sys.path.insert(0, str(REPO))
    from lab import site as labsite
    sim = labsite.drbdsim()
    with sim.Locked(labsite.drbd_state_path()) as st:
        st["resources"]["ldap_data"]["sync_seconds"] = float(seconds)


def audited(suite, command):
    """How often the audit log records `command` having run."""
    audit = suite.reports / "audit.jsonl"
    return audit.read_text().count(command) if audit.exists() else 0


def test_gate_ready_on_a_healthy_lab(suite):
    # the gate counts a unit restarted within unit_restart_window (a previous scenario's heal
    # restarts sshd or chronyd) as not ready, so wait until the window has passed
    r = poll(suite, lambda r: r.rc == 0, "--gate", timeout=240)
    assert r.rc == 0, r
    assert "GATE: READY for maintenance" in r.output


def test_gate_not_ready_during_a_resync_the_nightly_run_only_notes(suite, fault):
    # the default peer: one that does not run ldap (where the volume is open, down is refused)
    injected = fault("drbd:peer-down")
    peer = re.search(r"is down on (\S+) \(drbdadm down\)", injected).group(1)
    slow_resync(90)
    try:
        ssh(suite.site, peer, "sudo drbdadm adjust ldap_data")
        gate = suite.run("--gate")
        nightly = suite.run()
    finally:
        slow_resync(4)
    assert gate.rc == 1, gate
    assert "GATE: NOT READY" in gate.output and "resync" in gate.output
    assert "resync in progress" in gate.failed()[DRBD]
    assert nightly.rc == 0, nightly
    entry = next(c for c in nightly.checks if c["id"] == DRBD)
    assert entry["outcome"] == "passed" and entry["status"] == "warn"


def test_gate_refuses_fixes(suite):
    r = suite.run("--gate", "--fix")
    assert r.rc == 4 and "--gate only looks" in r.output


def test_alert_selects_and_fixes_exactly_its_object(suite, fault):
    fault("drbd:one-sided")
    r = suite.run("--alert", ALERT, "--fix")
    assert r.rc == 0, r
    assert [c["id"] for c in r.checks] == [DRBD]
    assert r.checks[0].get("fixed") is True


def test_unknown_alert_lists_the_known_ones(suite):
    r = suite.run("--alert", "Problem: something nobody monitors")
    assert r.rc == 4
    assert "DRBD resource <vol> status is not UpToDate/Diskless client" in r.output


def test_two_fixers_one_waits_and_nothing_runs_twice(suite, fault, tmp_path):
    fault("drbd:outdated")
    before = audited(suite, "primary --force")
    results = {}

    def run(name, delay):
        time.sleep(delay)
        results[name] = suite.__class__(suite.site, tmp_path / name).run("--fix", "--allow-risky", "-k", "drbd",
                                                                        "-o", f"report_dir={suite.reports}")
    threads = [threading.Thread(target=run, args=("a", 0)), threading.Thread(target=run, args=("b", 1))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results["a"].rc == 0 and results["b"].rc == 0, results
    assert audited(suite, "primary --force") - before == 1, "the remedy ran twice"


@pytest.mark.parametrize("fault_name, selection, then_heal", [
    ("services:xfs-corrupt", "service", False),   # xfs_repair on the volume itself
    ("drbd:outdated", "drbd", True),              # primary --force on one of the Outdated copies
], ids=["xfs-repair", "all-outdated"])
def test_risky_remedy_keeps_the_data(suite, fault, ldap_volume, fault_name, selection, then_heal):
    marker = f"hh-marker-{fault_name}"
    written = ldap_volume.write(marker, f"written-before-{fault_name}")
    assert ldap_volume.checksum(marker) == written
    fault(fault_name)
    fixed = suite.run("--fix", "--allow-risky", "-k", selection)
    assert fixed.rc == 0, fixed
    if then_heal:
        lab("heal")
    assert ldap_volume.checksum(marker) == written


def test_fix_plan_changes_nothing(suite, fault):
    fault("drbd:one-sided")
    status = lambda: ssh(suite.site, "s-hive0.lab", "sudo drbdadm status ldap_data") + \
        ssh(suite.site, "s-hive1.lab", "sudo drbdadm status ldap_data")
    before = status()
    plan = suite.run("--fix-plan", "-k", "drbd")
    assert plan.rc == 1 and "would run" in plan.failed()[DRBD]
    assert status() == before


def test_remedy_runs_once_under_xdist(suite, fault):
    fault("units:leftover-drbd", "s-hive1.lab")
    before = audited(suite, "reset-failed -- drbd-resource@old_data")
    r = suite.run("--fix", "-n", "2")
    assert r.rc == 0, r
    assert audited(suite, "reset-failed -- drbd-resource@old_data") - before == 1
