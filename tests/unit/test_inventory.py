"""Finding the servers of a hive-builder project, good and broken."""
import textwrap

import pytest

from hivehealth.site.inventory import InventoryError, discover, load_hive_project

SSH_BLOCK = """\
Host {name}
  HostName {ip}
  UserKnownHostsFile {ctx}/known_hosts
  StrictHostKeyChecking yes
  User admin
  PasswordAuthentication no
  IdentityFile {ctx}/id_rsa
  IdentitiesOnly yes
  LogLevel FATAL
"""


def make_project(root, stage="staging", hosts=4, separate=True, persist=None, name="pdns"):
    prefix = {"private": "p-", "staging": "s-", "production": ""}[stage]
    ctx = root / ".hive" / stage
    ctx.mkdir(parents=True)
    (root / "inventory").mkdir()
    (root / "inventory" / "hive.yml").write_text(textwrap.dedent(f"""\
        plugin: hive_inventory
        name: {name}
        stages:
          {stage}:
            provider: prepared
            separate_repository: {separate}
            cidr: 192.168.0.96/27
        """))
    text = "".join(f"# BEGIN ANSIBLE MANAGED BLOCK {prefix}hive{i}.{name}\n"
                   + SSH_BLOCK.format(name=f"{prefix}hive{i}.{name}", ip=f"192.0.2.{10 + i}", ctx=ctx)
                   + f"# END ANSIBLE MANAGED BLOCK {prefix}hive{i}.{name}\n" for i in range(hosts))
    (ctx / "ssh_config").write_text(text)
    (root / ".hive" / "persistents.yml").write_text(
        persist if persist is not None else f"stage:\n  global: {stage}\n")
    return root


def test_separate_repository_is_the_last_host(tmp_path):
    site = load_hive_project(make_project(tmp_path))
    assert [s.name for s in site.servers] == [f"s-hive{i}.pdns" for i in range(4)]
    assert [s.name for s in site.hives] == ["s-hive0.pdns", "s-hive1.pdns", "s-hive2.pdns"]
    assert site.repository.name == "s-hive3.pdns" and not site.repository.is_hive
    assert site.stage == "staging" and site.name == "pdns"
    assert "first_hive" in site.servers[0].roles


def test_combined_repository_is_also_a_hive(tmp_path):
    site = load_hive_project(make_project(tmp_path, hosts=3, separate=False))
    assert len(site.hives) == 3
    assert site.repository.name == "s-hive2.pdns" and site.repository.is_hive


def test_first_hive_and_device_map_from_persistents(tmp_path):
    persist = ("stage: {global: staging}\nfirst_hive: {staging: '1'}\n"
               "drbd_device_map: {staging: {ldap_data: 1, pdnsdb_data: 2}}\nno_format: {global: true}\n")
    site = load_hive_project(make_project(tmp_path, persist=persist))
    assert site.first_hive == 1          # `hive set first_hive 1` stores the string "1"
    assert "first_hive" in site.server("s-hive1").roles
    assert site.drbd_device_map == {"ldap_data": 1, "pdnsdb_data": 2}
    assert site.no_format is True


def test_stage_option_overrides_persisted_stage(tmp_path):
    make_project(tmp_path, stage="staging")
    with pytest.raises(InventoryError, match="stage 'production' is not defined"):
        load_hive_project(tmp_path, stage="production")


def test_default_stage_is_private(tmp_path):
    make_project(tmp_path, stage="private", persist="")
    assert load_hive_project(tmp_path).stage == "private"


@pytest.mark.parametrize("content, problem", [
    ("stage: [unclosed", "not valid YAML"),
    ("- a\n- b\n", "expected a mapping"),
    ("stage: staging\n", "should map scopes"),
    ("stage: {global: staging}\nfirst_hive: {staging: x}\n", "first_hive should be a server index"),
    ("stage: {global: staging}\nfirst_hive: {staging: 7}\n", "outside the 3 hives"),
])
def test_broken_persistents_name_the_file(tmp_path, content, problem):
    make_project(tmp_path, persist=content)
    with pytest.raises(InventoryError, match=problem) as e:
        load_hive_project(tmp_path)
    assert str(e.value).startswith(str(tmp_path / ".hive" / "persistents.yml"))


def test_missing_ssh_config(tmp_path):
    make_project(tmp_path)
    (tmp_path / ".hive" / "staging" / "ssh_config").unlink()
    with pytest.raises(InventoryError, match="ssh_config: file not found"):
        load_hive_project(tmp_path)


def test_empty_ssh_config(tmp_path):
    make_project(tmp_path)
    (tmp_path / ".hive" / "staging" / "ssh_config").write_text("# nothing\n")
    with pytest.raises(InventoryError, match="no 'Host' entries"):
        load_hive_project(tmp_path)


def test_broken_hive_yml(tmp_path):
    make_project(tmp_path)
    (tmp_path / "inventory" / "hive.yml").write_text("stages: [a\n")
    with pytest.raises(InventoryError, match=r"hive\.yml: not valid YAML"):
        load_hive_project(tmp_path)


def test_persisted_context_dir(tmp_path):
    make_project(tmp_path)
    moved = tmp_path / "elsewhere"
    (tmp_path / ".hive" / "staging").rename(moved)
    (tmp_path / ".hive" / "persistents.yml").write_text(
        f"stage: {{global: staging}}\ncontext_dir: {{staging: {moved}}}\n")
    assert load_hive_project(tmp_path).context_dir == str(moved)


def test_discovery_order(tmp_path):
    make_project(tmp_path)
    assert discover("a,b", None, "ssh", str(tmp_path), None).kind == "hosts"
    assert discover(None, None, None, str(tmp_path), None).kind == "hive"
    assert discover(None, None, "local", str(tmp_path), None).kind == "local"
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(InventoryError, match="not a hive-builder project"):
        discover(None, None, None, str(plain), None)


def test_explicit_hosts_get_the_connection_scheme():
    site = discover("web1,root@web2:2222", None, "ssh", None, None)
    assert [s.spec for s in site.servers] == ["ssh://web1", "ssh://root@web2:2222"]
    assert [s.name for s in site.servers] == ["web1", "web2"]


def test_ssh_config_alone_lists_its_hosts_in_order(tmp_path):
    make_project(tmp_path)
    cfg = tmp_path / ".hive" / "staging" / "ssh_config"
    site = discover(None, str(cfg), None, None, None)
    assert [s.name for s in site.servers] == [f"s-hive{i}.pdns" for i in range(4)]
    assert site.repository.name == "s-hive3.pdns" and [s.short for s in site.hives] == ["s-hive0", "s-hive1", "s-hive2"]
    with pytest.raises(InventoryError, match="cannot read"):
        discover(None, str(tmp_path / "missing"), None, None, None)


@pytest.mark.parametrize("spec, hop", [
    ("jump", (None, "jump", None)),
    ("admin@jump.lab:2222", ("admin", "jump.lab", 2222)),
    ("ssh://admin@10.0.0.1:22", ("admin", "10.0.0.1", 22)),
    ("root@[::1]:2200", ("root", "::1", 2200)),
    ("a@b@c", ("a@b", "c", None)),
])
def test_proxyjump_hops_are_read_as_ssh_reads_them(spec, hop):
    from hivehealth.site.ssh_config import parse_jump
    assert parse_jump(spec) == hop


@pytest.mark.parametrize("spec", ["", "host:port", "u@", "a b"])
def test_bad_proxyjump_hop_is_named(spec):
    from hivehealth.site.ssh_config import HostError, parse_jump
    with pytest.raises(HostError, match="is not \\[user@\\]host\\[:port\\]"):
        parse_jump(spec)


def test_host_patterns_as_openssh_matches_them():
    from hivehealth.site.ssh_config import host_matches
    assert host_matches("s-hive1.pdns", ["s-hive*", "!s-hive2.*"])
    assert not host_matches("s-hive2.pdns", ["s-hive*", "!s-hive2.*"])
    assert host_matches("S-HIVE1.pdns", ["s-hive1.pdns"]) and not host_matches("s-hive1.pdnsx", ["s-hive1.pdns"])
    assert host_matches("a.b", ["?.b"]) and not host_matches("a[b", ["a[b]"])


def test_paramiko_fallback_reads_a_hive_ssh_config_as_openssh_does(tmp_path, monkeypatch):
    from hivehealth.site import ssh_config
    if not ssh_config.openssh():
        pytest.skip("OpenSSH's ssh is not installed")
    make_project(tmp_path)
    cfg = str(tmp_path / ".hive" / "staging" / "ssh_config")
    fields = ("hostname", "port", "user", "identityfiles", "identitiesonly", "knownhosts", "strict",
              "proxycommand", "proxyjump")
    by_ssh = {f: getattr(ssh_config.resolve(cfg, "s-hive1.pdns"), f) for f in fields}
    monkeypatch.setattr(ssh_config, "openssh", lambda: None)
    by_paramiko = {f: getattr(ssh_config.resolve(cfg, "s-hive1.pdns"), f) for f in fields}
    assert by_ssh == by_paramiko
    assert by_ssh["hostname"] == "192.0.2.11" and by_ssh["strict"] == "yes" and by_ssh["port"] == 22
