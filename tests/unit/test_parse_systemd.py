"""systemctl parsers on recorded outputs (tests/data/samples/, sources in SOURCES.md there)."""
from pathlib import Path

import pytest

from hivehealth.parsers import ParseError
from hivehealth.parsers.systemd import (FailedUnit, not_booted_with_systemd, parse_list_units_json,
                                        parse_list_units_plain, parse_show)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def sample(rel: str) -> str:
    return (SAMPLES / rel).read_text()


def test_json_failed_units():
    # no public capture of `-o json` exists (SOURCES.md gaps): this is systemd's json=short layout
    text = ('[{"unit":"drbd-resource@ldap_data.service","load":"loaded","active":"failed","sub":"failed",'
            '"description":"DRBD resource ldap_data"},{"unit":"dnf-makecache.timer","load":"loaded",'
            '"active":"failed","sub":"failed","description":"dnf makecache --timer"}]')
    assert parse_list_units_json(text) == [
        FailedUnit("drbd-resource@ldap_data.service", "loaded", "failed", "failed", "DRBD resource ldap_data"),
        FailedUnit("dnf-makecache.timer", "loaded", "failed", "failed", "dnf makecache --timer")]
    assert parse_list_units_json("[]") == [] and parse_list_units_json("") == []


@pytest.mark.parametrize("text, message", [
    ('[{"unit": "a.service", "load": "loaded"', "invalid JSON"),
    ('{"unit": "a.service"}', "expected an array of units"),
    ('[{"unit": "a.service", "load": "loaded", "active": "failed"}]', "item 1 lacks string sub"),
    ('["a.service"]', "item 1 is str, expected an object"),
])
def test_json_malformed(text, message):
    with pytest.raises(ParseError, match="systemctl list-units -o json: " + message):
        parse_list_units_json(text)


def test_plain_no_legend():
    # `--plain --no-legend`, the form the engine asks for, as systemd 219+ prints it
    text = "drbd-resource@ldap_data.service loaded failed failed DRBD resource ldap_data\n" \
           "getty@tty1.service              loaded failed failed Getty on tty1\n"
    units = parse_list_units_plain(text)
    assert [(u.unit, u.description) for u in units] == [
        ("drbd-resource@ldap_data.service", "DRBD resource ldap_data"), ("getty@tty1.service", "Getty on tty1")]
    assert parse_list_units_plain("") == []


def test_default_format_marker_and_old_legend_centos7():
    (u,) = parse_list_units_plain(sample("systemctl-failed/state-failed-one-network-service-centos7.txt"))
    assert u == FailedUnit("network.service", "loaded", "failed", "failed", "LSB: Bring up/down networking")


def test_default_format_not_found_units_new_legend():
    units = parse_list_units_plain(sample("systemctl-failed/two-notfound-failed-gardenlinux.txt"))
    assert [(u.unit, u.load, u.active) for u in units] == [
        ("sysroot-usr.mount", "not-found", "failed"), ("sysroot-usr-fsck.service", "not-found", "failed")]


def test_default_format_without_marker_column_systemd228():
    (u,) = parse_list_units_plain(sample("systemctl-failed/one-failed-no-marker-systemd228-suse.txt"))
    assert (u.unit, u.description) == ("apache2.service", "The Apache Webserver")


def test_default_format_trailing_spaces_arch():
    (u,) = parse_list_units_plain(sample("systemctl-failed/one-failed-user-manager-systemd243-arch.txt"))
    assert (u.unit, u.sub, u.description) == ("user@975.service", "failed", "User Manager for UID 975")


def test_arrow_legend_and_escaped_marker_systemd256():
    (u,) = parse_list_units_plain(sample("systemctl-failed/legend-arrow-format-systemd256-PAGER-TRUNCATED.txt"))
    assert (u.unit, u.load, u.active) == ("systemd-networkd-persistent-storage.service", "loaded", "failed")


def test_full_listing_with_markers_centos77():
    units = parse_list_units_plain(sample("systemctl-list-units/centos77-systemctl-a-notfound-markers.txt"))
    assert len(units) == 220    # the footer says "220 loaded units listed."
    assert units[0].unit == "proc-sys-fs-binfmt_misc.automount"
    cloud = next(u for u in units if u.unit == "cloud-init.service")
    assert (cloud.load, cloud.active, cloud.sub) == ("not-found", "inactive", "dead")


def test_full_listing_trailing_spaces_ubuntu1804():
    units = parse_list_units_plain(sample("systemctl-list-units/ubuntu1804-systemctl-all-trailing-spaces.txt"))
    assert len(units) == 334
    assert units[1] == FailedUnit("dev-cdrom.device", "loaded", "active", "plugged", "VMware_Virtual_SATA_CDRW_Drive CDROM")


def test_plain_malformed():
    with pytest.raises(ParseError, match="systemctl list-units: line 1: expected UNIT LOAD ACTIVE SUB"):
        parse_list_units_plain("Failed to connect to bus: No such file\n")


def test_show_blocks():
    # `systemctl show -p Id -p Result -p ActiveState -p SubState u1 u2` layout (blank line between units)
    text = "Id=drbd-resource@ldap_data.service\nResult=exit-code\nActiveState=failed\nSubState=failed\n\n" \
           "Id=getty@tty1.service\nResult=success\nActiveState=active\nSubState=running\n" \
           "ExecStart={ path=/sbin/agetty ; argv[]=/sbin/agetty -o -p }\n"
    blocks = parse_show(text)
    assert [b["Id"] for b in blocks] == ["drbd-resource@ldap_data.service", "getty@tty1.service"]
    assert blocks[0]["Result"] == "exit-code"
    assert blocks[1]["ExecStart"] == "{ path=/sbin/agetty ; argv[]=/sbin/agetty -o -p }"
    assert parse_show("") == []


def test_show_malformed():
    with pytest.raises(ParseError, match="systemctl show: line 2: expected Key=Value"):
        parse_show("Id=a.service\nUnit a.service could not be found.\n")


def test_not_booted_with_systemd_is_told_from_other_errors():
    # systemctl of systemd 252 (Debian 252.39-1~deb12u2) in a container without systemd as PID 1,
    # as tests/data/states/units/not-booted-with-systemd.yaml also holds it
    real = ("System has not been booted with systemd as init system (PID 1). Can't operate.\n"
            "Failed to connect to bus: Host is down\n")
    assert not_booted_with_systemd(real)
    assert not not_booted_with_systemd("Failed to connect to bus: No such file or directory\n")
    assert not not_booted_with_systemd("") and not not_booted_with_systemd(None)
