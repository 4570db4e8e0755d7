"""The site's own testinfra checks (SITE/health/test_*.py taking `host`), run as an operator runs
the suite (a separate pytest process), on hive projects whose servers cannot be reached, on
recordings, and on this machine: parametrization, roles, ids, fast failure, reports, selection."""
import json
import subprocess
import textwrap

import pytest

from test_cli import REPO, _unreachable_project, newest_report, suite

CHECKS = textwrap.dedent('''\
    import pytest


    @pytest.mark.roles("hive")
    def test_chrony(host):
        assert host.service("chrony").is_running


    def test_hosts_file(host):
        assert host.file("/etc/hosts").exists
    ''')

SERVERS = [f"s-hive{i}.pdns" for i in range(4)]     # make_project: the last is the repository
HIVES = SERVERS[:3]


def _site(tmp_path, folder="health", name="test_site_basics.py"):
    site = _unreachable_project(tmp_path / "site")
    (site / folder).mkdir(parents=True)
    (site / folder / name).write_text(CHECKS)
    return site


def _run(tmp_path, *args):
    rc, out = suite(*args, "-o", f"report_dir={tmp_path / 'r'}")
    return rc, out, newest_report(tmp_path / "r")


def _site_checks(doc, module="test_site_basics.py"):
    return {c["id"].removeprefix(module + "::"): c for c in doc["checks"] if c["id"].startswith(module)}


def test_host_is_each_server_of_the_site_with_its_roles_and_name(tmp_path):
    site = _site(tmp_path)
    rc, out, doc = _run(tmp_path, "--hive-root", str(site))
    got = _site_checks(doc)
    assert sorted(got) == sorted([f"test_chrony[{h}]" for h in HIVES] + [f"test_hosts_file[{s}]" for s in SERVERS]), out
    assert "[local]" not in out and rc == 1
    assert "test_chrony[s-hive0.pdns]" in (tmp_path / "r" / "latest.html").read_text()
    assert "site_basics: failed in 1 of 1 runs" in (tmp_path / "r" / "index.html").read_text()    # the history page


def test_an_unreachable_server_fails_at_once_with_the_suites_reason(tmp_path):
    site = _site(tmp_path)
    rc, out, doc = _run(tmp_path, "--hive-root", str(site))
    disk = {c["subject"]: c for c in doc["checks"] if c["area"] == "disk"}
    for check_id, entry in _site_checks(doc).items():
        server = check_id.split("[")[1].rstrip("]")
        assert entry["outcome"] == "failed" and entry["status"] == "fail", entry
        assert entry["subject"] == server and entry["origin"] == "site", entry
        assert entry["message"] == disk[server]["message"].splitlines()[0], (entry, disk[server])  # its words
        assert entry["problems"] == [f"unreachable: cannot connect to {server} (127.0.0.{10 + SERVERS.index(server)}:1): "
                                     f"[Errno 111] Connection refused"], entry
    assert entry["area"] == "site_basics"


def test_k_gate_and_waivers_select_and_treat_them_like_the_suites_checks(tmp_path):
    site = _site(tmp_path)
    rc, out, doc = _run(tmp_path, "--hive-root", str(site), "-k", "chrony and s-hive1.pdns", "--gate")
    assert [c["id"] for c in doc["checks"]] == ["test_site_basics.py::test_chrony[s-hive1.pdns]"], out
    assert rc == 1 and "GATE: NOT READY (1 blocking): s-hive1.pdns: unreachable: cannot connect" in out

    waivers = tmp_path / "waivers.yml"
    waivers.write_text("waivers:\n  - check: test_chrony and s-hive1.pdns\n    justification: chrony being "
                       "replaced\n    expires: 2999-12-31\n")
    rc, out, doc = _run(tmp_path, "--hive-root", str(site), "-k", "chrony", "-o", f"waivers_file={waivers}")
    outcomes = {i: c["outcome"] for i, c in _site_checks(doc).items()}
    assert outcomes == {"test_chrony[s-hive0.pdns]": "failed", "test_chrony[s-hive1.pdns]": "waived",
                        "test_chrony[s-hive2.pdns]": "failed"}, out


def test_a_replay_asks_no_server_and_says_so(tmp_path):
    site = _site(tmp_path)
    rec = tmp_path / "rec"
    _run(tmp_path, "--hive-root", str(site), "-k", "disk", "--record", str(rec))
    # as if s-hive0 had answered when the recording was made
    path = rec / "host-s-hive0.pdns.json"
    facts = json.loads(path.read_text())
    facts["unreachable"] = None
    path.write_text(json.dumps(facts))
    # a recording names its site's root, but no folder of it is collected on a replay
    rc, out, doc = _run(tmp_path, "--replay", str(rec), "-k", "hosts_file or disk")
    assert doc["checks"] and not _site_checks(doc), out
    # the operator's own checks, given on the command line, run and ask no server
    rc, out, doc = _run(tmp_path, "--replay", str(rec), "-k", "hosts_file", str(site / "health"))
    got = {i: (c["outcome"], c["status"], c["problems"][0]) for i, c in _site_checks(doc).items()}
    assert got["test_hosts_file[s-hive0.pdns]"] == (
        "failed", "unknown", "not checked: a --replay contacts no server, and this check asks the server itself"), out
    for s in SERVERS[1:]:
        assert got[f"test_hosts_file[{s}]"][:2] == ("failed", "fail") and \
            got[f"test_hosts_file[{s}]"][2].startswith("unreachable: cannot connect"), out


def test_testinfras_own_options_and_no_site_keep_testinfras_host(tmp_path):
    site = _site(tmp_path)
    check = site / "health" / "test_site_basics.py"
    for how in (["--hosts", "local://"], ["--connection", "local"]):
        rc, out, doc = _run(tmp_path, *how, "-k", "hosts_file", str(check))
        # a file outside the rootdir given by itself: pytest's node id is `::<test>`
        assert {c["id"].split("::")[-1]: c["outcome"] for c in doc["checks"]} == \
            {"test_hosts_file[local]": "passed"}, out


def test_a_path_given_runs_only_that_path(tmp_path):
    site = _site(tmp_path)
    rc, out, doc = _run(tmp_path, "--hive-root", str(site), "hivehealth/checks/test_disk.py")
    assert doc["checks"] and {c["area"] for c in doc["checks"]} == {"disk"}, out


def test_the_ini_option_names_another_folder(tmp_path):
    site = _site(tmp_path, folder="ops/checks")
    rc, out, doc = _run(tmp_path, "--hive-root", str(site), "-o", "site_checks_dir=ops/checks", "-k", "hosts_file")
    assert sorted(_site_checks(doc)) == [f"test_hosts_file[{s}]" for s in SERVERS], out
    rc, out, doc = _run(tmp_path, "--hive-root", str(site), "-o", "site_checks_dir=nowhere")
    assert rc == 4 and "site_checks_dir = nowhere: folder" in out and "not found" in out and "Traceback" not in out


def test_a_module_named_like_a_suite_check_is_a_usage_error(tmp_path):
    site = _site(tmp_path, name="test_time.py")
    rc, out, doc = _run(tmp_path, "--hive-root", str(site))
    assert rc == 4 and "Traceback" not in out, out
    assert f"{site / 'health' / 'test_time.py'} has the module name of the suite's own" in out
    assert "test_site_time.py" in out


def test_with_xdist_and_from_any_directory_the_same_checks_run(tmp_path):
    site = _site(tmp_path)
    rc, out, doc = _run(tmp_path, "--hive-root", str(site), "-k", "site_basics")
    sequential = {c["id"]: (c["outcome"], c["problems"]) for c in doc["checks"]}
    rc, out, doc = _run(tmp_path, "--hive-root", str(site), "-k", "site_basics", "-n", "2")
    assert {c["id"]: (c["outcome"], c["problems"]) for c in doc["checks"]} == sequential and len(sequential) == 7, out
    p = subprocess.run([str(REPO / "bin" / "hive-health"), "--hive-root", str(site), "-k", "site_basics",
                        "-o", f"report_dir={tmp_path / 'b'}"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    doc = json.loads((tmp_path / "b" / "latest-partial.json").read_text())
    assert {c["id"]: (c["outcome"], c["problems"]) for c in doc["checks"]} == sequential, p.stdout + p.stderr


def test_testinfra_hosts_in_a_site_check_is_a_clear_error(tmp_path):
    site = _site(tmp_path)
    (site / "health" / "test_site_other.py").write_text(CHECKS + 'testinfra_hosts = ["ssh://web1"]\n')
    rc, out, doc = _run(tmp_path, "--hive-root", str(site))
    assert rc != 0 and "testinfra_hosts is not used in a run against a hive site" in out, out
    assert "Traceback" not in out


def test_a_server_lost_during_the_run_fails_its_next_checks_at_once(tmp_path):
    """Reachable when the facts were gathered, gone when a site check asks it: that check fails
    with the suite's reason, and the server's further checks fail without trying again."""
    from types import SimpleNamespace

    from hivehealth.gather.probe import HostFacts
    from hivehealth.site.inventory import load_hive_project
    from hivehealth.site.transport import Pool
    from hivehealth.site.testinfra_host import SiteHosts

    site = load_hive_project(_unreachable_project(tmp_path / "site"))
    server = site.servers[0]
    attempts = []

    class CountingPool(Pool):
        def transport(self, s):
            t = super().transport(s)
            connect = t._connect
            t._connect = lambda: (attempts.append(s.name), connect())[1]
            return t

    state = SimpleNamespace(site=site, facts={server.name: HostFacts(server.name)}, pool=CountingPool(2),
                            output_max=2 ** 20)
    config = SimpleNamespace(getini=lambda name: "5", option=SimpleNamespace(replay=None))
    hosts = SiteHosts(config, state)
    assert hosts.why_not(server) is None
    with pytest.raises(pytest.fail.Exception, match=r"s-hive0.pdns: unreachable: cannot connect to s-hive0.pdns "
                                                    r"\(127.0.0.10:1\)"):
        hosts.host(server).file("/etc/hosts").exists
    assert hosts.why_not(server) == ("fail", "unreachable: cannot connect to s-hive0.pdns (127.0.0.10:1): "
                                             "[Errno 111] Connection refused")
    assert attempts == [server.name]
