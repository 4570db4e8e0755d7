"""The habits of pytest and Ansible, through the installed `hive-health` command: --version,
the usage line, --lf/--ff/--sw, --limit, and the nightly wrapper a pip or pipx install gives."""
import json
import subprocess
import sys
from importlib import metadata

from hivehealth import __version__
from hivehealth.cli import PACKAGE
from test_verdict import HIVE_HEALTH, LAB_BUNDLE, hive_health, read, site  # noqa: F401 (a fixture)


def test_version_names_the_suite_and_what_it_runs_on(tmp_path):
    rc, out, err = hive_health("--version", cwd=tmp_path)
    assert rc == 0, out + err
    line = out.strip()
    assert line.startswith(f"hive-health {__version__} (")
    for name in ("pytest", "pytest-testinfra", "paramiko"):
        assert f"{name} {metadata.version(name)}" in line
    assert not (tmp_path / "reports").exists()
    rc, out, err = hive_health("-V", cwd=tmp_path)
    assert rc == 0 and out.strip() == line, out + err


def test_the_usage_line_names_hive_health_however_it_was_started(tmp_path):
    for argv in ([str(HIVE_HEALTH)], [sys.executable, "-m", "hivehealth.cli"]):
        p = subprocess.run([*argv, "--no-such-option"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 4, p.stdout + p.stderr
        assert "usage: hive-health [options]" in p.stderr
        assert "hive-health: error: unrecognized arguments: --no-such-option" in p.stderr
        assert "pytest.main()" not in p.stderr and "cli.py" not in p.stderr


def _ids(doc: dict) -> list[str]:
    return [c["id"] for c in doc["checks"]]


def test_last_failed_failed_first_and_stepwise_keep_their_cache_beside_the_reports(site):
    reports = site / "reports"
    rc, out, err = hive_health("-q", cwd=site)
    assert rc == 1, out + err
    full = read(reports / "latest.json")
    failed = [c["id"] for c in full["checks"] if c["outcome"] == "failed"]
    assert failed and any("test_time" in i for i in _ids(full)) and not any("test_time" in i for i in failed)
    lastfailed = json.loads((reports / ".cache" / "v" / "cache" / "lastfailed").read_text())
    assert sorted(lastfailed) == sorted(failed)
    assert not (site / ".pytest_cache").exists() and not (PACKAGE / ".pytest_cache").exists()

    # --lf: the failures alone, a partial run that leaves the full run's report alone
    rc, out, err = hive_health("--lf", "-q", cwd=site)
    assert rc == 1, out + err
    part = read(reports / "latest-partial.json")
    assert sorted(_ids(part)) == sorted(failed)
    assert part["selection"] == {"partial": True, "selected": len(failed), "of": None, "by": ["--lf"]}
    assert f"PARTIAL: {len(failed)} checks, selected by --lf" in out
    assert read(reports / "latest.json") == full

    # --ff: everything, the failures first (the waived time checks after them); a full run
    rc, out, err = hive_health("--ff", "-k", "time or units", "-q", cwd=site)
    ids = _ids(read(reports / "latest-partial.json"))
    assert [i for i in ids if "test_time" in i] == ids[-4:] and len(ids) > 4, out + err
    rc, out, err = hive_health("--ff", "-q", cwd=site)
    assert rc == 1 and read(reports / "latest.json")["selection"]["partial"] is False, out + err

    # --sw: stops at the first failure, which is not a verdict on the site
    rc, out, err = hive_health("--sw", "-q", cwd=site)
    assert rc == 1, out + err
    part = read(reports / "latest-partial.json")
    assert len(part["checks"]) == 1 and part["selection"]["by"] == ["--sw"] and part["exitstatus"] == 1
    assert part["selection"]["selected"] == 1 and part["selection"]["of"] == len(full["checks"])
    assert "PARTIAL: 1 of 55 checks, selected by --sw" in out
    assert (reports / ".cache" / "v" / "cache" / "stepwise").exists()


def test_a_run_that_writes_no_reports_writes_no_cache(site, tmp_path):
    for args in (["--co", "-q"], ["-k", "tiem", "-q"], ["--lf", "-k", "tiem"]):
        rc, out, err = hive_health(*args, cwd=site)
        assert rc in (0, 4), out + err
        assert not (site / "reports").exists() and not (site / ".pytest_cache").exists(), args
    rc, out, err = hive_health("--replay", str(LAB_BUNDLE), "-o", f"report_dir={tmp_path / 'r'}", "-q",
                               cwd=tmp_path)
    assert rc == 1 and (tmp_path / "r" / "replay-latest.json").exists(), out + err
    assert not (tmp_path / "r" / ".cache").exists() and not (tmp_path / ".pytest_cache").exists()


def _collected(out: str) -> list[str]:
    return [line for line in out.splitlines() if "::" in line]


def test_limit_selects_a_servers_items_with_its_view_in_cluster_objects(site):
    rc, out, err = hive_health("--co", "-q", "-k", "s-hive1.pdns", cwd=site)
    assert rc == 0, out + err
    by_full_name = _collected(out)
    assert "checks/test_swarm.py::test_swarm_node[s-hive1]" in by_full_name
    assert all("s-hive1" in i for i in by_full_name) and len(by_full_name) > 1
    rc, out, err = hive_health("--co", "-q", "--limit", "s-hive1.pdns", cwd=site)
    assert rc == 0 and _collected(out) == by_full_name, out + err

    rc, out, err = hive_health("--limit", "s-hive1.pdns,s-hive3", "-q", cwd=site)
    assert rc == 1, out + err
    doc = read(site / "reports" / "latest-partial.json")
    ids = _ids(doc)
    assert "checks/test_swarm.py::test_swarm_node[s-hive1]" in ids
    assert any(i.endswith("[s-hive3.pdns]") for i in ids)
    assert all(i.endswith(("[s-hive1.pdns]", "[s-hive3.pdns]", "[s-hive1]")) for i in ids), ids
    assert doc["selection"] == {"partial": True, "selected": len(ids), "of": 55,
                                "by": ["--limit s-hive1.pdns,s-hive3"]}
    assert f"PARTIAL: {len(ids)} of 55 checks, selected by --limit s-hive1.pdns,s-hive3" in out
    assert not (site / "reports" / "latest.json").exists()


def test_limit_naming_a_server_the_site_lacks(site):
    rc, out, err = hive_health("--limit", "s-hive1,s-hiev2", cwd=site)
    assert rc == 4 and "Traceback" not in out + err, out + err
    assert ("ERROR: hive-health: --limit 's-hive1,s-hiev2': no server s-hiev2 on hive site pdns" in err
            and "known: s-hive0.pdns, s-hive1.pdns, s-hive2.pdns, s-hive3.pdns" in err)
    assert not (site / "reports").exists()
