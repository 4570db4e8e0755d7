"""The habits of pytest and Ansible, through the installed `hive-health` command: --version,
the usage line, --lf/--ff/--sw, --limit, and the nightly wrapper a pip or pipx install gives."""
import json
import os
import subprocess
import sys
from importlib import metadata

from hivehealth import __version__
from hivehealth.cli import PACKAGE
from test_cli import REPO
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


def _cron(command: list[str], site, tmp_path, **env):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return subprocess.run(command, cwd=home, capture_output=True, text=True, timeout=300,
                          env={"PATH": os.environ["PATH"], "HOME": str(home), "HIVE_ROOT": str(site), **env})


def test_the_nightly_run_ships_with_the_package_and_writes_where_the_sites_settings_say(site, tmp_path):
    """The `hive-health-cron` console script of this venv, as a pip or pipx install has it, run
    by cron from the operator's home: the site's pytest.ini names the reports folder."""
    (site / "pytest.ini").write_text("[pytest]\nwaivers_file = waivers.yml\nreport_dir = site-reports\n"
                                     "report_keep_days = 7\n")
    textfile = tmp_path / "hive_health.prom"
    p = _cron([str(HIVE_HEALTH.parent / "hive-health-cron"), "-q"], site, tmp_path, HH_TEXTFILE=str(textfile))
    assert p.returncode == 1, p.stdout + p.stderr
    reports = site / "site-reports"
    assert read(reports / "latest.json")["verdict"] == "unhealthy"
    index = (reports / "index.html").read_text()
    assert "<h2>pdns / staging</h2>" in index and "<b>unhealthy</b>" in index
    assert "hive_health_run_timestamp_seconds" in textfile.read_text()
    assert p.stdout.rstrip().endswith("== hive-health exit 1")
    assert not (tmp_path / "home" / "reports").exists() and not (site / "reports").exists()

    # a run that wrote no latest.json (a partial one) leaves the textfile alone, and says so
    before = textfile.read_text()
    p = _cron([str(HIVE_HEALTH.parent / "hive-health-cron"), "-q", "-k", "disk"], site, tmp_path,
              HH_TEXTFILE=str(textfile), HH_KEEP_DAYS="0")
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"this run wrote no {reports / 'latest.json'}; textfile not updated" in p.stderr
    assert textfile.read_text() == before and (reports / "latest-partial.json").exists()


def test_the_checkouts_cron_wrapper_is_the_same_command(site, tmp_path):
    p = _cron(["/bin/sh", str(REPO / "bin" / "hive-health-cron"), "-q", "-k", "time"], site, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert read(site / "reports" / "latest-partial.json")["summary"] == {"waived": 4}
    assert (site / "reports" / "index.html").exists()
