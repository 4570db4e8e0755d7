"""The SSH transport against real OpenSSH servers on loopback: ssh_config resolved as `ssh`
resolves it (Include, Match, ProxyJump), and StrictHostKeyChecking accept-new recording a new
key where `ssh` finds it."""
import subprocess

import pytest

from hivehealth.site.inventory import Server
from hivehealth.site.transport import Pool, Unreachable
from loopback_sshd import needs_sshd, sshds  # noqa: F401  (fixture)

pytestmark = needs_sshd


def block(name, d, key, kh, extra=""):
    return (f"Host {name}\n  HostName 127.0.0.1\n  User {d.user}\n  IdentityFile {key}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {kh}\n  StrictHostKeyChecking yes\n{extra}")


def known(path, d):
    with open(path, "a") as f:
        f.write(f"[127.0.0.1]:{d.port} ssh-ed25519 {d.public_key()}\n")


def run(cfg, name):
    r = Pool(connect_timeout=10).run(Server(name, frozenset({"hive"}), "hive", str(cfg)), "echo hello; uname -n", 20)
    return r


def real_ssh(cfg, name):
    return subprocess.run(["ssh", "-F", str(cfg), "-o", "BatchMode=yes", name, "echo hello"],
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_include_and_proxyjump_connect_where_ssh_does(tmp_path, sshds):
    jump, target = sshds("jump"), sshds("target")
    key, kh = sshds.client_key, tmp_path / "known_hosts"
    known(kh, jump)
    known(kh, target)
    inc = tmp_path / "conf.d"
    inc.mkdir()
    # the target's port is only in the included file; the target is reached through the jump
    # host, whose own port comes from the ProxyJump spec
    (inc / "target.conf").write_text(f"Host s-hive1.lab\n  Port {target.port}\n")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Include {inc}/*.conf\n"
                   + block("s-hive0.lab", jump, key, kh)
                   + block("s-hive1.lab", target, key, kh,
                           f"  ProxyJump {jump.user}@s-hive0.lab:{jump.port}\n"))
    assert real_ssh(cfg, "s-hive1.lab").stdout == "hello\n"       # what `hive ssh` does
    assert run(cfg, "s-hive1.lab").stdout.startswith("hello\n")   # and the suite
    assert f"target 127.0.0.1 port {target.port}" in jump.log.read_text()  # through the jump host


def test_two_jumps_with_the_same_host_key_policy_per_hop(tmp_path, sshds):
    j1, j2, target = sshds("j1"), sshds("j2"), sshds("target")
    key, kh = sshds.client_key, tmp_path / "known_hosts"
    for d in (j1, target):
        known(kh, d)
    cfg = tmp_path / "ssh_config"
    cfg.write_text(block("j1", j1, key, kh, f"  Port {j1.port}\n") + block("j2", j2, key, kh, f"  Port {j2.port}\n")
                   + block("t", target, key, kh, f"  Port {target.port}\n  ProxyJump j1,j2\n"))
    # j2's key is unknown and its StrictHostKeyChecking is yes: refused there, as ssh refuses
    assert real_ssh(cfg, "t").returncode != 0
    with pytest.raises(Unreachable, match=r"host key of \[127.0.0.1\]:\d+ is not in"):
        run(cfg, "t")
    known(kh, j2)
    assert real_ssh(cfg, "t").stdout == "hello\n"
    assert run(cfg, "t").stdout.startswith("hello\n")
    assert f"port {j2.port}" in j1.log.read_text() and f"port {target.port}" in j2.log.read_text()


def test_proxycommand_still_works(tmp_path, sshds):
    jump, d = sshds("pcjump"), sshds("pc")
    kh = tmp_path / "known_hosts"
    known(kh, jump)
    known(kh, d)
    cfg = tmp_path / "ssh_config"
    cfg.write_text(block("jump.lab", jump, sshds.client_key, kh, f"  Port {jump.port}\n")
                   + block("pc.lab", d, sshds.client_key, kh,
                           f"  Port {d.port}\n  ProxyCommand ssh -F {cfg} -W %h:%p jump.lab\n"))
    assert run(cfg, "pc.lab").stdout.startswith("hello\n")
    assert f"port {d.port}" in jump.log.read_text()


@pytest.mark.parametrize("hashed", [False, True])
def test_accept_new_records_the_key_where_ssh_finds_it(tmp_path, sshds, hashed):
    d = sshds("new")
    kh = tmp_path / "known_hosts"
    if hashed:   # a file hashed already gets a hashed entry
        other = sshds("other")
        known(kh, other)
        subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(kh)], check=True, capture_output=True)
    before = kh.read_text() if kh.exists() else ""
    cfg = tmp_path / "ssh_config"
    cfg.write_text(block("new.lab", d, sshds.client_key, kh, f"  Port {d.port}\n").replace(
        "StrictHostKeyChecking yes", "StrictHostKeyChecking accept-new"))
    assert run(cfg, "new.lab").stdout.startswith("hello\n")
    added = kh.read_text()[len(before):]
    assert added.count("\n") == 1 and added.startswith("|1|") == hashed
    found = subprocess.run(["ssh-keygen", "-F", f"[127.0.0.1]:{d.port}", "-f", str(kh)], capture_output=True, text=True)
    assert d.public_key() in found.stdout
    # ssh itself now trusts it with StrictHostKeyChecking yes
    strict = subprocess.run(["ssh", "-F", str(cfg), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                             "new.lab", "true"], capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    assert strict.returncode == 0
    run(cfg, "new.lab")                       # a second run adds nothing
    assert kh.read_text()[len(before):] == added


def test_accept_new_never_accepts_a_changed_key(tmp_path, sshds):
    d = sshds("changed")
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{d.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    before = kh.read_text()
    cfg = tmp_path / "ssh_config"
    cfg.write_text(block("c.lab", d, sshds.client_key, kh, f"  Port {d.port}\n").replace(
        "StrictHostKeyChecking yes", "StrictHostKeyChecking accept-new"))
    with pytest.raises(Unreachable, match="does not match"):
        run(cfg, "c.lab")
    assert kh.read_text() == before


def test_accept_new_refuses_a_key_it_cannot_record(tmp_path, sshds):
    d = sshds("norecord")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(block("n.lab", d, sshds.client_key, tmp_path / "missing-dir" / "known_hosts",
                         f"  Port {d.port}\n").replace("StrictHostKeyChecking yes", "StrictHostKeyChecking accept-new"))
    with pytest.raises(Unreachable, match="cannot be recorded"):
        run(cfg, "n.lab")


def test_the_suite_reaches_a_hive_project_through_include_and_proxyjump(tmp_path, sshds):
    """The whole suite on a hive project whose ssh_config uses Include and ProxyJump: every
    server answers its probe, as `ssh -F ssh_config <server>` answers."""
    import json

    from test_cli import suite
    from test_inventory import make_project
    make_project(tmp_path, hosts=2)
    jump, target = sshds("jump"), sshds("target")
    ctx = tmp_path / ".hive" / "staging"
    key, kh = sshds.client_key, ctx / "known_hosts"
    known(kh, jump)
    known(kh, target)
    (ctx / "ports.conf").write_text(f"Host s-hive0.pdns\n  Port {jump.port}\nHost s-hive1.pdns\n  Port {target.port}\n")
    cfg = ctx / "ssh_config"
    cfg.write_text(f"Include {ctx}/ports.conf\n" + block("s-hive0.pdns", jump, key, kh)
                   + block("s-hive1.pdns", target, key, kh, "  ProxyJump s-hive0.pdns\n"))
    for name in ("s-hive0.pdns", "s-hive1.pdns"):
        assert real_ssh(cfg, name).stdout == "hello\n"
    rc, out = suite("--hive-root", str(tmp_path), "-k", "disk", "-o", f"report_dir={tmp_path / 'r'}",
                    "--record", str(tmp_path / "rec"))
    assert rc in (0, 1), out
    for name in ("s-hive0.pdns", "s-hive1.pdns"):
        facts = json.loads((tmp_path / "rec" / f"host-{name}.json").read_text())
        assert facts["unreachable"] is None and facts["results"]["uname"]["rc"] == 0, facts["unreachable"]
    assert f"port {target.port}" in jump.log.read_text()
