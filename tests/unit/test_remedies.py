"""Remedies' plans and guards on constructed states: what a careful operator would refuse."""
import json
import types

import pytest

from hivehealth.judge.context import Context
from hivehealth.gather.probe import CommandResult, HostFacts
from hivehealth.site.inventory import Server, Site
from hivehealth.remedy.lock import LockTimeout, SiteLock
from hivehealth.parsers.drbd import parse_status_text
from hivehealth.redact import Redactor
from hivehealth.remedy.plan import DESTRUCTIVE, RISKY, SAFE, Plan, allowed
from hivehealth.judge.verdict import Verdict

from hivehealth.fixes import drbd as drbd_fixes
from hivehealth.fixes import registry as registry_fixes
from hivehealth.fixes import services as service_fixes
from hivehealth.fixes import swarm as swarm_fixes
from hivehealth.fixes import units as unit_fixes


def site(stage="staging", device_map=None):
    hives = [Server(f"s-hive{i}.lab", frozenset({"hive"} | ({"first_hive"} if i == 0 else set())), "hive")
             for i in range(3)]
    repo = Server("s-hive3.lab", frozenset({"repository"}), "hive")
    return Site("hive", hives + [repo], name="lab", stage=stage, drbd_device_map=device_map or {"ldap_data": 1})


def ctx(s, facts=None, ini=None):
    values = {"service_stable_seconds": "30", "node_down_grace": "600",
              "units_not_needed": ["dnf-makecache.timer", "getty@tty1.service"], **(ini or {})}
    facts = facts or {}
    for srv in s.servers:
        facts.setdefault(srv.name, HostFacts(srv.name))
    return Context(s, facts, lambda name: values[name])


def result(name, out, rc=0):
    return CommandResult(name, name, rc, out, "")


def planner(fixture):
    return fixture.remedy.planner


OUTDATED = "ldap_data role:Secondary\n  disk:Outdated open:no\n  {a} role:Secondary\n    peer-disk:Outdated\n  {b} role:Secondary\n    peer-disk:Outdated\n"
UPTODATE = "ldap_data role:Secondary\n  disk:UpToDate open:no\n  {a} role:Secondary\n    peer-disk:Outdated\n  {b} role:Secondary\n    peer-disk:Outdated\n"


def views(texts):
    names = ["s-hive0.lab", "s-hive1.lab", "s-hive2.lab"]
    out = {}
    for n, t in zip(names, texts):
        others = [o for o in names if o != n]
        out[n] = parse_status_text(t.format(a=others[0], b=others[1]))[0]
    return out


def outdated_verdict(v):
    verdict = Verdict("DRBD resource ldap_data", status="fail")
    verdict.data.update(shape="all-outdated", views=v)
    return verdict


def specs_answered(s, spec=None):
    """The facts of a site whose first manager answered `docker service inspect`."""
    return {"s-hive0.lab": HostFacts("s-hive0.lab", {"service_specs": result("service_specs", spec or LDAP_SPEC)})}


def test_all_outdated_plan_follows_runbook_7_7a():
    s = site()
    plan = planner(drbd_fixes.force_primary_all_outdated)(ctx(s, specs_answered(s)), "ldap_data",
                                                          outdated_verdict(views([OUTDATED] * 3)))
    assert plan.refused is None
    commands = [(st.host, st.command) for st in plan.steps if hasattr(st, "host")]
    assert commands[0] == ("s-hive0.lab", "$SUDO docker service scale -d ldap=0")
    assert commands[1] == ("s-hive0.lab", "$SUDO drbdadm primary --force ldap_data")
    assert commands[2] == ("s-hive0.lab", "$SUDO drbdadm secondary ldap_data")
    assert commands[-1] == ("s-hive0.lab", "$SUDO docker service scale -d ldap=1")
    # no resource-wide reconnect: the watch after primary --force reconnects only a link that
    # did not settle, per connection
    assert not any("disconnect" in c for _, c in commands)


def test_all_outdated_refused_when_no_manager_says_which_service_uses_the_volume():
    plan = planner(drbd_fixes.force_primary_all_outdated)(ctx(site()), "ldap_data",
                                                          outdated_verdict(views([OUTDATED] * 3)))
    assert plan.refused.startswith("cannot tell which service uses ldap_data, which must be stopped "
                                   "first: no manager answered `docker service inspect`: s-hive0.lab: ")
    assert "s-hive2.lab: not asked" in plan.refused


def test_all_outdated_refused_while_a_copy_is_uptodate():
    plan = planner(drbd_fixes.force_primary_all_outdated)(
        ctx(site()), "ldap_data", outdated_verdict(views([OUTDATED, UPTODATE, OUTDATED])))
    assert "s-hive1.lab still has an UpToDate copy" in plan.refused


def test_all_outdated_refused_when_a_copy_cannot_be_seen():
    v = views([OUTDATED] * 3)
    v["s-hive2.lab"] = "unreachable: connect timed out"
    plan = planner(drbd_fixes.force_primary_all_outdated)(ctx(site()), "ldap_data", outdated_verdict(v))
    assert "cannot see every copy (s-hive2.lab: unreachable: connect timed out)" in plan.refused


def test_all_outdated_refused_on_standalone():
    text = "ldap_data role:Secondary\n  disk:Outdated open:no\n  {a} connection:StandAlone\n  {b} role:Secondary\n    peer-disk:Outdated\n"
    plan = planner(drbd_fixes.force_primary_all_outdated)(
        ctx(site()), "ldap_data", outdated_verdict(views([text, OUTDATED, OUTDATED])))
    assert "StandAlone" in plan.refused and "split brain" in plan.refused


def test_split_brain_is_explained_not_fixed():
    text = "ldap_data role:Secondary\n  disk:UpToDate open:no\n  {a} connection:StandAlone\n  {b} role:Secondary\n    peer-disk:UpToDate\n"
    v = views([UPTODATE.replace("Outdated", "UpToDate"), text, text.replace("{a}", "{x}").replace("{b}", "{a}").replace("{x}", "{b}")])
    verdict = Verdict("x", status="fail", data={"shape": "standalone", "views": v})
    plan = planner(drbd_fixes.explain_split_brain)(ctx(site()), "ldap_data", verdict)
    assert "sudo drbdadm connect --discard-my-data ldap_data:s-hive1.lab" in plan.refused
    assert "on the survivor s-hive1.lab: sudo drbdadm connect ldap_data:s-hive2.lab" in plan.refused


LDAP_SPEC = json.dumps({"Name": "ldap", "Mode": {"Replicated": {"Replicas": 1}},
                        "TaskTemplate": {"ContainerSpec": {"Mounts": [{"Type": "volume", "Source": "ldap_data"}]}}})


MOUNT_FAILURE = ("failed to mount local volume: mount /dev/drbd1:/var/lib/docker/volumes/ldap_data/_data: "
                 "invalid argument")
DRBD_SECONDARY = "ldap_data role:Secondary\n  disk:UpToDate open:no\n\n"   # drbdadm ends a resource with a blank line


def findmnt(*mounts):
    rows = [{"target": "/", "source": "/dev/vda1", "fstype": "xfs", "fsroot": "/"}]
    rows += [{"target": t, "source": src, "fstype": "xfs", "fsroot": "/"} for src, t in mounts]
    return result("findmnt", json.dumps({"filesystems": rows}) + "\n")


def hives_seen(drbd=DRBD_SECONDARY, spec=LDAP_SPEC, **more):
    """Facts of every hive: a mount table and DRBD status each (what the xfs guard must see),
    the spec on s-hive0; more: host -> {section: result} on top."""
    facts = {}
    for i in range(3):
        h = f"s-hive{i}.lab"
        results = {"findmnt": findmnt(), "drbd_text": result("drbd_text", drbd)}
        if i == 0:
            results["service_specs"] = result("service_specs", spec)
        results.update(more.get(h, {}))
        facts[h] = HostFacts(h, results)
    return facts


def test_xfs_repair_refused_while_mounted():
    s = site()
    mounted = findmnt(("/dev/drbd1", "/var/lib/docker/volumes/ldap_data/_data"))
    c = ctx(s, hives_seen(**{"s-hive1.lab": {"findmnt": mounted}}))
    verdict = Verdict("service ldap", status="fail", data={"errors": [MOUNT_FAILURE]})
    plan = planner(service_fixes.repair_corrupt_volume)(c, "ldap", verdict)
    assert plan.refused == "/dev/drbd1 is mounted on s-hive1.lab; never repair a mounted filesystem"
    # a mount table that cannot be read does not tell the device is free: nothing is repaired
    c = ctx(s, hives_seen(**{"s-hive1.lab": {"findmnt": result("findmnt", "", rc=1)}}))
    plan = service_fixes.repair_corrupt_volume.remedy.plan(c, "ldap", verdict)
    assert plan.refused == ("cannot see whether /dev/drbd1 is mounted on s-hive1.lab (`findmnt` exited 1): "
                            "never repair a filesystem that may be mounted")


def test_xfs_repair_plan_scales_down_repairs_and_scales_back():
    s = site()
    c = ctx(s, hives_seen())
    verdict = Verdict("service ldap", status="fail", data={"manager": "s-hive0.lab", "errors": [MOUNT_FAILURE]})
    plan = planner(service_fixes.repair_corrupt_volume)(c, "ldap", verdict)
    cmds = [st.command for st in plan.steps]
    assert cmds[0] == "$SUDO docker service scale -d ldap=0"
    assert "xfs_repair /dev/drbd1" in cmds[1] and "/proc/mounts" in cmds[1]
    assert cmds[2] == "$SUDO docker service scale -d ldap=1"


def units_show(*units, **props):
    """`systemctl show -p Id ... -p Upholds` of failed units as systemctl prints it (every
    property named with -p, empty ones too, one blank-line separated block per unit); props:
    unit -> {property: value} on top."""
    blocks = []
    for u in units:
        block = {"Id": u, "Result": "exit-code", "ActiveState": "failed", "SubState": "failed", "LoadState": "loaded",
                 "NRestarts": "0", "Requires": "system.slice sysinit.target", "Requisite": "",
                 "Wants": "network-online.target", "BindsTo": "", "OnFailure": "", "OnSuccess": "", "Upholds": "",
                 "FailureAction": "none", "SuccessAction": "none", "StartLimitAction": "none",
                 "JobTimeoutAction": "none", **props.get(u, {})}
        blocks.append("".join(f"{k}={v}\n" for k, v in block.items() if v is not None))
    return result("units_show", "\n".join(blocks))


def units_ctx(server, *units, **props):
    return ctx(site(), {server: HostFacts(server, {"units_show": units_show(*units, **props)})})


def test_leftover_drbd_unit_is_reset_only_for_deleted_volumes():
    verdict = Verdict("s-hive1.lab", status="fail",
                      data={"failed": ["drbd-resource@old_data.service", "drbd-resource@ldap_data.service"]})
    seen = ctx(site(), {"s-hive1.lab": HostFacts("s-hive1.lab", {"drbd_text": result("drbd_text", DRBD_SECONDARY)})})
    plan = planner(unit_fixes.reset_leftover_drbd_units)(seen, site().servers[1], verdict)
    assert plan.steps[0].command == "$SUDO systemctl reset-failed -- drbd-resource@old_data.service"
    risky = planner(unit_fixes.restart_failed_units)(units_ctx("s-hive1.lab", "drbd-resource@ldap_data.service"),
                                                     site().servers[1], verdict)
    assert [st.command for st in risky.steps] == ["$SUDO systemctl restart -- drbd-resource@ldap_data.service"]
    assert unit_fixes.restart_failed_units.remedy.tier == RISKY


def test_tiers_need_their_flags():
    def config(risky=False, destructive=None):
        return types.SimpleNamespace(option=types.SimpleNamespace(allow_risky=risky, allow_destructive=destructive))
    assert allowed(config(), Plan(tier=SAFE), "staging") is None
    assert allowed(config(), Plan(tier=RISKY), "staging") == "--allow-risky"
    assert allowed(config(risky=True), Plan(tier=RISKY), "staging") is None
    assert allowed(config(risky=True), Plan(tier=DESTRUCTIVE), "staging") == "--allow-destructive"
    assert allowed(config(destructive="yes"), Plan(tier=DESTRUCTIVE), "staging") is None
    assert "--allow-destructive=production" in allowed(config(destructive="yes"), Plan(tier=DESTRUCTIVE), "production")
    assert allowed(config(destructive="production"), Plan(tier=DESTRUCTIVE), "production") is None
    assert registry_fixes.registry_wipe.remedy.tier == DESTRUCTIVE


NODE2 = "k2ib7m5pd1ub3y0wkfhsx6a0q"     # a swarmkit node ID: 25 characters of [0-9a-z]


def _down_node_ctx(updated_ago, reachable_over_ssh=False, leaders=("s-hive0",), down=("s-hive2",)):
    import time
    from datetime import datetime, timezone
    s = site()
    stamp = datetime.fromtimestamp(time.time() - updated_ago, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    nodes = "\n".join(json.dumps({"ID": f"id{i}", "Hostname": f"s-hive{i}", "Status": "Down" if f"s-hive{i}" in down else "Ready",
                                  "Availability": "Active", "ManagerStatus": "Unreachable" if f"s-hive{i}" in down
                                  else ("Leader" if f"s-hive{i}" in leaders else "Reachable"), "Self": i == 0,
                                  "EngineVersion": "26"}) for i in range(3))
    inspect = json.dumps([{"ID": NODE2, "UpdatedAt": stamp, "Spec": {"Role": "manager"},
                           "Description": {"Hostname": "s-hive2"}}])
    facts = {"s-hive0.lab": HostFacts("s-hive0.lab", {"nodes": result("nodes", nodes),
                                                      "nodes_inspect": result("nodes_inspect", inspect)})}
    if not reachable_over_ssh:
        facts["s-hive2.lab"] = HostFacts("s-hive2.lab", unreachable="connect timed out")
    verdict = Verdict("swarm node s-hive2", status="fail", data={"seen": {"s-hive0.lab": ("Down", "Active", "Unreachable")}})
    return ctx(s, facts), verdict


def test_down_node_removal_waits_for_grace():
    c, verdict = _down_node_ctx(60)
    plan = planner(swarm_fixes.remove_down_node)(c, "s-hive2", verdict)
    assert "less than node_down_grace 600 s" in plan.refused


def test_down_node_removal_refused_while_it_answers_ssh():
    c, verdict = _down_node_ctx(3600, reachable_over_ssh=True)
    plan = planner(swarm_fixes.remove_down_node)(c, "s-hive2", verdict)
    assert "still answers over SSH" in plan.refused


def test_down_node_removal_refused_without_quorum():
    c, verdict = _down_node_ctx(3600, down=("s-hive1", "s-hive2"))
    plan = planner(swarm_fixes.remove_down_node)(c, "s-hive2", verdict)
    assert "lost quorum" in plan.refused


def test_down_node_removal_plan_and_rebuild_steps():
    c, verdict = _down_node_ctx(3600)
    plan = planner(swarm_fixes.remove_down_node)(c, "s-hive2", verdict)
    assert [st.command for st in plan.steps] == [f"$SUDO docker node demote {NODE2}", f"$SUDO docker node rm {NODE2}"]
    assert "hive set no_format true" in plan.notes[0] and "hive set no_format false" in plan.notes[0]


STALE = "t4k1pq8zv3m2hx9r6w0ybn5cs"


def _stale_ctx(state="down", role="manager", down=("s-hive2",), stale_ms="Unreachable"):
    """s-hive2 rebuilt: its new entry id2 Ready, its old entry STALE as `state`."""
    s = site()
    rows = [{"ID": f"id{i}", "Hostname": f"s-hive{i}", "Status": "Down" if f"s-hive{i}" in down and i != 2 else "Ready",
             "Availability": "Active", "ManagerStatus": "Leader" if i == 0 else
             ("Unreachable" if f"s-hive{i}" in down and i != 2 else "Reachable"), "Self": i == 0, "EngineVersion": "26"}
            for i in range(3)]
    rows.append({"ID": STALE, "Hostname": "s-hive2", "Status": "Down", "Availability": "Active",
                 "ManagerStatus": stale_ms if role == "manager" else "", "Self": False, "EngineVersion": "26"})
    inspect = json.dumps([{"ID": "id2", "Spec": {"Role": "manager"}, "Status": {"State": "ready"},
                           "Description": {"Hostname": "s-hive2"}},
                          {"ID": STALE, "Spec": {"Role": role}, "Status": {"State": state},
                           "Description": {"Hostname": "s-hive2"}}])
    facts = {"s-hive0.lab": HostFacts("s-hive0.lab", {"nodes": result("nodes", "\n".join(map(json.dumps, rows))),
                                                      "nodes_inspect": result("nodes_inspect", inspect)})}
    return ctx(s, facts)


def _stale_verdict(ids=(STALE,)):
    return Verdict("swarm node s-hive2", status="fail",
                   data={"seen": {"s-hive0.lab": ("Ready", "Active", "Reachable")}, "stale": list(ids)})


def test_stale_entry_of_a_rebuilt_node_is_demoted_and_removed_by_id():
    plan = planner(swarm_fixes.remove_stale_node)(_stale_ctx(), "s-hive2", _stale_verdict())
    assert plan.refused is None
    assert [(st.host, st.command) for st in plan.steps] == [
        ("s-hive0.lab", f"$SUDO docker node demote {STALE}"),
        ("s-hive0.lab", "$SUDO docker node inspect --format '{{if .ManagerStatus}}manager{{else}}worker{{end}}' " + STALE),
        ("s-hive0.lab", f"$SUDO docker node rm {STALE}")]
    assert plan.steps[1].until("worker\n") and not plan.steps[1].until("manager\n")
    assert swarm_fixes.remove_stale_node.remedy.tier == DESTRUCTIVE
    # the Down-node remedy has nothing to do: the server's live entry is Ready
    assert planner(swarm_fixes.remove_down_node)(_stale_ctx(), "s-hive2", _stale_verdict()) is None


def test_stale_worker_entry_is_only_removed():
    plan = planner(swarm_fixes.remove_stale_node)(_stale_ctx(role="worker"), "s-hive2", _stale_verdict())
    assert [st.command for st in plan.steps] == [f"$SUDO docker node rm {STALE}"]


@pytest.mark.parametrize("node_id", ["x; reboot", "T4K1PQ8ZV3M2HX9R6W0YBN5CS", STALE + "a", "$(id)"])
def test_stale_entry_refused_unless_a_node_id(node_id):
    plan = swarm_fixes.remove_stale_node.remedy.plan(_stale_ctx(), "s-hive2", _stale_verdict([node_id]))
    assert plan.steps == [] and plan.refused.startswith(f"swarm node ID {node_id!r} is not a valid name")


def test_stale_entry_refused_unless_down_in_node_inspect():
    plan = planner(swarm_fixes.remove_stale_node)(_stale_ctx(state="ready"), "s-hive2", _stale_verdict())
    assert plan.steps == [] and "not down" in plan.refused


def test_stale_entry_raft_still_calls_reachable_is_not_counted_for_quorum():
    # the lab's rebuilt server: the old entry Down yet "Reachable"; s-hive1 lost as well, so only
    # s-hive0 and the new s-hive2 are up: 2 of 4 managers, no quorum to demote with
    c = _stale_ctx(down=("s-hive1", "s-hive2"), stale_ms="Reachable")
    plan = planner(swarm_fixes.remove_stale_node)(c, "s-hive2", _stale_verdict())
    assert "lost quorum" in plan.refused


def test_stale_entry_refused_without_quorum():
    # s-hive1 also lost: 2 of 4 managers reachable
    plan = planner(swarm_fixes.remove_stale_node)(_stale_ctx(down=("s-hive1", "s-hive2")), "s-hive2", _stale_verdict())
    assert "lost quorum" in plan.refused


def test_second_fixer_waits_then_names_the_holder(tmp_path):
    s = site()
    s.context_dir = str(tmp_path)
    config = types.SimpleNamespace(getini=lambda n: "0.5", rootpath=tmp_path)
    with SiteLock(s, config, "checks/test_drbd.py::test_drbd[ldap_data]", "tester"):
        with pytest.raises(LockTimeout, match=r"fixing checks/test_drbd.py::test_drbd\[ldap_data\]"):
            with SiteLock(s, config, "other", "tester"):
                pass
    with SiteLock(s, config, "after", "tester"):      # released: the next one gets it at once
        pass


def test_redaction_of_secrets(tmp_path):
    (tmp_path / "registry_password").write_text("Zq9xP2mLk7Rt4Ws\n")
    r = Redactor.for_site(types.SimpleNamespace(context_dir=str(tmp_path)))
    text = r("curl -u hive:Zq9xP2mLk7Rt4Ws https://x:5000/v2/ password=abc SWMTKN-1-abc-def")
    assert "Zq9xP2mLk7Rt4Ws" not in text and "abc" not in text.split("password=")[1]
    assert "SWMTKN-1-***" in text


def test_plans_carry_their_remedy_name_and_tier():
    from hivehealth.fixes import disk as disk_fixes
    s = site()
    verdict = Verdict("s-hive0.lab", status="fail")
    plan = disk_fixes.prune_docker.remedy.plan(ctx(s), s.servers[0], verdict)
    assert (plan.remedy, plan.tier) == ("prune_docker", SAFE)
    assert plan.render().startswith("prune_docker [safe]:")
    outdated = drbd_fixes.force_primary_all_outdated.remedy.plan(
        ctx(s), "ldap_data", outdated_verdict(views([OUTDATED] * 3)))
    assert (outdated.remedy, outdated.tier) == ("force_primary_all_outdated", RISKY)


# ---------------------------------------------------------------- names from servers are data
HOSTILE_UNIT = "foo$(touch /tmp/x).service"
CRAFTED = ("failed to mount local volume: mount /dev/drbd1$(touch${IFS}/tmp/x):"
           "/var/lib/docker/volumes/other_data/_data: invalid argument")


def _spec(name="ldap", sources=("ldap_data",), replicas=1):
    return json.dumps({"Name": name, "Mode": {"Replicated": {"Replicas": replicas}},
                       "TaskTemplate": {"ContainerSpec": {"Mounts": [{"Type": "volume", "Source": v} for v in sources]}}})


def _xfs(spec, device_map=None, errors=(CRAFTED,), name="ldap"):
    s = site(device_map=device_map or {"ldap_data": 1, "other_data": 2})
    # drbdadm ends every resource with a blank line
    drbd = "ldap_data role:Secondary\n  disk:UpToDate open:no\n\nother_data role:Secondary\n  disk:UpToDate open:no\n\n"
    c = ctx(s, hives_seen(drbd=drbd, spec=spec))
    verdict = Verdict(f"service {name}", status="fail", data={"manager": "s-hive0.lab", "errors": list(errors)})
    return service_fixes.repair_corrupt_volume.remedy.plan(c, name, verdict)


def test_xfs_device_comes_from_the_spec_volume_in_drbd_device_map_never_from_the_error():
    plan = _xfs(_spec())
    assert plan.refused is None
    repair = plan.steps[1].command
    assert repair == "! grep -q '^/dev/drbd1 ' /proc/mounts && $SUDO xfs_repair /dev/drbd1"
    assert all("touch" not in st.command and "other_data" not in st.command for st in plan.steps)


def test_xfs_remedy_only_for_a_mount_failure():
    assert _xfs(_spec(), errors=["task: non-zero exit (1)"]) is None


@pytest.mark.parametrize("spec,device_map,why", [
    (_spec(sources=()), None, "ldap mounts no volume of the site's drbd_device_map (its volume mounts: none)"),
    (_spec(sources=("cache",)), None, "mounts no volume of the site's drbd_device_map (its volume mounts: cache)"),
    (_spec(sources=("ldap_data", "other_data")), None, "mounts 2 volumes (ldap_data, other_data)"),
    (_spec(), {"ldap_data": "1;reboot"}, "DRBD minor '1;reboot' is not a valid name"),
    (_spec(sources=("all",)), {"all": 1}, "DRBD resource 'all' is not a valid name"),
    ("", None, "no manager gave the spec of ldap"),
])
def test_xfs_remedy_refuses_naming_why(spec, device_map, why):
    plan = _xfs(spec, device_map)
    assert plan.steps == [] and why in plan.refused, plan.refused


def test_xfs_remedy_refuses_a_hostile_service_name():
    plan = _xfs(_spec(name="x;reboot"), name="x;reboot")
    assert plan.refused.startswith("docker service 'x;reboot' is not a valid name")


def test_unit_remedies_refuse_hostile_names_naming_them():
    c = ctx(site(), ini={"units_not_needed": [HOSTILE_UNIT]})
    for fixture, unit in ((unit_fixes.restart_failed_units, HOSTILE_UNIT + "x.service"),
                          (unit_fixes.disable_unneeded_units, HOSTILE_UNIT),
                          (unit_fixes.reset_leftover_drbd_units, "drbd-resource@x$(id).service")):
        verdict = Verdict("s-hive1.lab", status="fail", data={"failed": [unit]})
        plan = fixture.remedy.plan(c, site().servers[1], verdict)
        assert plan.steps == [] and plan.refused.startswith(f"systemd unit {unit!r} is not a valid name"), plan.refused


def test_time_remedy_refuses_a_hostile_timesync_unit():
    from hivehealth.fixes import time as time_fixes
    verdict = Verdict("s-hive1.lab", status="fail", data={"skewed": True, "timesync_unit": "chrony$(id).service"})
    plan = time_fixes.restart_chronyd.remedy.plan(ctx(site()), site().servers[1], verdict)
    assert plan.refused.startswith("systemd unit 'chrony$(id).service' is not a valid name")


@pytest.mark.parametrize("name", ["all", "-x", "a$(id)", "a/b"])
def test_drbd_remedies_refuse_hostile_resource_names(name):
    one_sided = Verdict("x", status="fail", data={"shape": "one-sided", "clean_side": "s-hive1.lab"})
    for fixture, verdict in ((drbd_fixes.reconnect_one_sided, one_sided),
                             (drbd_fixes.force_primary_all_outdated, outdated_verdict(views([OUTDATED] * 3))),
                             (drbd_fixes.explain_split_brain, Verdict("x", status="fail", data={"shape": "standalone"}))):
        plan = fixture.remedy.plan(ctx(site()), name, verdict)
        assert plan.steps == [] and plan.refused.startswith(f"DRBD resource {name!r} is not a valid name"), plan.refused


def test_drbd_one_sided_plan_quotes_nothing_it_need_not():
    verdict = Verdict("x", status="fail", data={"shape": "one-sided", "clean_side": "s-hive1.lab"})
    plan = drbd_fixes.reconnect_one_sided.remedy.plan(ctx(site()), "ldap_data", verdict)
    assert [st.command for st in plan.steps] == ["$SUDO drbdadm disconnect ldap_data && $SUDO drbdadm connect ldap_data",
                                                 "$SUDO drbdadm status ldap_data"]


def test_spread_remedy_refuses_a_hostile_service_name():
    from hivehealth.fixes import spread as spread_fixes
    verdict = Verdict("x", status="fail", data={"manager": "s-hive0.lab", "eligible": ["s-hive0", "s-hive1"],
                                                "nodes": ["s-hive0"]})
    plan = spread_fixes.rebalance_service.remedy.plan(ctx(site()), "web$(id)", verdict)
    assert plan.refused.startswith("docker service 'web$(id)' is not a valid name")
    ok = spread_fixes.rebalance_service.remedy.plan(ctx(site()), "web", verdict)
    assert ok.steps[0].command == "$SUDO docker service update --force --quiet web"


def test_down_node_removal_refuses_a_node_id_outside_swarmkits_grammar():
    c, verdict = _down_node_ctx(3600)
    r = c.host("s-hive0.lab").get("nodes_inspect")
    r.stdout = r.stdout.replace(NODE2, "id2; docker swarm leave --force")
    plan = swarm_fixes.remove_down_node.remedy.plan(c, "s-hive2", verdict)
    assert plan.steps == [] and plan.refused.startswith("swarm node ID 'id2; docker swarm leave --force' is not")


def test_escaped_unit_names_reach_systemctl_unchanged():
    name = "systemd-fsck@dev-disk-by\\x2duuid-6f2b1a7e\\x2d3c4d.service"
    verdict = Verdict("s-hive1.lab", status="fail", data={"failed": [name]})
    risky = planner(unit_fixes.restart_failed_units)(units_ctx("s-hive1.lab", name), site().servers[1], verdict)
    assert [st.command for st in risky.steps] == [f"$SUDO systemctl restart -- '{name}'"]
