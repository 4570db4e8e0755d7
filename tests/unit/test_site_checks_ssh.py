"""Site checks over real SSH without the lab: a private OpenSSH server on loopback addresses
(127.0.0.10-13, one per server of a hive project) that logs every connection, so the test can
count how many connections the whole run opened to each server. Skipped without root or sshd."""
import json
import os
import re
import shutil
import socket
import subprocess
import textwrap
import time

import pytest

from test_cli import newest_report, suite
from test_inventory import make_project

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
ADDRESSES = [f"127.0.0.{10 + i}" for i in range(4)]
SERVERS = [f"s-hive{i}.pdns" for i in range(4)]

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(SSHD) or not shutil.which("ssh-keygen"),
                                reason="needs root, sshd and ssh-keygen (a private sshd on loopback)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path):
    """A hive project whose four servers are this machine's sshd on four loopback addresses."""
    yield from _private_sshd(tmp_path)


# The repository server (the last address) answers every command by trickling a byte a second
# for ever, whatever it was asked: a broken or hostile server that never ends its answer.
TRICKLING = f"Match LocalAddress {ADDRESSES[-1]}\n  ForceCommand while printf x; do sleep 1; done\n"


@pytest.fixture
def trickling_sshd(tmp_path):
    yield from _private_sshd(tmp_path, TRICKLING)


def _private_sshd(tmp_path, extra=""):
    d = tmp_path / "sshd"
    d.mkdir()
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    port = _free_port()
    log = d / "sshd.log"
    (d / "sshd_config").write_text(textwrap.dedent(f"""\
        Port {port}
        {''.join(f'ListenAddress {a}' + chr(10) for a in ADDRESSES)}HostKey {d / 'host_key'}
        AuthorizedKeysFile {d / 'authorized_keys'}
        StrictModes no
        PermitRootLogin prohibit-password
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        PidFile {d / 'sshd.pid'}
        LogLevel VERBOSE
        """) + extra)
    os.makedirs("/run/sshd", exist_ok=True)     # OpenSSH's privilege separation directory
    proc = subprocess.Popen([SSHD, "-D", "-f", str(d / "sshd_config"), "-E", str(log)])
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection((ADDRESSES[-1], port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail(f"private sshd did not start: {log.read_text() if log.exists() else ''}")
                time.sleep(0.1)
        site = make_project(tmp_path / "site")
        ctx = site / ".hive" / "staging"
        shutil.copy(d / "client_key", ctx / "id_rsa")
        host_key = (d / "host_key.pub").read_text().split()
        (ctx / "known_hosts").write_text("".join(f"[{a}]:{port} {host_key[0]} {host_key[1]}\n" for a in ADDRESSES))
        cfg = ctx / "ssh_config"
        text = cfg.read_text().replace("User admin", "User root")
        for i, a in enumerate(ADDRESSES):
            text = text.replace(f"HostName 192.0.2.{10 + i}\n", f"HostName {a}\n  Port {port}\n")
        cfg.write_text(text)
        yield site, log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def connections(log) -> dict[str, int]:
    """SSH logins sshd accepted, per local address (VERBOSE logs 'Connection from A port P on
    B port Q', then 'Accepted publickey for U from A port P')."""
    text = log.read_text()
    address = dict(re.findall(r"Connection from \S+ port (\d+) on (\S+) port \d+", text))
    counts = {a: 0 for a in ADDRESSES}
    for port in re.findall(r"Accepted publickey for \S+ from \S+ port (\d+)", text):
        counts[address[port]] += 1
    return counts


CHECKS = textwrap.dedent('''\
    import pytest


    def test_os_release(host):
        assert host.file("/etc/os-release").is_file
        assert host.run("true").rc == 0


    @pytest.mark.roles("hive")
    def test_sh(host):
        assert host.exists("sh")


    @pytest.mark.roles("repository")
    def test_slow(host):
        host.run("sleep 30")


    @pytest.mark.roles("repository")
    def test_trickle(host):
        host.run("while :; do printf x; sleep 1; done")


    @pytest.mark.roles("repository")
    def test_flood(host):
        host.run("head -c 300M /dev/zero")


    @pytest.mark.roles("repository")
    def test_absent(host):
        assert host.file("/nonexistent/hh-site-check").exists
    ''')


def _run(tmp_path, site, *args):
    rc, out = suite("--hive-root", str(site), "-o", f"report_dir={tmp_path / 'r'}", *args)
    doc = newest_report(tmp_path / "r")
    return rc, out, {c["id"].removeprefix("test_site_ssh.py::"): c for c in doc["checks"]
                     if c["id"].startswith("test_site_ssh.py::")}


def test_site_checks_share_the_suites_one_connection_per_server(sshd, tmp_path):
    site, log = sshd
    (site / "health").mkdir()
    (site / "health" / "test_site_ssh.py").write_text(CHECKS)
    rc, out, got = _run(tmp_path, site, "-k", "not slow and not absent and not trickle and not flood")
    expected = {f"test_os_release[{s}]" for s in SERVERS} | {f"test_sh[{s}]" for s in SERVERS[:3]}
    assert {i: c["outcome"] for i, c in got.items()} == {i: "passed" for i in expected}, out
    assert all(c["status"] == "ok" for c in got.values())
    # the suite's probe and every site check of the run: one connection per server
    assert connections(log) == {a: 1 for a in ADDRESSES}, log.read_text()


@pytest.mark.parametrize("check, option, problem", [
    ("slow", "command_timeout=3", "`sleep 30` did not finish within 3 s (command_timeout)"),
    # a byte a second never lets a read wait its timeout: the command still ends at its deadline
    ("trickle", "command_timeout=3", "`while :; do printf x; sleep 1; done` did not finish within 3 s "
                                     "(command_timeout)"),
    ("flood", "section_output_max=1M", "`head -c 300M /dev/zero` printed more than 1048576 bytes "
                                       "(section_output_max); its output was not kept"),
])
def test_a_command_that_gives_no_answer_fails_the_check_as_unknown_saying_so(sshd, tmp_path, check, option,
                                                                              problem):
    site, log = sshd
    (site / "health").mkdir()
    (site / "health" / "test_site_ssh.py").write_text(CHECKS)
    rc, out, got = _run(tmp_path, site, "-k", check, "-o", option)
    # no answer is not an answer about the server: unknown, never a pass
    assert list(got) == [f"test_{check}[s-hive3.pdns]"], out
    result = got[f"test_{check}[s-hive3.pdns]"]
    assert result["outcome"] == "failed" and result["status"] == "unknown", result
    assert result["problems"] == [problem], result


def _checks(tmp_path, area):
    """The checks of a run selected by -k: its reports are the partial run's."""
    doc = json.loads((tmp_path / "r" / "latest-partial.json").read_text())
    return {c["subject"]: c for c in doc["checks"] if c["area"] == area}


def test_a_server_that_never_ends_its_answer_is_unknown_at_the_probes_deadline(trickling_sshd, tmp_path):
    """The repository server trickles for ever: its probe ends at the whole server's deadline
    (command_timeout + 20 s), its checks unknown, and the other servers are judged as usual."""
    site, log = trickling_sshd
    rc, out = suite("--hive-root", str(site), "-o", f"report_dir={tmp_path / 'r'}", "-k", "disk",
                    "-o", "command_timeout=2")
    disk = _checks(tmp_path, "disk")
    repo = disk["s-hive3.pdns"]
    assert repo["outcome"] == "failed" and repo["status"] == "unknown", repo
    assert "`sudo df -P -T -k`: timed out after 22 s" in repo["message"], repo
    assert rc == 1, out
    for name in SERVERS[:3]:
        assert disk[name]["status"] in ("ok", "warn", "fail") and "timed out" not in disk[name]["message"]


ESCAPING_DF = textwrap.dedent("""\
    import hivehealth.checks.test_disk
    import hivehealth.gather.probe as g
    # df answers, then leaves a process in a session of its own holding its output open (for a
    # while): `timeout` cannot reach it, so the section never ends by itself
    g.SECTIONS["df"] = ("all", g.SECTIONS["df"][1] + "; setsid sh -c 'i=0; while [ $i -lt 20 ]; "
                               "do printf x; sleep 1; i=$((i+1)); done' &")
    """)


def test_a_section_that_outlives_its_timeout_costs_its_own_answer_only(sshd, tmp_path):
    site, log = sshd
    (tmp_path / "escaping_df.py").write_text(ESCAPING_DF)
    rc, out = suite("-p", "escaping_df", "--hive-root", str(site), "-o", f"report_dir={tmp_path / 'r'}",
                    "-k", "disk or inodes", "-o", "command_timeout=2", cwd=tmp_path)
    disk, inodes = _checks(tmp_path, "disk"), _checks(tmp_path, "inodes")
    assert set(disk) == set(SERVERS), out
    for name in SERVERS:
        assert disk[name]["status"] == "unknown", disk[name]
        assert "`sudo df -P -T -k` exited" not in disk[name]["message"]
        assert "timed out after 7 s: still running command_timeout + 5 s after it started" in disk[name]["message"]
        # the sections that ended were sent as they ended
        assert inodes[name]["status"] != "unknown" and "timed out" not in inodes[name]["message"], inodes[name]


def test_a_failed_assertion_is_one_line_in_the_report_and_the_gate(sshd, tmp_path):
    site, log = sshd
    (site / "health").mkdir()
    (site / "health" / "test_site_ssh.py").write_text(CHECKS)
    rc, out, got = _run(tmp_path, site, "-k", "absent", "--gate")
    absent = got["test_absent[s-hive3.pdns]"]
    problem = "AssertionError: assert False + where False = <file /nonexistent/hh-site-check>.exists"
    assert absent["outcome"] == "failed" and absent["problems"] == [problem], absent
    assert rc == 1 and f"GATE: NOT READY (1 blocking): s-hive3.pdns: {problem}" in out, out
