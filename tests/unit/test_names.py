"""Every name grammar (hivehealth/names.py) with names each tool accepts and names it refuses,
and the command mechanism (hivehealth.remedy.plan.Cmd) that quotes them."""
import subprocess

import pytest

from hivehealth.remedy import names
from hivehealth.site.inventory import Server, Site
from hivehealth.remedy.plan import Cmd, Step, UnsafeArgument, all_of, each, pipe

HOSTILE = ["foo$(touch /tmp/x)", "a;b", "a b", "a`id`", "a\nb", "a|b", "a&b", "a>b", "$HOME", "a'b", 'a"b',
           "a*b", "", "\x00"]


@pytest.mark.parametrize("unit", [
    "sshd.service", "getty@tty1.service", r"systemd-fsck@dev-disk-by\x2duuid-1234.service",
    "drbd-resource@ldap_data.service", "-.mount", "-.slice", "dnf-makecache.timer", "foo@.service",
    "user@1000.service", "a:b.socket", "sys-devices-pci0000:00.device", "x@y@z.service", "a" * 247 + ".service",
])
def test_systemd_accepts_its_unit_names(unit):
    assert names.unit(unit) == unit and names.unit(unit).kind == "systemd unit"


@pytest.mark.parametrize("unit", [
    "sshd", "sshd.serv", ".service", "@foo.service", "foo bar.service", "foo$(touch /tmp/x).service",
    "foo;reboot.service", "foo/bar.service", "a" * 248 + ".service", "föö.service", "foo.service\n",
    "foo\n.service", None, 7,
] + [h + ".service" for h in HOSTILE])
def test_systemd_refuses_other_unit_names(unit):
    with pytest.raises(names.InvalidName, match="systemd unit"):
        names.unit(unit)


@pytest.mark.parametrize("res", ["ldap_data", "r0", "pdnsdb_data", "a.b-c", "x" * 128])
def test_drbd_accepts_resource_names(res):
    assert names.drbd_resource(res) == res


@pytest.mark.parametrize("res", ["all", "-x", "--force", "a/b", "x" * 129, "ldap_data\n"] + HOSTILE)
def test_drbd_refuses_other_resource_names(res):
    with pytest.raises(names.InvalidName, match="DRBD resource"):
        names.drbd_resource(res)


@pytest.mark.parametrize("svc", ["ldap", "pdnsdb", "web_1", "a-b_c", "a", "A9", "x" * 63])
def test_swarm_accepts_service_names(svc):
    assert names.service(svc) == svc


@pytest.mark.parametrize("svc", ["-ldap", "ldap-", "_x", "x_", "a.b", "x" * 64, "ldap\n"] + HOSTILE)
def test_swarm_refuses_other_service_names(svc):
    with pytest.raises(names.InvalidName, match="docker service"):
        names.service(svc)


def test_service_grammar_is_fast_on_a_long_hostile_name():
    with pytest.raises(names.InvalidName):
        names.service("a" * 60 + "!")      # swarmkit's nested regex would backtrack here


@pytest.mark.parametrize("vol", ["ldap_data", "registry_regdata", "a.b", "a-"])
def test_docker_accepts_volume_names(vol):
    assert names.volume(vol) == vol


@pytest.mark.parametrize("vol", ["a", "-a", ".a", "_a", "a/b", "a b"] + HOSTILE)
def test_docker_refuses_other_volume_names(vol):
    with pytest.raises(names.InvalidName, match="docker volume"):
        names.volume(vol)


@pytest.mark.parametrize("nid", ["k2ib7m5pd1ub3y0wkfhsx6a0q", "0" * 25, "f5lxx1zz5pnorynqglhzmsp33"])
def test_swarm_accepts_node_ids(nid):
    assert names.node_id(nid) == nid


@pytest.mark.parametrize("nid", ["id2", "K2IB7M5PD1UB3Y0WKFHSX6A0Q", "k2ib7m5pd1ub3y0wkfhsx6a0",
                                 "k2ib7m5pd1ub3y0wkfhsx6a0qq", "s-hive2", "k2ib7m5pd1ub3y0wkfhsx6a0q\n", None]
                        + HOSTILE)
def test_swarm_refuses_other_node_ids(nid):
    with pytest.raises(names.InvalidName, match="swarm node ID"):
        names.node_id(nid)


@pytest.mark.parametrize("value,minor", [(1, 1), (0, 0), ("12", 12), (names.MINOR_MAX, names.MINOR_MAX)])
def test_drbd_minor_is_an_integer(value, minor):
    assert names.drbd_minor(value) == minor


@pytest.mark.parametrize("value", [True, -1, names.MINOR_MAX + 1, "1$(id)", "1 ", "0x1", 1.0, None, "", [1]])
def test_drbd_minor_refuses_anything_else(value):
    with pytest.raises(names.InvalidName, match="DRBD minor"):
        names.drbd_minor(value)


def test_drbd_device_comes_from_the_site_map_only():
    site = Site("hive", [], drbd_device_map={"ldap_data": 3, "bad": "3;reboot"})
    assert names.drbd_device(site, "ldap_data") == ("ldap_data", "/dev/drbd3")
    with pytest.raises(names.InvalidName, match="not a volume of the site's drbd_device_map"):
        names.drbd_device(site, "other_data")
    with pytest.raises(names.InvalidName, match="DRBD minor"):
        names.drbd_device(site, "bad")


@pytest.mark.parametrize("value", [0, 1, 30])
def test_replica_counts(value):
    assert names.replicas(value) == value


@pytest.mark.parametrize("value", [-1, "1", True, None, 1.5])
def test_replica_counts_refused(value):
    with pytest.raises(names.InvalidName, match="replica count"):
        names.replicas(value)


# ---------------------------------------------------------------- the command mechanism
def test_a_step_never_takes_shell_text():
    with pytest.raises(TypeError, match="never shell text"):
        Step("s-hive0.lab", "$SUDO systemctl restart foo.service", "why")
    with pytest.raises(TypeError, match="program name"):
        Cmd("$(reboot)")


def test_unvalidated_data_in_an_argument_is_refused():
    with pytest.raises(UnsafeArgument, match="only validated names"):
        Cmd("systemctl", "restart", "foo$(touch /tmp/x).service")
    with pytest.raises(UnsafeArgument):
        Cmd("systemctl", "restart", r"systemd-fsck@dev-disk-by\x2duuid-1234.service")   # not through names.unit
    assert Cmd("systemctl", "restart", names.unit(r"a@b\x2dc.service")).argv[-1] == r"a@b\x2dc.service"


def test_sudo_is_a_flag_and_arguments_are_quoted():
    unit = names.unit(r"systemd-fsck@dev-disk-by\x2duuid-1234.service")
    step = Step("s-hive0.lab", Cmd("systemctl", "restart", "--", unit, root=True), "why")
    assert step.command == "$SUDO systemctl restart -- 'systemd-fsck@dev-disk-by\\x2duuid-1234.service'"
    assert step.shown == "sudo systemctl restart -- 'systemd-fsck@dev-disk-by\\x2duuid-1234.service'"
    compound = all_of(Cmd("grep", "-q", "^/dev/drbd1 ", "/proc/mounts", negate=True),
                      Cmd("xfs_repair", "/dev/drbd1", root=True))
    assert compound.shell() == "! grep -q '^/dev/drbd1 ' /proc/mounts && $SUDO xfs_repair /dev/drbd1"
    nested = each(all_of(Cmd("test", "-d", "/x"), pipe(Cmd("du", "/x", quiet=True), Cmd("sort"))), Cmd("true"))
    assert nested.shell() == "{ test -d /x && du /x 2>/dev/null | sort; }; true"


def test_the_shell_passes_each_argument_as_exactly_one_word(tmp_path):
    """The rendered text, run by a real shell, gives the program exactly the argv the step holds."""
    argv_out = tmp_path / "argv"
    stub = tmp_path / "systemctl"
    stub.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {argv_out}\n')
    stub.chmod(0o755)
    unit = names.unit(r"systemd-fsck@dev-disk-by\x2duuid-1234.service")
    step = Step("h", Cmd("systemctl", "restart", "--", unit, root=True), "why")
    subprocess.run(["sh", "-c", f"SUDO=; PATH={tmp_path}:$PATH; {step.command}"], check=True)
    assert argv_out.read_text().splitlines() == ["restart", "--", r"systemd-fsck@dev-disk-by\x2duuid-1234.service"]


def test_inventory_check_of_step_hosts():
    from hivehealth.remedy.plan import Plan
    from hivehealth.remedy.runner import _refuse_foreign_hosts
    site = Site("hive", [Server("s-hive0.lab", frozenset({"hive"}), "hive")])
    plan = Plan(steps=[Step("s-hive0.lab; reboot", Cmd("true"), "why")])
    _refuse_foreign_hosts(plan, site)
    assert plan.refused == "a step would run on 's-hive0.lab; reboot', which is not a server of the site's inventory"
    ok = Plan(steps=[Step("s-hive0.lab", Cmd("true"), "why")])
    _refuse_foreign_hosts(ok, site)
    assert ok.refused is None
