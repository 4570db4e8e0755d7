"""Guards that cannot see a server refuse, naming it: a missing, failed, empty, cut-short or
unreadable fact is never read as "fine" (constructed states from the lab's real recording)."""
import json
from pathlib import Path

import pytest

from hivehealth.gather.probe import CommandResult, HostFacts
from hivehealth.judge.verdict import Verdict
from hivehealth.remedy.guards import Unseen, demand, section
from hivehealth.parsers import fs

from hivehealth.fixes import services as service_fixes
from hivehealth.fixes import swarm as swarm_fixes
from hivehealth.fixes import units as unit_fixes
from test_remedies import _down_node_ctx, _stale_ctx, _stale_verdict, ctx, site

# tests/data/bundles/lab-three-faults: the hive lab recorded by --record (see its README);
# ldap_data is Primary on s-hive0.lab and mounted there, Secondary on the other hives
BUNDLE = Path(__file__).resolve().parents[1] / "data" / "bundles" / "lab-three-faults"
HIVES = ["s-hive0.lab", "s-hive1.lab", "s-hive2.lab"]
MOUNT_FAILURE = ("failed to mount local volume: mount /dev/drbd1:/var/lib/docker/volumes/ldap_data/_data: "
                 "structure needs cleaning")
LDAP_SPEC = json.dumps({"Name": "ldap", "Mode": {"Replicated": {"Replicas": 1}},
                        "TaskTemplate": {"ContainerSpec": {"Mounts": [{"Type": "volume", "Source": "ldap_data"}]}}})


def recorded(host: str) -> dict[str, CommandResult]:
    d = json.loads((BUNDLE / f"host-{host}.json").read_text())
    return {k: CommandResult(**v) for k, v in d["results"].items()}


def released(results: dict[str, CommandResult]) -> dict[str, CommandResult]:
    """The recorded state as it is while ldap loops on a failed mount: the volume no longer
    mounted and no longer Primary (docker released it)."""
    out = dict(results)
    table = json.loads(results["findmnt"].stdout)
    table["filesystems"] = [m for m in table["filesystems"] if m["source"] != "/dev/drbd1"]
    out["findmnt"] = CommandResult("findmnt", results["findmnt"].command, 0, json.dumps(table) + "\n", "")
    for name in ("drbd_json", "drbd_text"):
        r = results[name]
        text = r.stdout.replace('"role": "Primary"', '"role": "Secondary"').replace(
            "ldap_data role:Primary", "ldap_data role:Secondary").replace('"open": true', '"open": false') \
            .replace("open:yes", "open:no").replace("role:Primary", "role:Secondary") \
            .replace('"peer-role": "Primary"', '"peer-role": "Secondary"')
        out[name] = CommandResult(name, r.command, r.rc, text, r.stderr)
    return out


def lab_facts(mounted=False, **changes) -> dict[str, HostFacts]:
    """Every hive's recorded facts; changes: host -> HostFacts or {section: CommandResult or None}."""
    facts = {}
    for h in HIVES:
        results = recorded(h) if mounted else released(recorded(h))
        change = changes.get(h.replace(".lab", "").replace("-", "_"), {})
        if isinstance(change, HostFacts):
            facts[h] = change
            continue
        for name, r in change.items():
            if r is None:
                results.pop(name, None)
            else:
                results[name] = r
        facts[h] = HostFacts(h, results)
    facts["s-hive0.lab"].results["service_specs"] = CommandResult("service_specs", "docker service inspect", 0,
                                                                  LDAP_SPEC + "\n", "")
    return facts


def xfs_plan(facts, spec=None):
    if spec is not None:
        facts["s-hive0.lab"].results["service_specs"] = CommandResult("service_specs", "x", 0, spec + "\n", "")
    verdict = Verdict("service ldap", status="fail", data={"manager": "s-hive0.lab", "errors": [MOUNT_FAILURE]})
    return service_fixes.repair_corrupt_volume.remedy.plan(ctx(site(), facts), "ldap", verdict)


def test_xfs_repair_runs_when_every_hive_is_seen_free():
    plan = xfs_plan(lab_facts())
    assert plan.refused is None
    assert [(s.host, s.command) for s in plan.steps[:3]] == [
        ("s-hive0.lab", "$SUDO docker service scale -d ldap=0"),
        ("s-hive0.lab", "! grep -q '^/dev/drbd1 ' /proc/mounts && $SUDO xfs_repair /dev/drbd1"),
        ("s-hive0.lab", "$SUDO docker service scale -d ldap=1")]


def test_xfs_repair_refused_where_the_recording_shows_it_mounted():
    plan = xfs_plan(lab_facts(mounted=True))
    assert plan.steps == [] and plan.refused == ("/dev/drbd1 is mounted on s-hive0.lab; never repair a mounted "
                                                 "filesystem")


def test_xfs_repair_refused_while_a_hive_holds_it_primary_unmounted():
    facts = lab_facts()
    facts["s-hive1.lab"].results["drbd_text"] = CommandResult(
        "drbd_text", "drbdadm status", 0, "ldap_data role:Primary\n  disk:UpToDate open:yes\n\n", "")
    facts["s-hive1.lab"].results.pop("drbd_json")
    plan = xfs_plan(facts)
    assert plan.steps == [] and "ldap_data is Primary on s-hive1.lab" in plan.refused


def _cut(r: CommandResult) -> CommandResult:
    return CommandResult(r.name, r.command, 0, r.stdout[:len(r.stdout) // 2], "")


@pytest.mark.parametrize("hive, change, why", [
    ("s_hive2", HostFacts("s-hive2.lab", unreachable="connect timed out"), "s-hive2.lab (unreachable: connect timed out)"),
    ("s_hive1", {"findmnt": None}, "s-hive1.lab (`findmnt` was not gathered)"),
    ("s_hive1", {"findmnt": CommandResult("findmnt", "findmnt -J", 124, "", "")}, "s-hive1.lab (`findmnt -J` timed out)"),
    ("s_hive1", {"findmnt": CommandResult("findmnt", "findmnt -J", 1, "", "findmnt: can't read mountinfo")},
     "s-hive1.lab (`findmnt -J` exited 1: findmnt: can't read mountinfo)"),
    ("s_hive1", {"findmnt": CommandResult("findmnt", "findmnt -J", 0, "", "")}, "s-hive1.lab (`findmnt -J` printed nothing)"),
    ("s_hive1", {"findmnt": CommandResult("findmnt", "findmnt -J", 0, "not json\n", "")}, "s-hive1.lab (cannot read it: "),
    ("s_hive2", "cut", "s-hive2.lab (`findmnt -J -l -o TARGET,SOURCE,FSTYPE,FSROOT` its output ends in the middle"),
])
def test_xfs_repair_refused_when_a_hives_mount_table_cannot_be_seen(hive, change, why):
    if change == "cut":
        change = {"findmnt": _cut(released(recorded("s-hive2.lab"))["findmnt"])}
    plan = xfs_plan(lab_facts(**{hive: change}))
    assert plan.steps == [], plan.render()
    assert plan.refused.startswith("cannot see whether /dev/drbd1 is mounted on ") and why in plan.refused, plan.refused
    assert plan.refused.endswith("never repair a filesystem that may be mounted")


def test_xfs_repair_refused_when_a_hives_drbd_state_cannot_be_seen():
    broken = CommandResult("drbd_json", "drbdsetup status --json", 10, "", "drbdsetup: module not loaded")
    plan = xfs_plan(lab_facts(s_hive2={"drbd_json": broken, "drbd_text": None}))
    assert plan.steps == [] and plan.refused.startswith("cannot see the DRBD role of ldap_data on s-hive2.lab (")
    assert "module not loaded" in plan.refused


def test_xfs_repair_refused_for_a_service_without_a_replica_count():
    spec = json.dumps({"Name": "ldap", "Mode": {"Global": {}},
                       "TaskTemplate": {"ContainerSpec": {"Mounts": [{"Type": "volume", "Source": "ldap_data"}]}}})
    plan = xfs_plan(lab_facts(), spec=spec)
    assert plan.steps == [] and "ldap is not a replicated service" in plan.refused


def test_demand_names_every_server_it_cannot_see_not_only_the_first():
    facts = lab_facts(s_hive1=HostFacts("s-hive1.lab", unreachable="refused"), s_hive2={"findmnt": None})
    with pytest.raises(Unseen) as e:
        demand(ctx(site(), facts), site().hives, section("findmnt", fs.parse_findmnt_json), "the mounts", "no")
    assert list(e.value.unseen) == ["s-hive1.lab", "s-hive2.lab"]


# ---------------------------------------------------------------- swarm node removal

def test_down_node_removal_refused_when_node_is_not_a_server_it_can_check():
    c, verdict = _down_node_ctx(3600)
    r = c.host("s-hive0.lab").get("nodes_inspect")
    r.stdout = r.stdout.replace('"Hostname": "s-hive2"', '"Hostname": "old-box"')
    plan = swarm_fixes.remove_down_node.remedy.plan(c, "old-box", verdict)
    assert plan.steps == [] and "old-box is no server of the site's inventory" in plan.refused


def test_down_node_removal_refused_when_its_role_is_not_known():
    c, verdict = _down_node_ctx(3600)
    r = c.host("s-hive0.lab").get("nodes_inspect")
    r.stdout = r.stdout.replace('"Spec": {"Role": "manager"}, ', "")
    plan = swarm_fixes.remove_down_node.remedy.plan(c, "s-hive2", verdict)
    assert plan.steps == [] and "role of node" in plan.refused and "not known" in plan.refused


def test_down_node_removal_refused_when_node_list_cannot_be_read():
    c, verdict = _down_node_ctx(3600)
    c.host("s-hive0.lab").get("nodes").stdout = "{not json\n"
    plan = swarm_fixes.remove_down_node.remedy.plan(c, "s-hive2", verdict)
    assert plan.steps == [] and plan.refused.startswith("cannot read what the guard needs")


def test_stale_removal_refused_when_no_manager_answered():
    c = _stale_ctx()
    c.facts["s-hive0.lab"] = HostFacts("s-hive0.lab", unreachable="connect timed out")
    plan = swarm_fixes.remove_stale_node.remedy.plan(c, "s-hive2", _stale_verdict())
    assert plan.steps == [] and plan.refused


def test_stale_removal_refused_when_its_role_is_not_known():
    c = _stale_ctx()
    r = c.host("s-hive0.lab").get("nodes_inspect")
    r.stdout = r.stdout.replace('"Spec": {"Role": "manager"}, "Status": {"State": "down"}',
                                '"Status": {"State": "down"}')
    plan = swarm_fixes.remove_stale_node.remedy.plan(c, "s-hive2", _stale_verdict())
    assert plan.steps == [] and "role of node" in plan.refused and "not known" in plan.refused


# ---------------------------------------------------------------- leftover DRBD units

def _leftover_plan(drbd_results):
    facts = {"s-hive1.lab": HostFacts("s-hive1.lab", drbd_results)}
    verdict = Verdict("s-hive1.lab", status="fail", data={"failed": ["drbd-resource@old_data.service"]})
    return unit_fixes.reset_leftover_drbd_units.remedy.plan(ctx(site(), facts), site().servers[1], verdict)


def test_leftover_unit_reset_only_when_drbd_on_that_hive_no_longer_has_the_volume():
    gone = recorded("s-hive1.lab")
    assert _leftover_plan(gone).steps[0].command == "$SUDO systemctl reset-failed -- drbd-resource@old_data.service"
    still = dict(gone, drbd_json=CommandResult("drbd_json", "x", 0, gone["drbd_json"].stdout.replace(
        '"name": "ldap_data"', '"name": "old_data"', 1), ""))
    plan = _leftover_plan(still)
    assert plan.steps == [] and "old_data is still a DRBD resource on s-hive1.lab" in plan.refused
    plan = _leftover_plan({})
    assert plan.steps == [] and plan.refused.startswith("cannot see the DRBD resources on s-hive1.lab (")


# ---------------------------------------------------------------- units that change the system's state

from test_remedies import units_ctx  # noqa: E402


def _restart(unit, c=None, fixture=unit_fixes.restart_failed_units, **props):
    verdict = Verdict("s-hive1.lab", status="fail", data={"failed": [unit]})
    return fixture.remedy.plan(c or units_ctx("s-hive1.lab", unit, **props), site().servers[1], verdict)


@pytest.mark.parametrize("unit, why", [
    ("reboot.target", "shuts down, reboots, suspends or isolates the server"),
    ("poweroff.target", "shuts down, reboots"),
    ("kexec.target", "shuts down, reboots"),
    ("emergency.target", "shuts down, reboots"),
    ("rescue.target", "shuts down, reboots"),
    ("suspend.target", "shuts down, reboots"),
    ("ctrl-alt-del.target", "shuts down, reboots"),
    ("multi-user.target", "is a target: starting it pulls in"),
    ("systemd-poweroff.service", "carries out a shutdown, reboot, suspend or rescue shell"),
    ("systemd-reboot.service", "carries out a shutdown"),
    ("systemd-kexec.service", "carries out a shutdown"),
    ("systemd-halt.service", "carries out a shutdown"),
    ("systemd-suspend.service", "carries out a shutdown"),
    ("systemd-hibernate.service", "carries out a shutdown"),
    ("systemd-hibernate-resume@dev-vda2.service", "carries out a shutdown"),
    ("emergency.service", "rescue shell"),
    ("rescue.service", "rescue shell"),
    ("debug-shell.service", "rescue shell"),
    ("-.mount", "is the root filesystem's mount"),
    ("var-lib-docker.mount", "is a mount"),
    ("proc-sys-fs-binfmt_misc.automount", "is an automount"),
    ("dev-vda3.swap", "is a swap unit"),
    ("system-getty.slice", "is a slice"),
    ("session-4.scope", "is a scope"),
    ("dev-vda.device", "is a device unit"),
])
def test_restart_refuses_units_that_change_the_systems_state(unit, why):
    plan = _restart(unit)
    assert plan.steps == [], plan.render()
    assert plan.refused.startswith(f"systemd unit {unit!r} ") and why in plan.refused, plan.refused
    assert "a remedy never starts, restarts or disables it" in plan.refused


@pytest.mark.parametrize("props, why", [
    ({"FailureAction": "reboot"}, "has FailureAction=reboot"),
    ({"SuccessAction": "poweroff-force"}, "has SuccessAction=poweroff-force"),
    ({"StartLimitAction": "reboot-immediate"}, "has StartLimitAction=reboot-immediate"),
    ({"JobTimeoutAction": "poweroff"}, "has JobTimeoutAction=poweroff"),
    ({"OnFailure": "reboot.target"}, "pulls in reboot.target (OnFailure=)"),
    ({"OnSuccess": "systemd-poweroff.service"}, "pulls in systemd-poweroff.service (OnSuccess=)"),
    ({"Wants": "network-online.target emergency.target"}, "pulls in emergency.target (Wants=)"),
    ({"Requires": "sysinit.target shutdown.target"}, "pulls in shutdown.target (Requires=)"),
    ({"BindsTo": "rescue.service"}, "pulls in rescue.service (BindsTo=)"),
    ({"Upholds": "kexec.target"}, "pulls in kexec.target (Upholds=)"),
])
def test_restart_refuses_a_service_that_pulls_a_state_change(props, why):
    plan = _restart("app.service", **{"app.service": props})
    assert plan.steps == [] and plan.refused.startswith(f"systemd unit 'app.service' {why}"), plan.refused


def test_restart_of_an_ordinary_failed_service_is_planned():
    plan = _restart("app.service")
    assert [s.command for s in plan.steps] == ["$SUDO systemctl restart -- app.service"]


def test_restart_refused_when_what_the_unit_pulls_cannot_be_seen():
    plan = _restart("app.service", c=ctx(site()))
    assert plan.steps == [] and plan.refused == (
        "cannot see what the failed units pull in on s-hive1.lab (`units_show` was not gathered): a unit is "
        "started only when what its start or failure pulls in is known")
    # systemctl show from an older suite (without the dependencies) or without the unit's block
    plan = _restart("app.service", **{"app.service": {"OnFailure": None, "FailureAction": None}})
    assert plan.steps == [] and "`systemctl show` gave no OnFailure, FailureAction of app.service" in plan.refused
    plan = _restart("app.service", c=units_ctx("s-hive1.lab", "other.service"))
    assert plan.steps == [] and "of app.service" in plan.refused
    # the lab's recording predates the dependencies: nothing is restarted on it
    recorded_facts = {"s-hive1.lab": HostFacts("s-hive1.lab", recorded("s-hive1.lab"))}
    plan = _restart("hh-lab-broken.service", c=ctx(site(), recorded_facts))
    assert plan.steps == [] and "`systemctl show` gave no Requires" in plan.refused


def test_disable_and_chronyd_restart_refuse_state_changing_units_too():
    c = ctx(site(), ini={"units_not_needed": ["reboot.target"]})
    plan = _restart("reboot.target", c=c, fixture=unit_fixes.disable_unneeded_units)
    assert plan.steps == [] and plan.refused.startswith("systemd unit 'reboot.target' shuts down")
    from hivehealth.fixes import time as time_fixes
    verdict = Verdict("s-hive1.lab", status="fail", data={"skewed": True, "timesync_unit": "systemd-reboot.service"})
    plan = time_fixes.restart_chronyd.remedy.plan(ctx(site()), site().servers[1], verdict)
    assert plan.steps == [] and plan.refused.startswith("systemd unit 'systemd-reboot.service' carries out")
