"""Names that come from servers, through --fix over real SSH: a unit with an escaped name is
restarted by exactly that name; hostile names and a crafted mount error make the remedies refuse,
naming them, and nothing they carry runs."""
import json
import shlex

from conftest import ssh
from test_faults import assert_fails_exactly, wait_for_failure

from lab.faults.units import ESCAPED_UNIT, HOSTILE_MARK, HOSTILE_SVC, HOSTILE_UNIT

UNITS = "checks/test_units.py::test_units[s-hive1.lab]"
HOSTILE_SERVICE = f"checks/test_services.py::test_service[{HOSTILE_SVC}]"


def _audited(suite):
    path = suite.reports / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_failed_unit_with_escaped_name_is_restarted_by_its_real_name(suite, fault, site):
    fault("units:escaped-name", "s-hive1.lab")
    assert_fails_exactly(suite.run(), {UNITS: [f"{ESCAPED_UNIT} failed (result exit-code"]})
    before = len(_audited(suite))
    fixed = suite.run("--fix", "--allow-risky", "-k", "units")
    assert fixed.rc == 0, fixed
    commands = [e["command"] for e in _audited(suite)[before:]]
    assert commands == [f"sudo systemctl restart -- {shlex.quote(ESCAPED_UNIT)}"], commands
    # that instance runs now; the name with its backslash lost was never started
    lost = ESCAPED_UNIT.replace("\\", "")
    states = ssh(site, "s-hive1.lab", f"systemctl is-active {shlex.quote(ESCAPED_UNIT)} {shlex.quote(lost)}; true")
    assert states.split() == ["active", "inactive"], states
    assert suite.run().rc == 0


def test_hostile_names_make_the_remedies_refuse_and_nothing_runs(suite, fault, site):
    fault("units:hostile-names", "s-hive1.lab")
    shown = wait_for_failure(suite, HOSTILE_SERVICE, showing="restart loop", timeout=120)
    assert "failed to mount local volume" in shown.failed()[HOSTILE_SERVICE], shown
    before = len(_audited(suite))
    r = suite.run("--fix", "--allow-risky", "-k", f"units or {HOSTILE_SVC}")
    failed = r.failed()
    assert UNITS in failed and HOSTILE_SERVICE in failed, r
    assert "restart_failed_units refused: systemd unit " + repr(HOSTILE_UNIT) in failed[UNITS], failed[UNITS]
    assert "is not a valid name" in failed[UNITS]
    assert "repair_corrupt_volume refused" in failed[HOSTILE_SERVICE], failed[HOSTILE_SERVICE]
    assert "mounts no volume of the site's drbd_device_map" in failed[HOSTILE_SERVICE]
    assert _audited(suite)[before:] == [], "a remedy ran a command"
    for host in ("s-hive0.lab", "s-hive1.lab", "s-hive2.lab", "s-hive3.lab"):
        assert ssh(site, host, f"test -e {HOSTILE_MARK} && echo present || echo absent").strip() == "absent", host
