"""df / findmnt / du parsers and real_filesystems on recorded outputs (tests/data/samples/)."""
from pathlib import Path

import pytest

from hivehealth.parsers import ParseError
from hivehealth.parsers.fs import (Filesystem, parse_df_posix, parse_du, parse_du_kib, parse_findmnt_json,
                                   real_filesystems)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def sample(rel: str) -> str:
    return (SAMPLES / rel).read_text()


def test_df_typed_inside_container():
    dfs = parse_df_posix(sample("df/df-TPk-inside-container-overlay-root.txt"))
    assert dfs[0] == Filesystem("overlay", "overlay", 82999276, 6529676, 76469600, 8, "/")
    assert (dfs[3].source, dfs[3].fstype, dfs[3].target) == ("/dev/vda4", "xfs", "/etc/hosts")
    assert [f.target for f in real_filesystems(dfs)] == ["/etc/hosts"]   # without findmnt, bind not known


def test_bind_mount_dropped_with_findmnt_fsroot():
    dfs = parse_df_posix(sample("df/df-TPk-inside-container-overlay-root.txt"))
    # findmnt -J -l -o TARGET,SOURCE,FSTYPE,FSROOT layout; no real capture in a container exists
    mnt = parse_findmnt_json('{"filesystems": [{"target": "/etc/hosts", "source": "/dev/vda4[/var/lib/docker/'
                             'containers/abc/hosts]", "fstype": "xfs", "fsroot": "/var/lib/docker/containers/abc/hosts"}]}')
    assert real_filesystems(dfs, mnt) == []


def test_df_long_device_name_overflow_and_dash_capacity():
    dfs = parse_df_posix(sample("df/generic-df-PT-long-device-name-overflow.txt"))
    assert dfs[0] == Filesystem("/dev/mapper/VolGroup00-LogVol00", "ext3", 6030784, 1147932, 4571556, 21, "/")
    assert (dfs[1].fstype, dfs[1].use_pct, dfs[1].size_kib) == ("proc", 0, 0)
    assert [f.target for f in real_filesystems(dfs)] == ["/"]


def test_df_without_type_centos():
    dfs = parse_df_posix(sample("df/centos77-df-default.txt"))
    assert len(dfs) == 7 and all(f.fstype is None for f in dfs)
    assert dfs[4] == Filesystem("/dev/mapper/centos-root", None, 17811456, 1805580, 16005876, 11, "/")
    assert [f.target for f in real_filesystems(dfs)] == ["/", "/boot"]


def test_df_snap_loops_are_not_disks():
    dfs = parse_df_posix(sample("df/ubuntu1804-df-default-snap-loops-100pct.txt"))
    assert sum(f.use_pct == 100 for f in dfs) == 11
    assert [(f.source, f.target) for f in real_filesystems(dfs)] == [("/dev/sda2", "/")]


def test_df_human_sizes_refused():
    with pytest.raises(ParseError, match=r"df -P -T -k: sizes are not in 1K blocks"):
        parse_df_posix(sample("df/centos77-df-h.txt"))


def test_df_mount_point_with_spaces_and_wrapped_device():
    text = ("Filesystem     Type 1024-blocks    Used Available Capacity Mounted on\n"
            "/dev/sdb1      ext4     1000000  900000    100000      90% /mnt/my data\n"
            "/dev/mapper/a-very-long-volume-group-name-lv\n"
            "               xfs      2000000  100000   1900000       5% /srv\\040x\n")
    dfs = parse_df_posix(text)
    assert [(f.source, f.target, f.use_pct) for f in dfs] == [
        ("/dev/sdb1", "/mnt/my data", 90), ("/dev/mapper/a-very-long-volume-group-name-lv", "/srv x", 5)]


@pytest.mark.parametrize("text, message", [
    ("df: /nope: No such file or directory\n", "no df header line"),
    ("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 x y z 10% /\n", "line 2: not a df row"),
])
def test_df_malformed(text, message):
    with pytest.raises(ParseError, match="df -P -T -k: " + message):
        parse_df_posix(text)


def test_same_device_twice_keeps_shortest_target_and_docker_mounts_dropped():
    # df -P -T -k of a hive (constructed: no full host-side capture with docker mounts exists)
    text = ("Filesystem     Type    1024-blocks     Used Available Capacity Mounted on\n"
            "/dev/vda1      xfs        20959212 17000000   3959212      82% /\n"
            "/dev/vda1      xfs        20959212 17000000   3959212      82% /var/lib/docker\n"
            "overlay        overlay    20959212 17000000   3959212      82% /var/lib/docker/overlay2/0a1b/merged\n"
            "shm            tmpfs         65536        0     65536       0% /var/lib/docker/containers/0a1b/mounts/shm\n"
            "/dev/drbd1     xfs          983040    40000    943040       5% /var/lib/docker/volumes/ldap_data/_data\n")
    assert [f.target for f in real_filesystems(parse_df_posix(text))] == ["/", "/var/lib/docker/volumes/ldap_data/_data"]


def test_findmnt_tree_flattened():
    mounts = parse_findmnt_json(sample("findmnt/json-all-tree-util-linux-testsuite.json"))
    assert len(mounts) == 32
    assert mounts[0] == {"target": "/", "source": "/dev/sda4", "fstype": "ext3",
                         "options": "rw,noatime,errors=continue,user_xattr,acl,barrier=0,data=ordered"}
    assert [m["target"] for m in mounts[1:4]] == ["/proc", "/proc/sys/fs/binfmt_misc", "/proc/sys/fs/binfmt_misc"]
    assert all("children" not in m for m in mounts)


def test_findmnt_single_target():
    assert parse_findmnt_json(sample("findmnt/json-single-target-home-VIA-JQ.json")) == [
        {"target": "/home", "source": "/dev/xvda4", "fstype": "ext4", "options": "rw,nosuid,nodev,relatime,quota,usrquota"}]


@pytest.mark.parametrize("text, message", [
    ('{"filesystems": [', "invalid JSON"), ('[]', "expected an object with a 'filesystems' array"),
    ('{"filesystems": [{"source": "/dev/sda1"}]}', "mount entry without a target"),
])
def test_findmnt_malformed(text, message):
    with pytest.raises(ParseError, match="findmnt -J: " + message):
        parse_findmnt_json(text)


def test_findmnt_text_table_is_refused():
    with pytest.raises(ParseError, match="findmnt -J: invalid JSON"):
        parse_findmnt_json(sample("findmnt/centos77-findmnt-l-list.txt"))


def test_du_units():
    assert parse_du("12G\t/var/lib/docker/volumes/registry_regdata\n") == [(12, "/var/lib/docker/volumes/registry_regdata")]
    assert parse_du("523M\t/var/lib/docker/overlay2/0a1b\n1M\t/x y\n") == [(523, "/var/lib/docker/overlay2/0a1b"), (1, "/x y")]
    assert parse_du("8388608\t/var/lib/docker/volumes/registry_regdata\n")[0][0] == 8388608
    assert parse_du_kib("12G\t/r\n3M\t/s\n640\t/t\n") == [(12 * 1024 * 1024, "/r"), (3072, "/s"), (640, "/t")]


def test_du_error_line():
    with pytest.raises(ParseError, match="du -s: line 1: expected SIZE<TAB>PATH"):
        parse_du("du: cannot access '/var/lib/docker/volumes/registry_regdata': No such file or directory\n")
