"""The DRBD parsers and the DRBD check on the outputs of the real DRBD 9.2.18 module.

tests/data/real-drbd-9.2/<state>/<node>-<command>.txt: the stdout of each command, byte for
byte, on three QEMU guests (kernel module 9.2.18 from LINBIT's drbd-9.2.18 tag, drbd-utils
9.22.0 of Debian bookworm, resource ldap_data in hive-builder's volume.res layout); their
README.md says how each state was made. The check is judged the way a run judges it: each
hive's probe sections (`drbdsetup status --json`, `drbdadm status`, the kernel log section)
as HostFacts, through checks/test_drbd.py's drbd_state.
"""
from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from hivehealth.checks.test_drbd import KERNEL_LOG, drbd_state
from hivehealth.gather.probe import CommandResult, HostFacts
from hivehealth.judge.context import Context
from hivehealth.parsers import ParseError
from hivehealth.parsers.drbd import parse_kernel_log, parse_status_json, parse_status_text
from hivehealth.site.inventory import Server, Site

REAL = Path(__file__).resolve().parents[1] / "data" / "real-drbd-9.2"
NODES = ("s-hive0", "s-hive1", "s-hive2")
STATES = sorted(p.name for p in REAL.iterdir() if p.is_dir())
TEXT_FILES = ("drbdadm-status.txt", "drbdadm-status-ldap_data.txt", "drbdsetup-status-verbose-statistics.txt")
JSON_FILES = ("drbdsetup-status-json.txt", "drbdsetup-status-json-verbose-statistics.txt")


def real(state: str, node: str, what: str) -> str | None:
    path = REAL / state / f"{node}-{what}"
    return path.read_text() if path.exists() else None


# --- parsers: every output of every state --------------------------------------------------

def outputs(files):
    for state in STATES:
        for node in NODES:
            for what in files:
                if (REAL / state / f"{node}-{what}").exists():
                    yield state, node, what


# the state each node's `drbdadm status` shows: role, disk, {peer: connection state}
SHOWN = {
    "00-fresh-inconsistent": {n: ("Secondary", "Inconsistent", "Connected") for n in NODES},
    "04-one-node-powered-off": {"s-hive0": ("Primary", "UpToDate", {"s-hive1": "Connected", "s-hive2": "Connecting"})},
    "07-one-node-disconnected": {"s-hive2": ("Secondary", "Outdated", "StandAlone"),
                                 "s-hive0": ("Primary", "UpToDate", {"s-hive1": "Connected", "s-hive2": "Connecting"})},
    "09-one-sided-standalone": {"s-hive2": ("Secondary", "Outdated", {"s-hive0": "StandAlone", "s-hive1": "Connected"}),
                                "s-hive0": ("Primary", "UpToDate", {"s-hive1": "Connected", "s-hive2": "Connecting"})},
    "14-split-brain-resolved": {"s-hive0": ("Primary", "UpToDate", {"s-hive1": "Connected", "s-hive2": "StandAlone"}),
                                "s-hive2": ("Secondary", "Outdated", {"s-hive0": "Connecting", "s-hive1": "Connected"})},
    "15-all-outdated": {n: ("Secondary", "Outdated", "Connected") for n in NODES},
    "15-all-outdated-after-primary-force-then-runbook-reconnects": {
        "s-hive1": ("Secondary", "UpToDate", {"s-hive0": "Connected", "s-hive2": "StandAlone"}),
        "s-hive2": ("Secondary", "UpToDate", {"s-hive0": "Connected", "s-hive1": "StandAlone"})},
    "16-resource-down-on-one-node": {"s-hive0": ("Primary", "UpToDate", {"s-hive1": "Connecting", "s-hive2": "Connected"})},
}


@pytest.mark.parametrize("state,node,what", list(outputs(TEXT_FILES)))
def test_every_real_text_output_parses(state, node, what):
    views = parse_status_text(real(state, node, what), whole=True)
    if state == "16-resource-down-on-one-node" and node == "s-hive1":
        assert views == []      # "# No currently configured DRBD found." (exit 0)
        return
    (v,) = views
    assert v.name == "ldap_data" and v.devices and len(v.connections) == 2
    expected = SHOWN.get(state, {}).get(node)
    if expected:
        role, disk, conns = expected
        conns = conns if isinstance(conns, dict) else {p: conns for p in NODES if p != node}
        assert (v.role, v.devices[0].disk) == (role, disk)
        assert {c.peer.split(".")[0]: c.state for c in v.connections} == conns


@pytest.mark.parametrize("state,node,what", list(outputs(JSON_FILES)))
def test_every_real_json_output_parses(state, node, what):
    views = parse_status_json(real(state, node, what))
    if state == "16-resource-down-on-one-node" and node == "s-hive1":
        assert views == []      # "[\n]"
        return
    (v,) = views
    assert v.name == "ldap_data" and v.node_id == NODES.index(node)
    # connections not Connected still list their peer device (Off / DUnknown or the last disk seen)
    assert all(c.peer_devices for c in v.connections)
    assert all(c.peer_role == "Unknown" for c in v.connections if c.state != "Connected")


def test_real_resource_down_status_of_the_resource_is_empty_with_its_error():
    # `drbdadm status ldap_data` on a node where it is down: exit 10, stdout the "none" line,
    # stderr "No such resource" and drbdadm's echo of the drbdsetup call
    state = "16-resource-down-on-one-node"
    assert real(state, "s-hive1", "drbdadm-status-ldap_data.txt") == "# No currently configured DRBD found.\n"
    err = real(state, "s-hive1", "drbdadm-status-ldap_data.stderr.txt")
    assert parse_status_text(err) == []
    assert "status ldap_data\trc=10" in (REAL / state / "commands.tsv").read_text()


def test_real_wrapped_resync_suspended_peer_and_congested_connection():
    (v,) = parse_status_text(real("11-resync-paused-by-user", "s-hive0", "drbdadm-status.txt"), whole=True)
    (pd,) = v.connections[1].peer_devices     # "        resync-suspended:peer" on its own line
    assert (pd.replication, pd.done, pd.resync_suspended) == ("PausedSyncS", 1.56, "peer")
    (v,) = parse_status_text(real("10-resync-in-progress", "s-hive0", "drbdadm-status.txt"), whole=True)
    c = v.connections[1]
    assert (c.state, c.congested, c.extra) == ("Connected", True, {"ap-in-flight": "0", "rs-in-flight": "4096"})
    assert (c.peer_devices[0].replication, c.peer_devices[0].done) == ("SyncSource", 62.78)


def test_real_sync_source_without_done_at_the_end_of_a_resync():
    (v,) = parse_status_text(real("06-all-powered-off-restarted", "s-hive0", "drbdadm-status-ldap_data.txt"), whole=True)
    (pd,) = v.connections[1].peer_devices
    assert (pd.replication, pd.peer_disk, pd.done) == ("SyncSource", "Inconsistent", None)


def test_real_verbose_statistics_keep_the_counters():
    (v,) = parse_status_text(real("06-all-powered-off-restarted", "s-hive0",
                                  "drbdsetup-status-verbose-statistics.txt"), whole=True)
    assert v.devices[0].quorum is True and v.devices[0].size_kib == 524220
    (pd,) = v.connections[0].peer_devices
    assert (pd.done, pd.out_of_sync_kib, pd.resync_suspended) == (40.04, 314300, None)


# --- the kernel log section ------------------------------------------------------------------

def kernel_log_section(tmp_path, recorded: str | None, journalctl_rc: int = 0, dmesg_rc: int = 1) -> str:
    """The stdout of the probe's drbd_kernel_log command, run by sh with a journalctl and a
    dmesg that print the recorded kernel log when they succeed: the section's own filter and
    end line, on the real lines."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    src = tmp_path / "kernel.log"
    src.write_text(recorded or "")
    for name, rc in (("journalctl", journalctl_rc), ("dmesg", dmesg_rc)):
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\n{'' if rc else f'cat {str(src)!r}'}\nexit {rc}\n")
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SUDO": ""}
    return subprocess.run(["sh", "-c", KERNEL_LOG], env=env, capture_output=True, text=True,
                          check=True, timeout=30).stdout


def test_real_split_brain_is_read_from_both_ends_kernel_logs(tmp_path):
    state = "15-all-outdated-after-primary-force-then-runbook-reconnects"
    log1 = parse_kernel_log(kernel_log_section(tmp_path, real(state, "s-hive1", "kernel-log.txt")))
    log2 = parse_kernel_log(kernel_log_section(tmp_path, real(state, "s-hive2", "kernel-log.txt")))
    sb = log1.split_brain("ldap_data", "s-hive2.lab")
    assert (sb.when, sb.own_kib, sb.peer_kib) == ("Dec 07 15:03:00", 0, 0)
    assert log2.split_brain("ldap_data", "s-hive1").when == "Dec 07 15:03:01"    # short names match
    # "Cluster is now split" (a partition) and the connected links are no split brain
    assert log1.split_brain("ldap_data", "s-hive0.lab") is None
    assert log2.split_brain("other_data", "s-hive1.lab") is None


def test_real_reconnect_after_the_log_clears_the_link(tmp_path):
    # s-hive0's log in state 09: its link to s-hive2 went Connecting -> Connected at the end
    log = parse_kernel_log(kernel_log_section(tmp_path, real("09-one-sided-standalone", "s-hive0", "kernel-log.txt")))
    assert log.lines and log.split_brain("ldap_data", "s-hive2.lab") is None


def test_kernel_log_that_could_not_be_read_is_no_evidence(tmp_path):
    with pytest.raises(ParseError, match="neither journalctl -k nor dmesg could be read"):
        parse_kernel_log(kernel_log_section(tmp_path, "", journalctl_rc=1, dmesg_rc=1))
    with pytest.raises(ParseError, match="cut short"):
        parse_kernel_log("Dec 07 15:03:00 s-hive1.lab kernel: drbd ldap_data s-hive2.lab: conn( Connecting -> Disconnecting )\n")
    # journalctl failing, dmesg answering: read (dmesg's own time stamps)
    dmesg = "[  812.113271] drbd ldap_data/0 drbd1 s-hive2.lab: Split-Brain detected but unresolved, dropping connection!\n"
    log = parse_kernel_log(kernel_log_section(tmp_path, dmesg, journalctl_rc=1, dmesg_rc=0))
    assert log.split_brain("ldap_data", "s-hive2.lab").when == "[  812.113271]"
    # an empty log that was read is read: no split brain logged
    assert parse_kernel_log(kernel_log_section(tmp_path, "")).lines == []


# --- the check on every real state --------------------------------------------------------

HIVES = [Server(f"{n}.lab", frozenset({"hive"} | ({"first_hive"} if n == "s-hive0" else set())), "hive")
         for n in NODES]
SITE = Site("hive", HIVES + [Server("s-hive3.lab", frozenset({"repository"}), "hive")], name="lab",
            stage="staging", drbd_device_map={"ldap_data": 1})
# no split brain in a log that was read: the section's output when journalctl read this boot's
# log and none of its lines matched (constructed: the guests' logs at those moments were not
# recorded, except where the state has a *-kernel-log.txt)
EMPTY_LOG = "# exit 0\n"


def real_facts(state: str, sections=("drbd_json", "drbd_text"), logs: dict | None = None,
               text_file: str = "drbdadm-status.txt") -> dict[str, HostFacts]:
    files = {"drbd_json": "drbdsetup-status-json.txt", "drbd_text": text_file}
    facts = {}
    for n in NODES:
        f = HostFacts(f"{n}.lab")
        if (REAL / state / f"{n}-POWERED-OFF.txt").exists():
            f.unreachable = "s-hive.lab: connect timed out"
        for section in sections:
            out = real(state, n, files[section])
            if out is not None:
                f.results[section] = CommandResult(section, section, 0, out, "")
        if logs and n in logs:
            f.results["drbd_kernel_log"] = CommandResult("drbd_kernel_log", "journalctl -k", 0, logs[n], "")
        facts[f.server] = f
    facts["s-hive3.lab"] = HostFacts("s-hive3.lab")
    return facts


def judged(state, **kw):
    ctx = Context(SITE, real_facts(state, **kw), lambda name: None)
    return ctx.judge(drbd_state, "ldap_data")


# state -> (status, words in the message), with both JSON and text gathered (JSON is read), and
# with the text only where the two captures differ (they were taken a second or two apart)
OPERATOR_READS = {
    "00-fresh-inconsistent": ("fail", ["s-hive0.lab: disk Inconsistent", "s-hive2.lab: disk Inconsistent"]),
    "01-initial-sync-in-progress": ("ok", []),    # the JSON was read after the 11 s sync ended
    "02-healthy-primary-mounted": ("ok", []),
    "03-healthy-all-secondary": ("ok", []),
    "04-one-node-powered-off": ("fail", ["s-hive0.lab -> s-hive2.lab: connection Connecting",
                                         "s-hive2.lab: DRBD status unreadable: unreachable"]),
    "05-powered-off-node-back": ("warn", ["resync in progress: s-hive2.lab 75.01 % done",
                                          "s-hive2.lab resyncs from s-hive0.lab"]),
    "06-all-powered-off-restarted": ("warn", ["resync in progress: s-hive1.lab 50.4 % done"]),
    "08-reconnected-after-disconnect": ("ok", []),
    "10-resync-in-progress": ("warn", ["resync in progress: s-hive2.lab 77.58 % done"]),
    "11-resync-paused-by-user": ("fail", ["PausedSyncT resync-suspended:user",
                                          "paused by `drbdadm pause-sync` on s-hive2.lab",
                                          "`drbdadm resume-sync ldap_data` there"]),
    "12-resync-running": ("warn", ["resync in progress: s-hive2.lab 31.04 % done",
                                   "s-hive2.lab resyncs from s-hive1.lab",
                                   "from s-hive0.lab paused (resync-suspended:peer: s-hive2.lab holds it "
                                   "back until its resync from another source ends"]),
    "14-split-brain-resolved-after-peer-connect": ("fail", [
        "s-hive2.lab -> s-hive1.lab: replication:Established out-of-sync:3076 KiB",
        "not resynchronized automatically", "a failover would read wrong data",
        "`drbdadm disconnect ldap_data:s-hive1.lab; drbdadm connect ldap_data:s-hive1.lab` on s-hive2.lab"]),
    "15-all-outdated": ("fail", ["all copies Outdated (runbook 7.7a)", "s-hive1.lab: disk Outdated"]),
    "15-all-outdated-after-primary-force": ("ok", []),
    "16-resource-down-on-one-node": ("fail", ["resource not up on every hive",
                                              "s-hive1.lab: resource ldap_data not up",
                                              "s-hive0.lab -> s-hive1.lab: connection Connecting"]),
    "19-two-nodes-back": ("ok", []),
    "20-runbook-7.7a-repeat-b-after-runbook-steps": ("ok", []),
}
TEXT_READS = {
    "01-initial-sync-in-progress": ("warn", ["resync in progress: s-hive1.lab 75.01 % done, s-hive2.lab 75.01 % done",
                                             "s-hive1.lab resyncs from s-hive0.lab"]),
    "10-resync-in-progress": ("warn", ["resync in progress: s-hive2.lab 62.78 % done",
                                       "s-hive0.lab -> s-hive2.lab: congested:yes"]),
    # the running path's figure (s-hive2's own SyncTarget view), not the paused path's 43.17
    "12-resync-running": ("warn", ["resync in progress: s-hive2.lab 18.69 % done"]),
    # non-verbose text prints no out-of-sync
    "14-split-brain-resolved-after-peer-connect": ("ok", []),
    "20-runbook-7.7a-repeat-a-all-outdated": ("fail", ["all copies Outdated (runbook 7.7a)"]),
}
NEEDS_LOGS = {"07-one-node-disconnected", "09-one-sided-standalone", "14-split-brain-resolved",
              "15-all-outdated-after-primary-force-then-runbook-reconnects"}


def test_every_real_state_is_judged_here():
    with_status = {s for s in STATES if any((REAL / s / f"{n}-drbdadm-status.txt").exists() for n in NODES)}
    assert with_status == set(OPERATOR_READS) | set(TEXT_READS) | NEEDS_LOGS


def assert_reads(v, status, words):
    text = v.message()
    assert v.status == status, text
    for w in words:
        assert w in text, (w, text)
    for wrong in ("waits its turn", "stalled?"):
        assert wrong not in text, text
    # what the summary quotes, the findings below it do not repeat
    rest = "; ".join(v.problems[1:])
    assert not [f for f in re.findall(r"[0-9.]+ % done", v.problems[0] if v.problems else "")
                if f in rest], f"a figure said twice: {text}"


@pytest.mark.parametrize("state", sorted(OPERATOR_READS))
def test_real_state_as_the_operator_reads_it(state):
    assert_reads(judged(state), *OPERATOR_READS[state])


@pytest.mark.parametrize("state", sorted(TEXT_READS))
def test_real_state_from_the_text_only(state):
    assert_reads(judged(state, sections=("drbd_text",)), *TEXT_READS[state])


def test_real_resync_is_summed_up_once():
    v = judged("05-powered-off-node-back")
    assert v.message().count("75.01") == 1 and v.message().count("resync in progress") == 1


def test_real_sync_source_without_done_at_the_end_of_a_resync_is_not_called_stalled():
    v = judged("06-all-powered-off-restarted", sections=("drbd_text",), text_file="drbdadm-status-ldap_data.txt")
    assert_reads(v, "warn", ["resync in progress: s-hive1.lab 37.7 % done",
                             "s-hive2.lab resyncs from s-hive0.lab, percent done not shown (drbdsetup "
                             "shows none at a resync's very start and end"])


@pytest.mark.parametrize("state,standalone,peer", [
    ("09-one-sided-standalone", "s-hive2.lab", ["s-hive0.lab"]),
    ("07-one-node-disconnected", "s-hive2.lab", ["s-hive0.lab", "s-hive1.lab"])])
def test_real_manual_disconnect_is_not_called_split_brain(state, standalone, peer):
    logs = {n: EMPTY_LOG for n in NODES}
    v = judged(state, logs=logs)
    assert v.status == "fail" and v.data["shape"] == "disconnected", v.message()
    assert v.data["reconnect"] == [(standalone, p) for p in peer]
    text = v.message()
    assert text.startswith("DRBD resource ldap_data: connection disconnected (StandAlone on one side only")
    for p in peer:
        assert f"run `drbdadm connect ldap_data:{p}` on {standalone}" in text
        assert f"{p} -> {standalone}: connection Connecting (expected Connected; {standalone} " \
               f"disconnected this link: StandAlone there)" in text
    assert "discarding nothing" in text and "--discard-my-data" not in text
    assert "split brain:" not in text.lower()


def test_real_standalone_without_the_kernel_logs_is_not_told_apart():
    # the same state, a hive's kernel log not read: neither a split brain nor a disconnect is claimed
    logs = {"s-hive0": EMPTY_LOG, "s-hive1": EMPTY_LOG}
    v = judged("09-one-sided-standalone", logs=logs)
    assert (v.status, v.data["shape"], v.data["reconnect"]) == ("fail", "standalone", [])
    assert ("s-hive2.lab -> s-hive0.lab: connection StandAlone (expected Connected): split brain or a "
            "manual disconnect; the kernel log that tells them apart was not read on s-hive2.lab "
            "(not gathered)") in v.message()
    cut = dict(logs, **{"s-hive2": "Dec 07 14:56:52 s-hive2.lab kernel: drbd ldap_data s-hive0.lab: "
                                   "conn( Connected -> Disconnecting ) peer( Primary -> Unknown ) [disconnect]\n"})
    v = judged("09-one-sided-standalone", logs=cut)
    assert v.data["shape"] == "standalone" and "s-hive2.lab (the kernel log" in v.message()


def test_real_split_brain_is_named_with_both_nodes_and_the_handshake(tmp_path):
    state = "15-all-outdated-after-primary-force-then-runbook-reconnects"
    logs = {n: kernel_log_section(tmp_path / n, real(state, n, "kernel-log.txt"))
            for n in ("s-hive1", "s-hive2") if not (tmp_path / n).mkdir()}
    v = judged(state, logs=logs)
    assert v.status == "fail" and v.data["shape"] == "split-brain", v.message()
    text = v.message()
    assert text.startswith("DRBD resource ldap_data: split brain: two copies diverged")
    assert ("s-hive1.lab <-> s-hive2.lab: split brain: DRBD logged \"Split-Brain detected but "
            "unresolved, dropping connection!\" on s-hive1.lab at Dec 07 15:03:00; the link is "
            "s-hive1.lab (StandAlone) and s-hive2.lab (StandAlone); its handshake counted "
            "s-hive1.lab: 0 KiB changed that the other lacks; s-hive2.lab: 0 KiB changed that the "
            "other lacks") in text
    (sb,) = v.data["split_brains"]
    assert (sb.a, sb.b, sb.changed_kib) == ("s-hive1.lab", "s-hive2.lab", {"s-hive1.lab": 0, "s-hive2.lab": 0})
    # without any kernel log: both ends StandAlone, not told apart
    v = judged(state)
    assert v.data["shape"] == "standalone" and "StandAlone on both ends" in v.message()


def test_real_split_brain_being_resolved_shows_the_survivor_still_standalone():
    # state 14: the victim s-hive2 ran connect --discard-my-data (Connecting); s-hive0 is still
    # StandAlone after the split brain its log recorded (constructed: the line the 15 logs show,
    # at this link)
    sb_line = ("Dec 07 15:00:41 s-hive0.lab kernel: drbd ldap_data/0 drbd1 s-hive2.lab: "
               "Split-Brain detected but unresolved, dropping connection!\n")
    v = judged("14-split-brain-resolved", logs={"s-hive0": sb_line + EMPTY_LOG, "s-hive2": EMPTY_LOG,
                                                  "s-hive1": EMPTY_LOG})
    assert v.data["shape"] == "split-brain"
    assert "s-hive0.lab (StandAlone)" in v.message() and "s-hive2.lab (Connecting)" in v.message()
