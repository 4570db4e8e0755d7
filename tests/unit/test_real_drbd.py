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
import stat
import subprocess
from pathlib import Path

import pytest

from hivehealth.checks.test_drbd import KERNEL_LOG
from hivehealth.parsers import ParseError
from hivehealth.parsers.drbd import parse_kernel_log, parse_status_json, parse_status_text

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
