"""The site's own testinfra checks (SITE/health/test_*.py taking `host`) against the lab's servers:
one per server, reached over the suite's own connection, reported like the suite's checks."""
import math
import re
import shutil
import textwrap
import time
from pathlib import Path

import pytest

from conftest import ssh

MARKER = "/home/admin/.hh-site-check"     # present on every server but MISSING_ON
MISSING_ON = "s-hive1.lab"

CHECKS = textwrap.dedent(f'''\
    """An operator's own checks, written as pytest-testinfra documents them."""
    import pytest


    def test_openssh_installed(host):
        assert host.package("openssh-server").is_installed


    def test_sshd_running(host):
        assert host.service("ssh").is_running


    def test_hosts_file(host):
        hosts = host.file("/etc/hosts")
        assert hosts.is_file and hosts.user == "root"


    def test_ssh_listening(host):
        assert host.socket("tcp://0.0.0.0:22").is_listening


    @pytest.mark.roles("hive")
    def test_chrony(host):
        assert host.service("chrony").is_running


    def test_marker(host):
        assert host.file("{MARKER}").exists
    ''')

PASSING = ["test_openssh_installed", "test_sshd_running", "test_hosts_file", "test_ssh_listening"]


@pytest.fixture
def health(site):
    """SITE/health/test_lab_site.py, and the marker file on every server but one; both removed after."""
    folder = Path(site) / "health"
    folder.mkdir(exist_ok=False)
    servers = [l.split()[1] for l in (Path(site) / ".hive" / "staging" / "ssh_config").read_text().splitlines()
               if l.startswith("Host ")]
    try:
        (folder / "test_lab_site.py").write_text(CHECKS)
        for s in servers:
            ssh(site, s, f"rm -f {MARKER}" if s == MISSING_ON else f"touch {MARKER}")
        yield servers
    finally:
        shutil.rmtree(folder)
        for s in servers:
            ssh(site, s, f"rm -f {MARKER}")


def _by_check(result):
    """{check name: {server: entry}} for the site's checks."""
    out = {}
    for c in result.checks:
        m = re.fullmatch(r"(?:.*/)?test_lab_site\.py::(\w+)\[([^\]]+)\]", c["id"])
        if m:
            out.setdefault(m.group(1), {})[m.group(2)] = c
    return out


def _accepted(site, server, since, until):
    """SSH logins sshd accepted on `server` within [since, until] (whole seconds of the mother's
    clock, which the lab's servers share); this query's own login comes after `until`."""
    log = ssh(site, server, f"sudo journalctl -u ssh.service -o cat --since @{since} --until @{until}")
    return len(re.findall(r"^Accepted publickey for admin ", log, re.M))


def test_site_checks_run_once_per_server_and_report_like_the_suites(suite, site, health):
    servers = health
    time.sleep(1.1)                 # the fixture's own logins end before `since` (whole seconds)
    since = math.floor(time.time())
    r = suite.run()
    until = math.ceil(time.time())
    by = _by_check(r)
    hives = [s["name"] for s in r.doc["servers"] if "hive" in s["roles"]]
    assert hives and len(hives) < len(servers), r.doc["servers"]

    # ids: the server's name, never `local`; roles honoured
    for name in PASSING + ["test_marker"]:
        assert sorted(by.get(name, {})) == sorted(servers), (name, r)
    assert sorted(by["test_chrony"]) == sorted(hives), r
    assert not any("[local]" in c["id"] for c in r.checks), r

    # outcomes: a package, a service, a file and a socket pass everywhere; the marker fails on one
    for name in PASSING + ["test_chrony"]:
        assert {s: e["outcome"] for s, e in by[name].items()} == {s: "passed" for s in by[name]}, (name, r)
    assert {s: e["outcome"] for s, e in by["test_marker"].items()} == \
        {s: "failed" if s == MISSING_ON else "passed" for s in servers}, r
    failing = by["test_marker"][MISSING_ON]
    assert failing["subject"] == MISSING_ON and failing["status"] == "fail", failing
    assert failing["area"] == "lab_site" and failing["origin"] == "site", failing
    assert MARKER in failing["message"], failing
    assert failing["problems"] == [f"AssertionError: assert False + where False = <file {MARKER}>.exists"], failing
    assert all(e["status"] == "ok" and e["subject"] == s for s, e in by["test_sshd_running"].items())
    assert r.rc == 1 and set(r.failed()) == {failing["id"]}, r

    # the suite's connection is reused: one SSH login per server for the whole run
    time.sleep(max(0.0, until - time.time()) + 1.1)      # the logins that read the journal come later
    assert {s: _accepted(site, s, since, until) for s in servers} == {s: 1 for s in servers}, r

    # -k, --gate and the HTML report treat them like the suite's own checks
    k = suite.run("-k", f"test_marker and {MISSING_ON}")
    assert [c["id"] for c in k.checks] == [failing["id"]] and k.rc == 1, k
    gate = suite.run("--gate", "-k", "lab_site")
    assert gate.rc == 1 and f"GATE: NOT READY (1 blocking): {MISSING_ON}:" in gate.output, gate
    assert "test_marker[s-hive1.lab]" in (suite.reports / "latest.html").read_text()


def test_site_checks_with_xdist_give_the_same_answers(suite, health):
    sequential = suite.run("-k", "lab_site")
    parallel = suite.run("-k", "lab_site", "-n", "2")
    outcomes = lambda r: {c["id"]: c["outcome"] for c in r.checks}
    hives = sum("hive" in s["roles"] for s in sequential.doc["servers"])
    assert len(outcomes(sequential)) == 5 * len(health) + hives, sequential
    assert outcomes(parallel) == outcomes(sequential), parallel
