"""The DRBD remedies run by the --fix engine against the outputs of the real DRBD 9.2.18 module.

The servers are a directory: stub drbdadm, docker and sudo log their argv; `drbdadm status
<res>` prints what that hive printed in the current recorded state (tests/data/real-drbd-9.2,
see its README.md), and a command the world knows moves it to the state the real module
reached after it (or, where no recording has the state a test needs, to a recorded state with
the one line changed that the test names). The planner, the watches, the audit and the step
scripts are the real ones, run by a real shell.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import hivehealth.plugin  # noqa: F401
from hivehealth.checks.test_drbd import drbd_state
from hivehealth.fixes import drbd as drbd_fixes
from hivehealth.gather.probe import CommandResult, HostFacts
from hivehealth.judge.context import Context
from hivehealth.remedy.audit import operator
from hivehealth.remedy.lock import read_sequence
from hivehealth.remedy import runner
from hivehealth.remedy.runner import RemedyPlugin
from hivehealth.site.inventory import Server, Site

REAL = Path(__file__).resolve().parents[1] / "data" / "real-drbd-9.2"
HIVES = ("s-hive0.lab", "s-hive1.lab", "s-hive2.lab")
LDAP_SPEC = json.dumps({"Name": "ldap", "Mode": {"Replicated": {"Replicas": 1}},
                        "TaskTemplate": {"ContainerSpec": {"Mounts": [{"Type": "volume", "Source": "ldap_data"}]}}})
EMPTY_LOG = "# exit 0\n"       # the kernel log section, read, no split brain in it

STUB = """#!{python}
import json, os, sys
world_path, host = os.environ["HH_WORLD"], os.environ["HH_HOST"]
prog = os.path.basename(sys.argv[0])
with open(world_path) as f:
    world = json.load(f)
args = " ".join(sys.argv[1:])
world["calls"].append([host, prog, args])
state = world["state"]
if prog == "drbdadm" and sys.argv[1] == "status":
    short = host.split(".")[0]
    out = os.path.join(state, f"{{short}}-drbdadm-status-ldap_data.txt")
    if not os.path.exists(out):     # some states recorded `drbdadm status` only (one resource)
        out = os.path.join(state, f"{{short}}-drbdadm-status.txt")
    err = os.path.join(state, f"{{short}}-drbdadm-status-ldap_data.stderr.txt")
    sys.stdout.write(open(out).read())
    if os.path.exists(err):
        sys.stderr.write(open(err).read())
        rc = 10
    else:
        rc = 0
else:
    rc = 0
    nxt = world["moves"].get(f"{{host}}|{{prog}} {{args}}")
    if nxt:
        world["state"] = nxt
with open(world_path, "w") as f:
    json.dump(world, f)
sys.exit(rc)
"""
INI = {"command_timeout": "10", "fix_lock_wait": "5", "report_dir": "reports", "service_stable_seconds": "30"}


def constructed(tmp_path, state: str, changes: dict[str, tuple[str, str]]) -> str:
    """A copy of a recorded state with one line changed per hive: {short host: (old, new)}."""
    out = tmp_path / f"{state}-changed"
    shutil.copytree(REAL / state, out)
    for short, (old, new) in changes.items():
        for name in ("drbdadm-status.txt", "drbdadm-status-ldap_data.txt"):
            f = out / f"{short}-{name}"
            text = f.read_text()
            assert old in text, (short, old)
            f.write_text(text.replace(old, new))
    return str(out)


class World:
    def __init__(self, tmp_path, state: str, moves: dict[str, str]):
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for name in ("drbdadm", "docker"):
            (self.bin / name).write_text(STUB.format(python=sys.executable))
            (self.bin / name).chmod(0o755)
        (self.bin / "sudo").write_text('#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n')
        (self.bin / "sudo").chmod(0o755)
        self.path = tmp_path / "world.json"
        self.path.write_text(json.dumps({"state": self.dir(state), "moves": {k: self.dir(v) for k, v in moves.items()},
                                         "calls": []}))

    @staticmethod
    def dir(state: str) -> str:
        return state if os.path.isabs(state) else str(REAL / state)

    @property
    def state(self) -> str:
        return json.loads(self.path.read_text())["state"]

    def actions(self) -> list[tuple[str, str]]:
        """Every command that is not a status read: (host, command)."""
        return [(h, f"{prog} {args}") for h, prog, args in json.loads(self.path.read_text())["calls"]
                if not args.startswith("status")]

    def run(self, server, script, timeout):
        env = dict(os.environ, PATH=f"{self.bin}:{os.environ['PATH']}", HH_WORLD=str(self.path), HH_HOST=server.name)
        p = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=timeout)
        return types.SimpleNamespace(rc=p.returncode, stdout=p.stdout, stderr=p.stderr)


class Fixer:
    """One `hive-health --fix --allow-risky -k drbd` process on the world."""

    def __init__(self, world: World, tmp_path):
        (tmp_path / "ctx").mkdir(exist_ok=True)
        self.site = Site("hive", [Server(h, frozenset({"hive"} | ({"first_hive"} if h == HIVES[0] else set())), "hive")
                                  for h in HIVES], name="lab", stage="staging", context_dir=str(tmp_path / "ctx"),
                         drbd_device_map={"ldap_data": 1})
        self.world, self.pool = world, world
        self.config = types.SimpleNamespace(
            option=types.SimpleNamespace(fix_plan=False, allow_risky=True, allow_destructive=None),
            getini=lambda n: INI[n], inipath=tmp_path / "pytest.ini", stash={},
            pluginmanager=types.SimpleNamespace(hasplugin=lambda name: False))
        self.plugin = RemedyPlugin(self.config, self, operator())
        self.plugin.facts_seq = read_sequence(tmp_path / "ctx")
        self.facts = {}
        self.regather(self.site.servers)
        self.log = None

    def context(self):
        return Context(self.site, self.facts, self.config.getini)

    def regather(self, servers):
        state = Path(self.world.state)
        for s in servers:
            text = (state / f"{s.name.split('.')[0]}-drbdadm-status.txt").read_text()
            results = {"drbd_text": CommandResult("drbd_text", "drbdadm status", 0, text, ""),
                       "drbd_kernel_log": CommandResult("drbd_kernel_log", "journalctl -k", 0, EMPTY_LOG, "")}
            if s.name == HIVES[0]:
                results["service_specs"] = CommandResult("service_specs", "docker service inspect", 0, LDAP_SPEC, "")
            self.facts[s.name] = HostFacts(s.name, results)

    def fix(self):
        sections = []
        request = types.SimpleNamespace(
            node=types.SimpleNamespace(nodeid="checks/test_drbd.py::test_drbd[ldap_data]",
                                       add_report_section=lambda *a: sections.append(a[2]), user_properties=[]),
            getfixturevalue=lambda name: getattr(drbd_fixes, name).remedy)
        verdict = self.context().judge(drbd_state, "ldap_data")
        after = self.plugin.remedy(request, self, drbd_state, "ldap_data", verdict)
        self.log = "\n".join(sections)
        return verdict, after


def audit(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "reports" / "audit.jsonl").read_text().splitlines()]


@pytest.fixture(autouse=True)
def quick_watches(monkeypatch):
    # the recorded states do not move by themselves: no pause between reads, none to settle
    monkeypatch.setattr(drbd_fixes, "SETTLE_WAIT", 6)
    monkeypatch.setattr(runner.time, "sleep", lambda seconds: None)


def test_all_outdated_on_the_real_module_forces_and_reconnects_nothing(tmp_path):
    # the real module after `primary --force` on all-Outdated: all three UpToDate, every link
    # Connected/Established at once; the remedy reconnects nothing (the runbook's reconnects
    # are what split-brained s-hive1 and s-hive2 once on it)
    world = World(tmp_path, "15-all-outdated", {
        "s-hive0.lab|drbdadm primary --force ldap_data": "15-all-outdated-after-primary-force",
        "s-hive0.lab|drbdadm secondary ldap_data": "03-healthy-all-secondary"})
    before, after = Fixer(world, tmp_path).fix()
    assert before.data["shape"] == "all-outdated"
    assert after.ok, after.message()
    assert world.actions() == [("s-hive0.lab", "docker service scale -d ldap=0"),
                               ("s-hive0.lab", "drbdadm primary --force ldap_data"),
                               ("s-hive0.lab", "drbdadm secondary ldap_data"),
                               ("s-hive0.lab", "docker service scale -d ldap=1")]
    reads = [e for e in audit(tmp_path) if e["command"] == "sudo drbdadm status ldap_data"]
    # every watch read every hive: before primary --force, after it, after secondary
    assert [e["host"] for e in reads] == list(HIVES) * 3


def test_all_outdated_stops_at_a_split_brain_before_anything_else_runs(tmp_path):
    # the state the runbook's reconnects left on the real module (s-hive1 <-> s-hive2 StandAlone
    # by split brain), reached right after primary --force: nothing runs after the read that saw it
    world = World(tmp_path, "15-all-outdated", {
        "s-hive0.lab|drbdadm primary --force ldap_data":
            "15-all-outdated-after-primary-force-then-runbook-reconnects"})
    fixer = Fixer(world, tmp_path)
    _, after = fixer.fix()
    assert not after.ok
    assert world.actions() == [("s-hive0.lab", "docker service scale -d ldap=0"),
                               ("s-hive0.lab", "drbdadm primary --force ldap_data")]
    note = next(n for n in after.notes if n.startswith("--fix: force_primary_all_outdated stopped before its next step:"))
    assert "a link went StandAlone" in note
    assert "Split brain between s-hive1.lab and s-hive2.lab" in note
    assert ("On the victim s-hive2.lab: sudo drbdadm disconnect ldap_data:s-hive1.lab; sudo drbdadm "
            "secondary ldap_data; sudo drbdadm connect --discard-my-data ldap_data:s-hive1.lab. Then on the "
            "survivor s-hive1.lab: sudo drbdadm connect ldap_data:s-hive2.lab") in note
    assert "stopped: " in fixer.log


def test_all_outdated_reconnects_only_the_link_that_did_not_come_up(tmp_path):
    # constructed from the real after-force state: the s-hive1 <-> s-hive2 link shows Connecting
    # on both ends; reconnecting it from s-hive1 (per connection) gives the recorded settled state
    stuck = constructed(tmp_path, "15-all-outdated-after-primary-force", {
        "s-hive1": ("  s-hive2.lab role:Secondary\n    peer-disk:UpToDate\n", "  s-hive2.lab connection:Connecting\n"),
        "s-hive2": ("  s-hive1.lab role:Secondary\n    peer-disk:UpToDate\n", "  s-hive1.lab connection:Connecting\n")})
    world = World(tmp_path, "15-all-outdated", {
        "s-hive0.lab|drbdadm primary --force ldap_data": stuck,
        "s-hive1.lab|drbdadm connect ldap_data:s-hive2.lab": "15-all-outdated-after-primary-force",
        "s-hive0.lab|drbdadm secondary ldap_data": "03-healthy-all-secondary"})
    _, after = Fixer(world, tmp_path).fix()
    assert after.ok, after.message()
    assert world.actions()[2:4] == [("s-hive1.lab", "drbdadm disconnect ldap_data:s-hive2.lab"),
                                    ("s-hive1.lab", "drbdadm connect ldap_data:s-hive2.lab")]
    assert not any(h == "s-hive2.lab" for h, _ in world.actions())


def test_one_sided_standalone_is_connected_on_its_standalone_end(tmp_path):
    # real state 09: s-hive2 ran `drbdadm disconnect ldap_data:s-hive0.lab`; connecting that link
    # on s-hive2 is what fixed it on the real module (state 08 is the cluster reconnected)
    world = World(tmp_path, "09-one-sided-standalone", {
        "s-hive2.lab|drbdadm connect ldap_data:s-hive0.lab": "08-reconnected-after-disconnect"})
    before, after = Fixer(world, tmp_path).fix()
    assert before.data["shape"] == "disconnected"
    assert after.ok, after.message()
    assert world.actions() == [("s-hive2.lab", "drbdadm connect ldap_data:s-hive0.lab")]


def test_one_sided_standalone_stops_when_the_handshake_finds_a_split_brain(tmp_path):
    # the connect made DRBD's handshake drop the link on both ends (constructed from state 09:
    # s-hive0's end of the link StandAlone too): stop, with the guidance, nothing discarded
    both = constructed(tmp_path, "09-one-sided-standalone", {
        "s-hive0": ("  s-hive2.lab connection:Connecting\n", "  s-hive2.lab connection:StandAlone\n")})
    world = World(tmp_path, "09-one-sided-standalone", {"s-hive2.lab|drbdadm connect ldap_data:s-hive0.lab": both})
    _, after = Fixer(world, tmp_path).fix()
    assert not after.ok
    assert world.actions() == [("s-hive2.lab", "drbdadm connect ldap_data:s-hive0.lab")]
    note = next(n for n in after.notes if n.startswith("--fix: reconnect_disconnected stopped before its next step:"))
    assert "Split brain between s-hive0.lab and s-hive2.lab" in note
    assert "Suggested victim: s-hive2.lab (s-hive0.lab is the Primary, serving the application)" in note
    assert "on the survivor s-hive0.lab: sudo drbdadm connect ldap_data:s-hive2.lab" in note


def test_a_hive_gone_unreadable_during_the_remedy_stops_it(tmp_path):
    # real state 16 (the resource down on s-hive1) right after primary --force
    world = World(tmp_path, "15-all-outdated", {
        "s-hive0.lab|drbdadm primary --force ldap_data": "16-resource-down-on-one-node"})
    _, after = Fixer(world, tmp_path).fix()
    assert not after.ok
    assert world.actions()[-1] == ("s-hive0.lab", "drbdadm primary --force ldap_data")
    note = next(n for n in after.notes if "stopped before its next step:" in n)
    assert "s-hive1.lab: resource ldap_data is not up" in note


def test_a_resync_that_does_not_end_is_waited_for_then_given_up_before_secondary(tmp_path, monkeypatch):
    # real state 12 (a resync running) that never moves: the watch reads every hive until its
    # bound, then the remedy stops; secondary and the service start never run
    monkeypatch.setattr(drbd_fixes, "SETTLE_WAIT", 1)
    world = World(tmp_path, "15-all-outdated", {"s-hive0.lab|drbdadm primary --force ldap_data": "12-resync-running"})
    _, after = Fixer(world, tmp_path).fix()
    assert not after.ok
    assert world.actions()[-1] == ("s-hive0.lab", "drbdadm primary --force ldap_data")
    note = next(n for n in after.notes if "stopped before its next step:" in n)
    assert note.startswith("--fix: force_primary_all_outdated stopped before its next step: gave up after 1 s waiting for")
    assert "s-hive0.lab -> s-hive2.lab: replication:PausedSyncS peer-disk:Inconsistent" in note


def test_split_brain_guidance_on_the_real_states_names_both_nodes_per_connection(tmp_path):
    world = World(tmp_path, "14-split-brain-resolved", {})
    fixer = Fixer(world, tmp_path)
    # state 14 with no kernel log read: not told apart, both readings given
    for n in HIVES:
        del fixer.facts[n].results["drbd_kernel_log"]
    verdict = fixer.context().judge(drbd_state, "ldap_data")
    plan = drbd_fixes.explain_split_brain.remedy.plan(fixer.context(), "ldap_data", verdict)
    assert verdict.data["shape"] == "standalone"
    assert ("if the link s-hive0.lab <-> s-hive2.lab was disconnected by hand, `sudo drbdadm connect "
            "ldap_data:s-hive2.lab` on s-hive0.lab reconnects it") in plan.refused
    assert ("On the victim s-hive2.lab: sudo drbdadm disconnect ldap_data:s-hive0.lab; sudo drbdadm "
            "secondary ldap_data; sudo drbdadm connect --discard-my-data ldap_data:s-hive0.lab. Then on "
            "the survivor s-hive0.lab: sudo drbdadm connect ldap_data:s-hive2.lab") in plan.refused
    # the resource-wide survivor command the real module refused with (125) is not given
    assert "sudo drbdadm connect ldap_data " not in plan.refused + " "
    assert not world.actions()
