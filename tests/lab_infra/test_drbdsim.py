"""The lab's DRBD stand-in (lab/files/drbdsim.py) against recorded real drbd-utils outputs.

No lab needed: the stand-in runs as a subprocess on a state file in a temp dir.  The grammar
used to check its text output is first checked against the real samples, so it is a real
grammar and not one made to fit the stand-in.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / "lab" / "files" / "drbdsim.py"
# real drbd-utils outputs, each with its source in SOURCES.md there
SAMPLES = REPO / "tests" / "data" / "samples"
# outputs of the real DRBD 9.2.18 module / drbd-utils 9.22, per state (README.md there)
REAL = REPO / "tests" / "data" / "real-drbd-9.2"
NODES = ["s-hive0.lab", "s-hive1.lab", "s-hive2.lab"]

sys.path.insert(0, str(SIM.parent))
import drbdsim  # noqa: E402

# drbd-utils 9 text grammar (non-verbose `drbdadm status`, single volume, no statistics)
RES_LINE = re.compile(r"^(\S+) role:(Primary|Secondary|Unknown)( suspended:\S+)?$")
DEV_LINE = re.compile(r"^  disk:(\w+)( client:(yes|no))?( quorum:(yes|no))?$")
CONN_LINE = re.compile(r"^  (\S+) (connection:(\w+)|role:(\w+))"
                       r"( congested:yes ap-in-flight:\d+ rs-in-flight:\d+)?$")
PDEV_LINE = re.compile(r"^    (replication:(\w+) )?peer-disk:(\w+)( peer-client:(yes|no))?"
                       r"( done:\d+\.\d\d)?( resync-suspended:\S+)?$")
# drbd-utils wraps at 80 columns: a continuation line of a peer device is indented by 8
PDEV_CONT = re.compile(r"^        resync-suspended:\S+$")


def check_text(text):
    """Every line of a `drbdadm status` output parses; returns the parsed resources."""
    resources = []
    for block in [b for b in text.split("\n\n") if b.strip()]:
        lines = [ln for ln in block.split("\n") if ln not in ("----", "")]
        m = RES_LINE.match(lines[0])
        assert m, lines[0]
        res = {"name": m.group(1), "role": m.group(2), "peers": {}}
        assert DEV_LINE.match(lines[1]), lines[1]
        res["disk"] = DEV_LINE.match(lines[1]).group(1)
        peer = None
        for ln in lines[2:]:
            if PDEV_CONT.match(ln):
                continue
            if CONN_LINE.match(ln):
                cm = CONN_LINE.match(ln)
                peer = cm.group(1)
                res["peers"][peer] = {"cstate": cm.group(3) or "Connected", "role": cm.group(4)}
            else:
                pm = PDEV_LINE.match(ln)
                assert pm and peer, ln
                res["peers"][peer].update(repl=pm.group(2) or "Established", pdisk=pm.group(3))
        resources.append(res)
    return resources


SINGLE_VOLUME_SAMPLES = [
    "all-outdated-3node.txt", "inconsistent-peer-connecting-2node.txt",
    "primary-3node-healthy-linstor-k8s.txt", "primary-syncsource-peer-inconsistent-done96.txt",
    "primary-wfbitmaps-peer-consistent.txt", "secondary-2node-peer-primary.txt",
    "secondary-3node-uptodate-peer-primary.txt", "secondary-uptodate-after-sync-2node.txt",
    "standalone-primary-2node-splitbrain-side-b.txt", "standalone-secondary-2node-splitbrain-side-a.txt",
    "synctarget-done-2node.txt", "uptodate-quorum-no-peers-connecting.txt",
]


@pytest.mark.parametrize("name", SINGLE_VOLUME_SAMPLES)
def test_grammar_parses_real_samples(name):
    path = SAMPLES / "drbdadm-status" / name
    assert check_text(path.read_text())


@pytest.mark.parametrize("path", sorted(p.relative_to(REAL) for p in REAL.glob("*/*-drbdadm-status.txt")
                                        if "No currently" not in p.read_text()), ids=str)
def test_grammar_parses_the_real_92_outputs(path):
    assert check_text((REAL / path).read_text())


# ---------------------------------------------------------------- running the stand-in
class Sim:
    def __init__(self, tmp):
        self.tmp = tmp
        self.state = tmp / "state.json"
        conf = tmp / "drbd.d"
        conf.mkdir()
        (conf / "ldap_data.res").write_text("resource ldap_data {\n}\n")
        res = drbdsim.new_resource("ldap_data", 1, NODES, size_kib=327680,
                                   addresses={n: f"10.0.0.{i + 10}" for i, n in enumerate(NODES)})
        res["sync_seconds"] = 1.0
        self.state.write_text(json.dumps({"resources": {"ldap_data": res}}))
        self.now = 1_800_000_000.0
        self.env = dict(os.environ, DRBD_SIM_STATE=str(self.state), DRBD_SIM_CONF=str(conf),
                        DRBD_SIM_NO_MKNOD="1", DRBD_SIM_NO_MOUNTCHECK="1", DRBD_SIM_ROOT_OK="1")

    def run(self, node, tool, *args):
        # the stand-in's clock is the test's (DRBD_SIM_NOW): a resync takes exactly as long
        # as the test says, however slowly the machine runs the commands
        env = dict(self.env, DRBD_SIM_NODE=node, DRBD_SIM_NOW=repr(self.now))
        return subprocess.run([sys.executable, str(SIM), tool, *args], env=env,
                              capture_output=True, text=True)

    def ok(self, node, tool, *args):
        r = self.run(node, tool, *args)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def edit(self, fn):
        with drbdsim.Locked(str(self.state)) as st:
            fn(st["resources"]["ldap_data"])


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path)
    s.edit(lambda r: r["local"]["s-hive1.lab"].update(open=True))   # ldap runs on hive1
    s.ok("s-hive0.lab", "drbdadm", "status")    # first settle: all connections established
    return s


def test_healthy_text_exact(sim):
    out = sim.ok("s-hive1.lab", "drbdadm", "status", "ldap_data")
    assert out == ("ldap_data role:Primary\n"
                   "  disk:UpToDate\n"
                   "  s-hive0.lab role:Secondary\n"
                   "    peer-disk:UpToDate\n"
                   "  s-hive2.lab role:Secondary\n"
                   "    peer-disk:UpToDate\n"
                   "\n")
    other = check_text(sim.ok("s-hive0.lab", "drbdadm", "status"))[0]
    assert other["role"] == "Secondary" and other["peers"]["s-hive1.lab"]["role"] == "Primary"


def _keys_in_order(text, indent):
    return re.findall(r'^' + " " * indent + r'"([^"]+)":', text, re.M)


def test_json_layout_matches_drbd_utils_922(sim):
    out = sim.ok("s-hive1.lab", "drbdsetup", "status", "--json", "ldap_data")
    doc = json.loads(out)
    # the real 9.22 output of a healthy Primary (no "open", "tls" nor "paths": 9.22 prints none)
    real_text = (REAL / "02-healthy-primary-mounted" / "s-hive0-drbdsetup-status-json.txt").read_text()
    real = json.loads(real_text)
    for indent in (2, 6, 10):
        assert _keys_in_order(out, indent) == _keys_in_order(real_text, indent)
    assert list(doc[0]["devices"][0]) == list(real[0]["devices"][0])
    assert list(doc[0]["connections"][0]) == list(real[0]["connections"][0])
    assert list(doc[0]["connections"][0]["peer_devices"][0]) == \
        list(real[0]["connections"][0]["peer_devices"][0])
    assert not {"open", "tls", "paths"} & set(re.findall(r'"([^"]+)":', out))
    # raw drbdsetup layout quirks: trailing space after "Connected", and "} ]," closers
    assert '"connection-state": "Connected", \n' in out
    assert "    } ],\n  \"connections\": [\n" in out
    assert out.endswith("]\n\n")
    assert '"percent-in-sync": 100.00' in out
    assert doc[0]["role"] == "Primary"
    assert {c["name"] for c in doc[0]["connections"]} == {"s-hive0.lab", "s-hive2.lab"}


def test_older_json_samples_are_a_subset(sim):
    out = json.loads(sim.ok("s-hive0.lab", "drbdsetup", "status", "--json"))
    for name in ["primary-2node-connected-uptodate.json", "secondary-2node-connected-uptodate.json"]:
        p = SAMPLES / "drbdsetup-status-json" / name
        s = json.loads(p.read_text())
        assert set(s[0]) <= set(out[0])
        assert set(s[0]["devices"][0]) <= set(out[0]["devices"][0])
        assert set(s[0]["connections"][0]) <= set(out[0]["connections"][0])
        assert set(s[0]["connections"][0]["peer_devices"][0]) <= \
            set(out[0]["connections"][0]["peer_devices"][0])


def test_no_such_resource_and_not_defined(sim):
    sim.ok("s-hive2.lab", "drbdadm", "down", "ldap_data")
    r = sim.run("s-hive2.lab", "drbdsetup", "status", "ldap_data")
    assert r.returncode == 10 and r.stderr == "ldap_data: No such resource\n"
    r = sim.run("s-hive2.lab", "drbdadm", "status", "ldap_data")
    assert r.returncode == 10 and r.stdout == "# No currently configured DRBD found.\n"
    assert r.stderr == ("ldap_data: No such resource\n"
                        "Command 'drbdsetup status ldap_data' terminated with exit code 10\n")
    r = sim.run("s-hive2.lab", "drbdsetup", "status", "--json", "ldap_data")
    assert r.returncode == 10 and r.stdout == "[\n]\n\n" and json.loads(r.stdout) == []
    r = sim.run("s-hive2.lab", "drbdadm", "adjust", "old_data")
    assert r.returncode == 1
    assert r.stderr == "'old_data' not defined in your config (for this host).\n"
    # the peers see the downed node as Connecting, with no peer-device line
    peers = check_text(sim.ok("s-hive0.lab", "drbdadm", "status", "ldap_data"))[0]["peers"]
    assert peers["s-hive2.lab"] == {"cstate": "Connecting", "role": None}
    j = json.loads(sim.ok("s-hive0.lab", "drbdsetup", "status", "--json", "ldap_data"))
    c = [c for c in j[0]["connections"] if c["name"] == "s-hive2.lab"][0]
    assert (c["connection-state"], c["peer-role"]) == ("Connecting", "Unknown")
    # it left a Primary: Outdated, and its peers remember that (as on the real module)
    assert c["peer_devices"][0]["peer-disk-state"] == "Outdated"
    # up again: Outdated -> resync of what the Primary wrote meanwhile -> UpToDate
    sim.ok("s-hive2.lab", "drbdadm", "up", "ldap_data")
    me = check_text(sim.ok("s-hive2.lab", "drbdadm", "status", "ldap_data"))[0]
    assert me["disk"] == "Inconsistent"
    assert me["peers"]["s-hive0.lab"]["repl"] == "SyncTarget" or \
        me["peers"]["s-hive1.lab"]["repl"] == "SyncTarget"
    sim.now += 1.2
    assert check_text(sim.ok("s-hive2.lab", "drbdadm", "status", "ldap_data"))[0]["disk"] == "UpToDate"


def test_all_outdated_runbook_7_7a(sim):
    def outdate(res):
        for n in NODES:
            res["local"][n].update(disk="Outdated", open=False, primary=False)
    sim.edit(outdate)
    sample = SAMPLES / "drbdadm-status" / "all-outdated-3node.txt"
    got = check_text(sim.ok("s-hive0.lab", "drbdadm", "status", "ldap_data"))[0]
    assert got["disk"] == "Outdated" and all(p["pdisk"] == "Outdated" for p in got["peers"].values())
    want = check_text(sample.read_text())[0]
    assert sorted(p["pdisk"] for p in want["peers"].values()) == \
        sorted(p["pdisk"] for p in got["peers"].values())
    r = sim.run("s-hive0.lab", "drbdadm", "primary", "ldap_data")
    assert r.returncode == 17 and r.stderr == (
        "ldap_data: State change failed: (-2) Need access to UpToDate data\n"
        "Command 'drbdsetup primary ldap_data' terminated with exit code 17\n")
    sim.ok("s-hive0.lab", "drbdadm", "primary", "--force", "ldap_data")
    # as on the real module: the connected Outdated peers are UpToDate at once, no resync
    for n in NODES:
        v = check_text(sim.ok(n, "drbdadm", "status", "ldap_data"))[0]
        assert v["disk"] == "UpToDate" and {p["pdisk"] for p in v["peers"].values()} == {"UpToDate"}
    # the runbook's disconnect && connect on the others: each leaves Outdated, comes back
    # through a resync of what the Primary wrote meanwhile (here nothing)
    for n in ("s-hive1.lab", "s-hive2.lab"):
        sim.ok(n, "drbdadm", "disconnect", "ldap_data")
        assert check_text(sim.ok(n, "drbdadm", "status", "ldap_data"))[0]["disk"] == "Outdated"
        sim.ok(n, "drbdadm", "connect", "ldap_data")
    src = sim.ok("s-hive0.lab", "drbdadm", "status", "ldap_data")
    # nothing to copy: SyncSource without done: until the state change (as the real one shows)
    assert "    replication:SyncSource peer-disk:Inconsistent\n" in src
    tgt = check_text(sim.ok("s-hive1.lab", "drbdadm", "status", "ldap_data"))[0]
    assert tgt["disk"] == "Inconsistent" and tgt["peers"]["s-hive0.lab"]["repl"] == "SyncTarget"
    sim.now += 1.2
    sim.ok("s-hive0.lab", "drbdadm", "secondary", "ldap_data")
    for n in NODES:
        v = check_text(sim.ok(n, "drbdadm", "status", "ldap_data"))[0]
        assert v["role"] == "Secondary" and v["disk"] == "UpToDate"
        assert all(p["pdisk"] == "UpToDate" and p["repl"] == "Established" for p in v["peers"].values())


def test_wfbitmaps_one_sided_runbook_7_7b(sim):
    sim.edit(lambda r: r["stuck"].update({"s-hive1.lab>s-hive0.lab":
                                          {"repl": "WFBitMapS", "pdisk": "Consistent"}}))
    out = sim.ok("s-hive1.lab", "drbdadm", "status", "ldap_data")
    assert "  s-hive0.lab role:Secondary\n    replication:WFBitMapS peer-disk:Consistent\n" in out
    sample = SAMPLES / "drbdadm-status" / "primary-wfbitmaps-peer-consistent.txt"
    want = check_text(sample.read_text())[0]
    got = check_text(out)[0]
    assert want["role"] == got["role"] == "Primary"
    assert sorted((p["repl"], p["pdisk"]) for p in want["peers"].values()) == \
        sorted((p["repl"], p["pdisk"]) for p in got["peers"].values())
    assert "WFBitMapS" not in sim.ok("s-hive0.lab", "drbdadm", "status", "ldap_data")
    sim.ok("s-hive0.lab", "drbdadm", "disconnect", "ldap_data")
    sim.ok("s-hive0.lab", "drbdadm", "connect", "ldap_data")
    assert "WFBitMapS" not in sim.ok("s-hive1.lab", "drbdadm", "status", "ldap_data")


def test_split_brain_standalone(sim):
    # made as on the real module: s-hive2 isolated, forced Primary without quorum, reconnected
    sim.ok("s-hive2.lab", "drbdadm", "disconnect", "ldap_data")
    me = check_text(sim.ok("s-hive2.lab", "drbdadm", "status", "ldap_data"))[0]
    assert me["disk"] == "Outdated"
    sim.ok("s-hive2.lab", "drbdadm", "primary", "--force", "ldap_data")
    sim.ok("s-hive2.lab", "drbdadm", "secondary", "ldap_data")
    sim.ok("s-hive2.lab", "drbdadm", "connect", "ldap_data")
    a = check_text(sim.ok("s-hive1.lab", "drbdadm", "status", "ldap_data"))[0]
    b = check_text(sim.ok("s-hive2.lab", "drbdadm", "status", "ldap_data"))[0]
    assert a["peers"]["s-hive2.lab"]["cstate"] == b["peers"]["s-hive1.lab"]["cstate"] == "StandAlone"
    # the third node keeps the Outdated victim connected, without resync
    assert b["disk"] == "Outdated" and b["peers"]["s-hive0.lab"]["cstate"] == "Connected"
    # plain connect on both sides: split brain detected again
    sim.ok("s-hive1.lab", "drbdadm", "connect", "ldap_data:s-hive2.lab")
    sim.ok("s-hive2.lab", "drbdadm", "connect", "ldap_data:s-hive1.lab")
    a = check_text(sim.ok("s-hive1.lab", "drbdadm", "status", "ldap_data"))[0]
    assert a["peers"]["s-hive2.lab"]["cstate"] == "StandAlone"
    # the victim discards its data; the survivor's whole-resource connect fails on its
    # connection that is up, the one to the victim works
    sim.ok("s-hive2.lab", "drbdadm", "disconnect", "ldap_data")
    sim.ok("s-hive2.lab", "drbdadm", "secondary", "ldap_data")
    sim.ok("s-hive2.lab", "drbdadm", "connect", "--discard-my-data", "ldap_data")
    r = sim.run("s-hive1.lab", "drbdadm", "connect", "ldap_data")
    assert r.returncode == 10 and r.stderr == (
        "ldap_data: Failure: (125) Device has a net-config (use disconnect first)\n"
        "Command 'drbdsetup connect ldap_data 0' terminated with exit code 10\n")
    sim.ok("s-hive1.lab", "drbdadm", "connect", "ldap_data:s-hive2.lab")
    b = check_text(sim.ok("s-hive2.lab", "drbdadm", "status", "ldap_data"))[0]
    assert b["disk"] == "Inconsistent" and b["peers"]["s-hive1.lab"]["repl"] == "SyncTarget"
    sim.now += 1.2
    b = check_text(sim.ok("s-hive2.lab", "drbdadm", "status", "ldap_data"))[0]
    assert b["disk"] == "UpToDate"
    assert all(p["cstate"] == "Connected" for p in b["peers"].values())


def test_held_open_refuses_secondary_and_down(sim):
    for cmd in ("secondary", "down"):
        r = sim.run("s-hive1.lab", "drbdadm", cmd, "ldap_data")
        assert r.returncode == 11 and "(-12) Device is held open by someone" in r.stderr


def test_quorum_lost_is_shown(sim):
    sim.edit(lambda r: [r["local"][n].update(up=False) for n in ("s-hive0.lab", "s-hive2.lab")])
    out = sim.ok("s-hive1.lab", "drbdadm", "status", "ldap_data")
    assert "  disk:UpToDate quorum:no\n" in out
    assert json.loads(sim.ok("s-hive1.lab", "drbdsetup", "status", "--json"))[0]["devices"][0]["quorum"] is False


def test_stale_heartbeat_means_peer_gone(sim):
    sim.edit(lambda r: r["local"]["s-hive2.lab"].update(hb=sim.now - 60))
    out = check_text(sim.ok("s-hive1.lab", "drbdadm", "status", "ldap_data"))[0]
    assert out["peers"]["s-hive2.lab"]["cstate"] == "Connecting"
    with drbdsim.Locked(str(sim.state), write=False) as st:
        res = st["resources"]["ldap_data"]
        # its own copy is as it was when it went (UpToDate); the Primary moved to a new
        # generation, so it resyncs when it is back
        assert res["local"]["s-hive2.lab"]["disk"] == "UpToDate"
        assert res["local"]["s-hive2.lab"]["gen"] in res["local"]["s-hive1.lab"]["hist"]
    sim.edit(lambda r: r["local"]["s-hive2.lab"].update(hb=None))
    me = check_text(sim.ok("s-hive2.lab", "drbdadm", "status", "ldap_data"))[0]
    assert me["disk"] == "Inconsistent" and me["peers"]["s-hive1.lab"]["repl"] == "SyncTarget"


def test_needs_root(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRBD_SIM")}
    if os.geteuid() == 0:
        pytest.skip("running as root")
    r = subprocess.run([sys.executable, str(SIM), "drbdadm", "status"], env=env,
                       capture_output=True, text=True)
    assert r.returncode != 0


def test_resync_figures_follow_drbdsetup(sim):
    # an Outdated copy resyncs only part of the device: drbdsetup's done: (and JSON
    # "percent-resync-done") is the share of THIS resync copied, percent-in-sync the share of
    # the whole device; the two differ, and text and JSON print the same done figure
    sim.ok("s-hive2.lab", "drbdadm", "disconnect", "ldap_data")
    sim.edit(lambda r: r["oos"].update({"s-hive1.lab>s-hive2.lab": 327680 // 8,
                                        "s-hive0.lab>s-hive2.lab": 327680 // 8}))
    sim.ok("s-hive2.lab", "drbdadm", "connect", "ldap_data")
    sim.edit(lambda r: [s.update(duration=1000000.0, elapsed=499975.0, last=sim.now)
                        for s in r["syncs"]])
    out = sim.ok("s-hive2.lab", "drbdadm", "status", "ldap_data")
    done = float(re.search(r"replication:SyncTarget peer-disk:UpToDate done:(\d+\.\d\d)", out).group(1))
    j = json.loads(sim.ok("s-hive2.lab", "drbdsetup", "status", "--json", "ldap_data"))
    pd = next(c["peer_devices"][0] for c in j[0]["connections"]
              if c["peer_devices"][0]["replication-state"] == "SyncTarget")
    assert pd["has-sync-details"] is True and pd["rs-total"] == 327680 // 8 * 2
    assert abs(pd["percent-resync-done"] - done) < 0.02 and 49.0 < done < 51.0
    assert abs(pd["percent-in-sync"] - (100 - 12.5 * (100 - done) / 100)) < 0.02
