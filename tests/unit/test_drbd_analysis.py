"""hivehealth.judge.drbd.analyze: one resource judged across hives, on views parsed from recorded samples.

Where a sample shows only one host's side, the other hosts' views are made from real samples by
renaming hosts (the layout stays drbdadm's); where no real sample has the state, the text is
constructed in drbdadm's layout and the test says so.
"""
import json
import re
from pathlib import Path

from hivehealth.judge import drbd
from hivehealth.parsers.drbd import parse_status_json, parse_status_text

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
H0, H1, H2 = "s-hive0.lab", "s-hive1.lab", "s-hive2.lab"
HIVES = [H0, H1, H2]


def text(rel: str, **rename) -> str:
    """A sample's text; the hive-builder repair.rst placeholders become ldap_data / s-hiveN.lab,
    and rename={old: new} swaps host names (all at once, so swaps work)."""
    t = (SAMPLES / rel).read_text().replace("----\n", "")
    t = t.replace("ボリューム名", "ldap_data").replace("hive名", "lab")
    t = re.sub(r"\bhive(\d)\.lab", r"s-hive\1.lab", t)
    if rename:
        t = re.sub("|".join(map(re.escape, rename)), lambda m: rename[m.group(0)], t)
    return t


def view(rel: str, **rename):
    (v,) = parse_status_text(text(rel, **rename))
    return v


def rn(**kw):
    """rename kwargs use _ for . and - in host names: rn(s_hive0_lab='x') -> {'s-hive0.lab': 'x'}"""
    return {k.replace("__", ".").replace("_", "-"): v for k, v in kw.items()}


def test_healthy_three_hives_from_repair_rst():
    # s-hive0: real view (hive1 Primary); s-hive2: the same view seen from hive2 (names swapped);
    # s-hive1 (the Primary): the healthy 3-node Primary sample renamed to these hosts.
    v0 = view("drbdadm-status/secondary-3node-uptodate-peer-primary.txt")
    v2 = view("drbdadm-status/secondary-3node-uptodate-peer-primary.txt", **{H2: H0})
    v1 = view("drbdadm-status/primary-3node-healthy-linstor-k8s.txt",
              **{"pvc-1ed58414-0a3d-415d-8b20-80d4fae9cf71": "ldap_data", "kube-node-1": H0, "kube-node-6": H2})
    r = drbd.analyze("ldap_data", {H0: v0, H1: v1, H2: v2}, HIVES)
    assert (r.healthy, r.shape, r.problems, r.primaries) == (True, drbd.HEALTHY, [], [H1])
    assert r.summary() == f"ldap_data: healthy (Primary: {H1})"


def test_short_peer_names_match_full_host_names():
    # EL9 (forOS9) prints peers by short name
    v0 = view("drbdadm-status/secondary-3node-uptodate-peer-primary.txt", **{H1: "s-hive1", H2: "s-hive2"})
    v2 = view("drbdadm-status/secondary-3node-uptodate-peer-primary.txt", **{H1: "s-hive1", H2: "s-hive0"})
    r = drbd.analyze("ldap_data", {H0: v0, H2: v2}, [H0, H2])
    assert (r.healthy, r.problems) == (True, [])   # no "no connection" finding: short names matched
    assert r.primaries == ["s-hive1"]               # a host outside views keeps the name DRBD printed


def test_healthy_json_with_intentional_diskless_clients():
    (v,) = parse_status_json((SAMPLES / "drbdsetup-status-json/primary-4node-2diskless-peers-tls-paths.json").read_text())
    r = drbd.analyze("r2-test", {"astef-sds-rv-redos-0": v}, ["astef-sds-rv-redos-0"])
    assert r.healthy and r.primaries == ["astef-sds-rv-redos-0"]


def test_diskless_peer_without_client_marker_needs_diskless_list():
    # non-verbose text prints no client marker for a diskless peer
    v = view("drbdadm-status/secondary-3node-diskless-peer-linstor.txt")
    assert drbd.analyze("my-res", {"kube-0": v}, ["kube-0"], diskless={"kube-1"}).healthy
    r = drbd.analyze("my-res", {"kube-0": v}, ["kube-0"])
    assert r.shape == drbd.DISKLESS
    assert r.problems == ["kube-0 -> kube-1: peer-disk Diskless (expected UpToDate)"]


def test_all_outdated():
    v0 = view("drbdadm-status/all-outdated-3node.txt")
    v1 = view("drbdadm-status/all-outdated-3node.txt", **{H1: H0})
    v2 = view("drbdadm-status/all-outdated-3node.txt", **{H2: H0})
    r = drbd.analyze("ldap_data", {H0: v0, H1: v1, H2: v2}, HIVES)
    assert (r.healthy, r.shape) == (False, drbd.ALL_OUTDATED)
    assert f"{H1}: disk Outdated (expected UpToDate; no UpToDate copy anywhere)" in r.problems
    assert r.summary() == "ldap_data: all copies Outdated (runbook 7.7a)"


def test_one_outdated_copy_is_degraded_not_all_outdated():
    v0 = view("drbdadm-status/secondary-3node-uptodate-peer-primary.txt")
    # s-hive2 Outdated: constructed in drbdadm layout (no real sample of one Outdated copy)
    v2 = parse_status_text(f"ldap_data role:Secondary\n  disk:Outdated\n  {H0} role:Secondary\n"
                           f"    peer-disk:UpToDate\n  {H1} role:Primary\n    peer-disk:UpToDate\n")[0]
    r = drbd.analyze("ldap_data", {H0: v0, H2: v2}, [H0, H2])
    assert r.shape == drbd.DEGRADED
    assert r.problems == [f"{H2}: disk Outdated (expected UpToDate)"]


def test_one_sided_wfbitmaps_names_the_clean_side():
    v1 = view("drbdadm-status/primary-wfbitmaps-peer-consistent.txt")          # hive1: WFBitMapS to hive0
    v0 = view("drbdadm-status/secondary-3node-uptodate-peer-primary.txt")      # hive0: clean
    v2 = view("drbdadm-status/secondary-3node-uptodate-peer-primary.txt", **{H2: H0})
    r = drbd.analyze("ldap_data", {H0: v0, H1: v1, H2: v2}, HIVES)
    assert (r.shape, r.clean_side, r.primaries) == (drbd.ONE_SIDED, H0, [H1])
    assert r.problems == [
        f"{H1} -> {H0}: replication:WFBitMapS peer-disk:Consistent (expected Established "
        f"peer-disk:UpToDate) while {H0}'s own view of {H1} is clean: run disconnect/connect on {H0}"]
    assert "runbook 7.7b" in r.summary() and r.summary().endswith(f"on {H0}")


def test_standalone_split_brain_both_sides():
    a = view("drbdadm-status/standalone-secondary-2node-splitbrain-side-a.txt")   # on k8s-master
    b = view("drbdadm-status/standalone-primary-2node-splitbrain-side-b.txt")     # on k8s-node2
    r = drbd.analyze("pvc", {"k8s-master": a, "k8s-node2": b}, ["k8s-master", "k8s-node2"])
    # without the kernel logs, both ends StandAlone is a split brain or a disconnect on both
    assert r.shape == drbd.STANDALONE and r.primaries == ["k8s-node2"]
    assert r.problems == [
        "k8s-master -> k8s-node2 and k8s-node2 -> k8s-master: connection StandAlone on both ends "
        "(expected Connected): a split brain drops both ends, so does `drbdadm disconnect` run on "
        "both; the kernel log that tells them apart was not read on k8s-master (not gathered), "
        "k8s-node2 (not gathered)"]


def test_connecting_peer():
    v = view("drbdadm-status/inconsistent-peer-connecting-2node.txt")
    r = drbd.analyze("postgresql", {"d52-54-77-77-01-02": v}, ["d52-54-77-77-01-02"])
    assert r.shape == drbd.CONNECTING
    assert r.problems == ["d52-54-77-77-01-02: disk Inconsistent (expected UpToDate)",
                          "d52-54-77-77-01-02 -> d52-54-77-77-01-01: connection Connecting (expected Connected)"]


def test_connecting_in_linewrapped_verbose_text():
    (v,) = parse_status_text(text("drbdsetup-status-text/verbose-statistics-4node-one-connecting-LINEWRAPPED.txt"))
    r = drbd.analyze("home", {"nana": v}, ["nana"])
    assert r.shape == drbd.CONNECTING and r.problems == ["nana -> nono: connection Connecting (expected Connected)"]


def test_quorum_lost_with_connecting_peers_unreachable():
    v = view("drbdadm-status/uptodate-quorum-no-peers-connecting.txt")
    hosts = ["colo-srv-1", "colo-srv-2", "colo-srv-3"]
    r = drbd.analyze("linstor_db", {"colo-srv-1": "unreachable: timed out", "colo-srv-2": "unreachable: timed out",
                                    "colo-srv-3": v}, hosts)
    assert r.shape == drbd.QUORUM_LOST
    assert "colo-srv-3: quorum lost (quorum:no; expected quorum:yes)" in r.problems
    assert "colo-srv-3 -> colo-srv-1: connection Connecting (expected Connected)" in r.problems
    assert "colo-srv-1: DRBD status unreadable: unreachable: timed out (expected a status to read)" in r.problems


def test_diskless_without_client_and_standalone():
    v = view("drbdadm-status/diskless-quorum-no-peers-standalone.txt")
    r = drbd.analyze("linstor_db", {"colo-srv-1": v}, ["colo-srv-1"])
    assert r.shape == drbd.STANDALONE   # the most serious of standalone, quorum-lost, diskless
    assert "colo-srv-1: disk Diskless without client:yes (expected UpToDate; backing disk failed or detached)" \
        in r.problems
    assert "colo-srv-1: quorum lost (quorum:no; expected quorum:yes)" in r.problems


def test_diskless_without_client_alone():
    # constructed: the healthy 2-node sample with the local disk detached (no real sample)
    t = text("drbdadm-status/secondary-2node-peer-primary.txt").replace("  disk:UpToDate", "  disk:Diskless", 1)
    (v,) = parse_status_text(t)
    r = drbd.analyze("data", {"node-0": v}, ["node-0"])
    assert r.shape == drbd.DISKLESS and len(r.problems) == 1
    assert drbd.analyze("data", {"node-0": v}, ["node-0"], diskless={"node-0.lab"}).healthy


def test_not_up_on_one_hive():
    # constructed from the healthy repair.rst view: hive2's resource is down, so peers see Connecting
    t = re.sub(r"  s-hive2.lab role:Secondary\n    peer-disk:UpToDate\n", "  s-hive2.lab connection:Connecting\n",
               text("drbdadm-status/secondary-3node-uptodate-peer-primary.txt"))
    (v0,) = parse_status_text(t)
    r = drbd.analyze("ldap_data", {H0: v0, H2: None}, [H0, H2])
    assert r.shape == drbd.NOT_UP
    assert r.problems[0] == (f"{H2}: resource ldap_data not up (DRBD lists no such resource there; "
                             f"expected up, see drbd-resource@ldap_data.service)")
    assert f"{H0} -> {H2}: connection Connecting (expected Connected)" in r.problems


def test_not_up_anywhere_and_unreadable():
    assert drbd.analyze("ldap_data", {H0: None, H1: None}, [H0, H1]).shape == drbd.NOT_UP
    # H1 definitely lacks the resource (fail) while H0 cannot be read (unknown): fail wins the
    # status and names the shape; the unreadable hive is still reported
    r = drbd.analyze("ldap_data", {H0: "unreachable: connection refused", H1: None}, [H0, H1])
    assert (r.status, r.shape, r.healthy) == ("fail", drbd.NOT_UP, False)
    assert any("unreadable" in p for p in r.problems)
    r = drbd.analyze("ldap_data", {H0: "unreachable: connection refused"}, [H0])
    assert (r.status, r.shape) == ("unknown", drbd.UNREADABLE)
    assert drbd.analyze("ldap_data", {}, []).shape == drbd.UNREADABLE
    # a hive that should hold the resource but is absent from views is unreadable too
    assert drbd.analyze("ldap_data", {}, [H0]).problems == [
        f"{H0}: DRBD status unreadable: no DRBD status was collected (expected a status to read)"]


def test_multi_primary():
    # constructed: the two DRBD-8.4-kernel samples (same cluster) with the Secondary promoted
    a = view("drbdadm-status/primary-2node-replication-established-drbd84-kernel.txt", peer="node-b")
    b = view("drbdadm-status/primary-2node-replication-established-drbd84-kernel.txt", peer="node-a")
    r = drbd.analyze("r0", {"node-a": a, "node-b": b}, ["node-a", "node-b"])
    assert r.shape == drbd.MULTI_PRIMARY and r.primaries == ["node-a", "node-b"]
    assert r.problems == ["node-a, node-b: role Primary on 2 hosts (expected at most one Primary)"]


def test_resync_reports_percent_from_either_side():
    tgt = view("drbdadm-status/synctarget-done-2node.txt", **{"d52-54-77-77-01-01": H1})
    # the source side: the SyncSource sample renamed to this pair, done: set to the target's 0.08
    src = view("drbdadm-status/primary-syncsource-peer-inconsistent-done96.txt",
               single="postgresql", **{"opensuse-node2": H0, "done:96.47": "done:0.08"})
    r = drbd.analyze("postgresql", {H0: tgt, H1: src}, [H0, H1])
    assert (r.healthy, r.shape, r.resync, r.primaries) == (False, drbd.RESYNC, {H0: 0.08}, [H1])
    # the summary quotes the figure; the finding names the path without repeating it
    assert r.problems == [f"{H0} resyncs from {H1}"]
    assert r.summary() == f"postgresql: resync in progress: {H0} 0.08 % done"


def test_resync_json_sync_source_from_invalid_json_sample():
    (v,) = parse_status_json((SAMPLES / "drbdsetup-status-json/primary-syncsource-sync-details-nan-INVALID-JSON.json").read_text())
    r = drbd.analyze("shanghai", {"SLE12-sp4-node1": v}, ["SLE12-sp4-node1"])
    assert (r.shape, r.resync, r.problems) == (drbd.RESYNC, {"SLE12-sp4-node2": 0.0},
                                               ["SLE12-sp4-node2 resyncs from SLE12-sp4-node1"])
    assert r.state() == "resync in progress: SLE12-sp4-node2 0 % done"


def test_resync_two_volumes_takes_least_done():
    v = view("drbdadm-status/synctarget-2vol-done-peer-resync-suspended-peer.txt")
    r = drbd.analyze("resource", {"drbd-node0": v}, ["drbd-node0"])
    assert r.shape == drbd.RESYNC and r.resync == {"drbd-node0": 10.17}
    assert "drbd-node0 volume 1 resyncs from drbd-node1, 74.08 % done" in r.problems
    # drbd-node2's resync is held back by the one running (resync-suspended:peer): it waits
    # its turn, so the resource as a whole is still a resync (warn), not a fault
    assert r.status == "warn"
    assert ("drbd-node0 -> drbd-node2: volume 0 peer-disk Inconsistent, resync pending "
            "(resync-suspended:peer: held back by drbd-node2: a `drbdadm pause-sync` there or a "
            "resync it waits for)") in r.problems


def test_stalled_resync_without_done():
    v = view("drbdadm-status/synctarget-no-done-stuck-3node-diskless-primary-peer.txt")
    r = drbd.analyze("one-vm-9120-disk-0", {"m14c20": v}, ["m14c20"], diskless={"m14c36"})
    assert (r.shape, r.resync, r.primaries) == (drbd.RESYNC, {}, ["m14c36"])
    assert r.problems == ["m14c20 resyncs from m14c19, percent done not shown (drbdsetup shows "
                          "none at a resync's very start and end; if it stays so, the resync is "
                          "stalled)"]


def test_degraded_inconsistent_not_syncing():
    v = view("drbdadm-status/inconsistent-no-replication-peer-uptodate-diskless-primary.txt")
    r = drbd.analyze("one-vm-7707-disk-0", {"m10c40": v}, ["m10c40"], diskless={"m11c4"})
    assert (r.shape, r.problems) == (drbd.DEGRADED, ["m10c40: disk Inconsistent (expected UpToDate)"])
    assert r.summary() == "one-vm-7707-disk-0: degraded"


def test_missing_connection_to_an_expected_hive():
    v = view("drbdadm-status/secondary-2node-peer-primary.txt")
    r = drbd.analyze("data", {"node-0": v}, ["node-0", "node-2"])
    assert r.shape == drbd.CONNECTING
    assert "node-0 -> node-2: no connection (expected Connected)" in r.problems


def _json_view(role="Secondary", disk="UpToDate", peers=(), **res):
    """One host's view in drbdsetup's JSON shape (constructed: drbd-utils user/v9/drbdsetup.c)."""
    r = {"name": "ldap_data", "role": role, "suspended": False, **res,
         "devices": [{"volume": 0, "disk-state": disk, "quorum": True}],
         "connections": [{"name": p, "connection-state": "Connected", "peer-role": pr,
                          "peer_devices": [{"volume": 0, "replication-state": "Established",
                                            "peer-disk-state": pd}]}
                         for p, pr, pd in peers]}
    (v,) = parse_status_json(json.dumps([r]))
    return v


def test_suspended_io_outranks_all_outdated_so_no_primary_force():
    peers = {H0: [(H1, "Secondary", "Outdated"), (H2, "Secondary", "Outdated")],
             H1: [(H0, "Secondary", "Outdated"), (H2, "Secondary", "Outdated")],
             H2: [(H0, "Secondary", "Outdated"), (H1, "Secondary", "Outdated")]}
    views = {h: _json_view(disk="Outdated", peers=peers[h]) for h in HIVES}
    views[H0] = _json_view(disk="Outdated", peers=peers[H0], **{"suspended": True, "suspended-no-data": True})
    r = drbd.analyze("ldap_data", views, HIVES)
    assert (r.status, r.shape, r.suspended) == ("fail", drbd.SUSPENDED, {H0: "no-data"})
    assert any("Outdated" in p and "no UpToDate copy" in p for p in r.problems)


def test_force_io_failures_is_a_failure_with_its_host():
    peers = [(H1, "Secondary", "UpToDate")]
    r = drbd.analyze("ldap_data", {H0: _json_view(peers=peers, **{"force-io-failures": True}),
                                   H1: _json_view(peers=[(H0, "Secondary", "UpToDate")])}, [H0, H1])
    assert (r.status, r.shape, r.io_failing) == ("fail", drbd.IO_FAILING, [H0])


def test_a_fault_beside_a_resync_is_not_softened_to_a_warning():
    # s-hive2 resyncs from s-hive0 while s-hive1's own disk Failed: fail, not warn
    v0 = _json_view("Primary", peers=[(H1, "Secondary", "Failed"), (H2, "Secondary", "Inconsistent")])
    v0.connections[1].peer_devices[0].replication = "SyncSource"
    v1 = _json_view(disk="Failed", peers=[(H0, "Primary", "UpToDate"), (H2, "Secondary", "Inconsistent")])
    r = drbd.analyze("ldap_data", {H0: v0, H1: v1}, [H0, H1])
    assert (r.status, r.shape) == ("fail", drbd.DEGRADED)
    # the resync keeps its own weight and, under a failure's summary, its figure
    assert any(st == "warn" and t.startswith(f"{H2} resyncs from {H0}, percent done not shown")
               for _, st, t in r.findings)
