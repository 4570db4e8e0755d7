"""DRBD status parsers on recorded outputs (tests/data/samples/, sources in SOURCES.md there)."""
import json
from pathlib import Path

import pytest

from hivehealth.parsers import ParseError
from hivehealth.parsers.drbd import parse_status_json, parse_status_text

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def sample(rel: str) -> str:
    text = (SAMPLES / rel).read_text()
    # two DRBD user-guide samples keep the asciidoc block delimiter `----`: not drbdadm output
    return text.replace("----\n", "")


def one(views):
    assert len(views) == 1
    return views[0]


# --- text ------------------------------------------------------------------------------------

def test_text_healthy_primary_three_nodes():
    v = one(parse_status_text(sample("drbdadm-status/primary-3node-healthy-linstor-k8s.txt")))
    assert v.name == "pvc-1ed58414-0a3d-415d-8b20-80d4fae9cf71"
    assert v.role == "Primary" and v.suspended is None
    assert [(d.volume, d.disk, d.client, d.quorum) for d in v.devices] == [(0, "UpToDate", False, None)]
    assert [(c.peer, c.state, c.peer_role) for c in v.connections] == [
        ("kube-node-1", "Connected", "Secondary"), ("kube-node-6", "Connected", "Secondary")]
    pd = v.connections[0].peer_devices[0]
    assert (pd.volume, pd.replication, pd.peer_disk, pd.done) == (0, "Established", "UpToDate", None)


def test_text_hive_names_all_outdated():
    v = one(parse_status_text(sample("drbdadm-status/all-outdated-3node.txt")))
    assert v.name == "ボリューム名"
    assert v.devices[0].disk == "Outdated"
    assert [(c.peer, c.peer_devices[0].peer_disk) for c in v.connections] == [
        ("hive1.hive名", "Outdated"), ("hive2.hive名", "Outdated")]


def test_text_open_yes_and_client():
    # current drbd-utils print open: and client: on the disk line; the
    # samples predate open:, so this is the documented layout built by hand
    text = "ldap_data role:Primary\n  disk:UpToDate open:yes\n  s-hive1.lab role:Secondary\n" \
           "    peer-disk:UpToDate\n"
    d = one(parse_status_text(text)).devices[0]
    assert (d.disk, d.open, d.client) == ("UpToDate", True, False)
    d = one(parse_status_text("x role:Secondary\n  disk:Diskless client:yes open:no\n")).devices[0]
    assert (d.disk, d.client, d.open) == ("Diskless", True, False)


def test_text_multi_volume_two_resources():
    views = parse_status_text(sample("drbdadm-status/two-res-2vol-3node-primary-healthy.txt"))
    assert [v.name for v in views] == ["test", "res"]
    for v in views:
        assert [(d.volume, d.disk) for d in v.devices] == [(0, "UpToDate"), (1, "UpToDate")]
        assert [[p.volume for p in c.peer_devices] for c in v.connections] == [[0, 1], [0, 1]]


def test_text_sync_source_done():
    v = one(parse_status_text(sample("drbdadm-status/primary-syncsource-peer-inconsistent-done96.txt")))
    pd = v.connections[0].peer_devices[0]
    assert (pd.replication, pd.peer_disk, pd.done) == ("SyncSource", "Inconsistent", 96.47)


def test_text_sync_target_two_volumes_and_resync_suspended():
    v = one(parse_status_text(sample("drbdadm-status/synctarget-2vol-done-peer-resync-suspended-peer.txt")))
    node1, node2 = v.connections
    assert [(p.volume, p.replication, p.done) for p in node1.peer_devices] == [
        (0, "SyncTarget", 10.17), (1, "SyncTarget", 74.08)]
    assert [p.resync_suspended for p in node2.peer_devices] == ["peer", "peer"]


def test_text_connecting_has_no_peer_devices_and_no_role():
    v = one(parse_status_text(sample("drbdadm-status/inconsistent-peer-connecting-2node.txt")))
    c = one(v.connections)
    assert (c.peer, c.state, c.peer_role, c.peer_devices) == ("d52-54-77-77-01-01", "Connecting", "Unknown", [])


def test_text_standalone_and_quorum_no():
    v = one(parse_status_text(sample("drbdadm-status/diskless-quorum-no-peers-standalone.txt")))
    assert (v.devices[0].disk, v.devices[0].quorum, v.devices[0].client) == ("Diskless", False, False)
    assert [c.state for c in v.connections] == ["StandAlone", "StandAlone"]


def test_text_old_utils_peer_disk_spelled_disk():
    v = one(parse_status_text(sample("drbdadm-status/4node-secondary-one-peer-connecting-old-utils.txt")))
    assert [(c.peer, c.state, [p.peer_disk for p in c.peer_devices]) for c in v.connections] == [
        ("nina", "Connected", ["UpToDate"]), ("nino", "Connected", ["UpToDate"]), ("nono", "Connecting", [])]


def test_text_drbd84_kernel_prints_established():
    v = one(parse_status_text(sample("drbdadm-status/primary-2node-replication-established-drbd84-kernel.txt")))
    assert (v.connections[0].peer, v.connections[0].peer_devices[0].replication) == ("peer", "Established")


def test_text_verbose_linewrapped():
    v = one(parse_status_text(sample(
        "drbdsetup-status-text/verbose-statistics-4node-one-connecting-LINEWRAPPED.txt")))
    assert (v.node_id, v.suspended, v.extra["write-ordering"]) == (1, None, "none")
    d = one(v.devices)
    assert (d.volume, d.minor, d.size_kib, d.extra["lower-pending"]) == (0, 0, 1048412, "0")
    nina, nino, nono = v.connections
    assert (nina.state, nina.peer_role, nina.congested, nina.extra["node-id"]) == ("Connected", "Secondary", False, "0")
    assert (nina.peer_devices[0].peer_disk, nina.peer_devices[0].out_of_sync_kib) == ("UpToDate", 0)
    assert (nono.state, nono.peer_devices) == ("Connecting", [])


def test_text_verbose_quorum_yes_peer_client():
    v = one(parse_status_text(sample(
        "drbdsetup-status-text/verbose-statistics-synctarget-stuck-diskless-client-peer.txt")))
    assert (v.devices[0].minor, v.devices[0].disk, v.devices[0].quorum) == (2796, "Inconsistent", True)
    m14c19, m14c36 = v.connections
    assert (m14c19.peer_devices[0].replication, m14c19.peer_devices[0].done) == ("SyncTarget", None)
    assert (m14c36.peer_role, m14c36.peer_devices[0].peer_disk, m14c36.peer_devices[0].peer_client) == (
        "Primary", "Diskless", True)


def test_text_suspended_and_congested_kept():
    # layout per drbdsetup.c resource_status/connection_status; no recorded sample exists
    text = "ldap_data role:Primary suspended:quorum\n  disk:UpToDate quorum:no\n" \
           "  s-hive1 role:Secondary congested:yes\n    peer-disk:UpToDate\n"
    v = one(parse_status_text(text))
    assert v.suspended == "quorum" and v.devices[0].quorum is False
    assert v.connections[0].congested is True


def test_text_unknown_states_kept_raw():
    text = "r role:Secondary\n  disk:Negotiating\n  p role:Unknown\n    replication:Ahead peer-disk:DUnknown\n"
    v = one(parse_status_text(text))
    assert v.devices[0].disk == "Negotiating"
    assert (v.connections[0].peer_devices[0].replication, v.connections[0].peer_devices[0].peer_disk) == (
        "Ahead", "DUnknown")


@pytest.mark.parametrize("text", [
    "ldap_data: No such resource\n",
    "ldap_data: No such resource\nCommand 'drbdsetup status ldap_data' terminated with exit code 10\n",
    "'ldap_data' not defined in your config (for this host).\n",
    "",
])
def test_text_no_such_resource_gives_no_view(text):
    assert parse_status_text(text) == []


def test_text_no_such_resource_among_others():
    text = sample("drbdadm-status/secondary-2node-peer-primary.txt") + "ldap_data: No such resource\n"
    assert [v.name for v in parse_status_text(text)] == ["data"]


@pytest.mark.parametrize("text, message", [
    ("  disk:UpToDate\n", "indented line before any resource line"),
    ("Could not connect to 'drbd' generic netlink family\n", "not a resource line"),
    ("r role:Primary\n  disk:UpToDate\n  p role:Secondary\n    peer-disk UpToDate\n", "expected key:value"),
    ("r role:Primary\n  volume:0 open:yes\n", "device line has no disk:"),
    ("r role:Primary\n  disk:UpToDate quorum:maybe\n", "quorum:maybe is neither yes nor no"),
    ("r role:Primary\n  p congested:no\n", "neither connection: nor role:"),
    ("r disk:UpToDate\n", "resource line has no role:"),
])
def test_text_malformed(text, message):
    with pytest.raises(ParseError, match="drbdadm status: .*" + message):
        parse_status_text(text)


# --- JSON ------------------------------------------------------------------------------------

def test_json_primary_connected():
    v = one(parse_status_json(sample("drbdsetup-status-json/primary-2node-connected-uptodate.json")))
    assert (v.name, v.node_id, v.role, v.suspended) == ("beijing", 1, "Primary", None)
    d = one(v.devices)
    assert (d.volume, d.minor, d.disk, d.client, d.quorum, d.size_kib) == (0, 5, "UpToDate", False, True, 307152)
    c = one(v.connections)
    assert (c.peer, c.state, c.peer_role, c.congested) == ("salt-node3", "Connected", "Secondary", False)
    pd = one(c.peer_devices)
    assert (pd.replication, pd.peer_disk, pd.done, pd.out_of_sync_kib) == ("Established", "UpToDate", None, 0)


def test_json_diskless_client_peers():
    v = one(parse_status_json(sample("drbdsetup-status-json/primary-4node-2diskless-peers-tls-paths.json")))
    assert [(c.peer, c.peer_devices[0].peer_disk, c.peer_devices[0].peer_client) for c in v.connections] == [
        ("astef-sds-rv-redos-1", "UpToDate", False),
        ("astef-sds-rv-ubuntu-0", "Diskless", True),
        ("astef-sds-rv-ubuntu-1", "Diskless", True)]
    assert v.connections[0].extra["paths"][0]["remote_host"]["address"] == "10.12.0.235"


def test_json_invalid_nan_accepted():
    text = sample("drbdsetup-status-json/primary-syncsource-sync-details-nan-INVALID-JSON.json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)   # the sample really is invalid JSON
    pd = one(one(parse_status_json(text)).connections).peer_devices[0]
    assert (pd.replication, pd.peer_disk, pd.done, pd.out_of_sync_kib) == ("SyncSource", "Inconsistent", 0.0, 409600)
    assert pd.extra["estimated-seconds-to-finish"] is None
    assert pd.extra["rs-total"] == 819200


def test_json_two_resources_reformatted():
    views = parse_status_json(sample("drbdsetup-status-json/sle15-2res-secondary-connected-peer-primary.json"))
    assert [(v.name, v.devices[0].minor, v.connections[0].peer_role) for v in views] == [
        ("1-single-0", 2, "Primary"), ("1-single-1", 3, "Primary")]


def test_json_u64_fragment_connecting():
    # the sample is only a connections[] array; wrapped here in the resource layout drbdsetup prints
    conns = sample("drbdsetup-status-json/FRAGMENT-connection-connecting-ap-in-flight-u64-underflow.json")
    text = ('[{"name": "r", "node-id": 1, "role": "Secondary", "suspended": false, "devices": '
            '[{"volume": 0, "minor": 1, "disk-state": "UpToDate", "client": false, "quorum": true}], '
            f'"connections": {conns}}}]')
    c = one(one(parse_status_json(text)).connections)
    assert (c.peer, c.state, c.peer_role) == ("4b", "Connecting", "Unknown")
    assert c.extra["ap-in-flight"] == 18446744073709551608
    assert (c.peer_devices[0].replication, c.peer_devices[0].peer_disk) == ("Off", "DUnknown")


def test_json_suspended_reasons():
    # DRBD 9.2 layout (suspended-* keys as in primary-4node-2diskless-peers-tls-paths.json)
    text = ('[{"name": "r", "role": "Primary", "suspended": true, "suspended-user": false, '
            '"suspended-quorum": true, "devices": [], "connections": []}]')
    assert one(parse_status_json(text)).suspended == "quorum"


@pytest.mark.parametrize("text, message", [
    ('[{"name": "r", "role": "Primary", "devices": [', "invalid JSON at line 1"),
    ('{"name": "r"}', "expected an array of resources"),
    ('[{"role": "Primary"}]', "resource #0: key 'name' missing"),
    ('[{"name": "r", "role": "Primary", "devices": [{"volume": 0}]}]', "'disk-state' missing"),
    ('[{"name": "r", "role": "Primary", "devices": [{"disk-state": "UpToDate", "client": "no"}]}]',
     "'client' is 'no', expected bool"),
    ('[{"name": "r", "role": "Primary", "devices": [{"disk-state": "UpToDate", "minor": true}]}]',
     "'minor' is True, expected int"),
])
def test_json_malformed(text, message):
    with pytest.raises(ParseError, match=r"drbdsetup status --json: .*" + message):
        parse_status_json(text)


def test_json_empty_output_is_no_resource():
    assert parse_status_json("") == [] and parse_status_json("[\n]\n") == []


def _sync_json(details: str) -> str:
    return ('[{"name":"r","role":"Primary","devices":[{"volume":0,"disk-state":"UpToDate"}],'
            '"connections":[{"name":"p","connection-state":"Connected","peer-role":"Secondary",'
            '"peer_devices":[{"volume":0,"replication-state":"SyncSource","peer-disk-state":"Inconsistent",'
            + details + '}]}]}]')


def test_json_done_is_percent_resync_done_not_percent_in_sync():
    # drbdsetup.c peer_device_status(): with the kernel's resync details, done: is
    # (rs-total - to go) / rs-total; percent-in-sync is the whole device's in-sync share.
    # 10 GiB device, 2 GiB to resync, 1.16 GiB still out of sync: in sync 88.4 %, done 42.1 %
    text = _sync_json('"out-of-sync":1215822,"has-sync-details":true,"percent-in-sync":88.41,'
                      '"rs-total":4194304,"percent-resync-done":42.10')
    assert parse_status_json(text)[0].connections[0].peer_devices[0].done == 42.1
    text_form = "r role:Primary\n  disk:UpToDate\n  p role:Secondary\n" \
                "    replication:SyncSource peer-disk:Inconsistent done:42.10\n\n"
    assert parse_status_text(text_form)[0].connections[0].peer_devices[0].done == 42.1


def test_json_without_resync_figure_has_no_done():
    # only percent-in-sync (no "percent-resync-done": rs-total was 0): drbdadm status prints
    # no done: either, so the figure is not known
    pd = parse_status_json(_sync_json('"percent-in-sync":42.10'))[0].connections[0].peer_devices[0]
    assert pd.done is None and pd.replication == "SyncSource"


def test_json_nan_resync_done_is_not_a_figure():
    pd = parse_status_json(_sync_json('"percent-in-sync":100.00,"percent-resync-done":nan')
                           )[0].connections[0].peer_devices[0]
    assert pd.done is None


# --- flags beyond disk/connection/peer-disk (drbd-utils user/v9/drbdsetup.c) -------------------

def test_text_flags_suspended_force_io_blocked():
    # non-verbose drbdadm status prints these only when set; layout as drbdsetup.c prints it
    text = ("r role:Primary suspended:user,quorum force-io-failures:yes\n"
            "  disk:UpToDate quorum:no open:yes blocked:upper\n"
            "  p connection:Connecting\n\n")
    (v,) = parse_status_text(text, whole=True)
    assert (v.suspended, v.force_io_failures) == ("user,quorum", True)
    assert (v.devices[0].quorum, v.devices[0].blocked) == (False, "upper")


def test_json_flags_suspended_reasons_and_force_io():
    text = ('[{"name":"r","role":"Secondary","suspended":true,"suspended-user":false,'
            '"suspended-no-data":true,"suspended-fencing":false,"suspended-quorum":true,'
            '"force-io-failures":true,"devices":[],"connections":[]}]')
    (v,) = parse_status_json(text)
    assert (v.suspended, v.force_io_failures) == ("no-data,quorum", True)


def test_text_cut_short_is_an_error_only_for_a_whole_stdout():
    text = "r role:Primary\n  disk:UpToDate\n  p role:Secondary\n    peer-disk:UpToDate\n"
    assert parse_status_text(text)[0].name == "r"          # an excerpt (samples, docs)
    with pytest.raises(ParseError, match="cut short"):
        parse_status_text(text, whole=True)
    assert parse_status_text(text + "\n", whole=True)[0].name == "r"
    assert parse_status_text("# No currently configured DRBD found.\n", whole=True) == []


@pytest.mark.parametrize("text", [
    "r role:Primary\n  disk:UpToDa\n\n",                                     # token cut
    "r role:Primary\n  disk:UpToDate\n  p role:Secondary\n    peer-disk:Up\n\n",
    "r role:Primary suspended:sometimes\n  disk:UpToDate\n\n",
    "r role:Primary\n  disk:UpToDate\n  p connection:Connectin\n\n",
    "r role:Primary\n  disk:UpToDate\n  p role:Secondary\n    replication:SyncTar peer-disk:UpToDate\n\n",
])
def test_text_unknown_state_word_is_an_error(text):
    with pytest.raises(ParseError, match="not a state DRBD 9 prints"):
        parse_status_text(text, whole=True)
