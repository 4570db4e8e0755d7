"""No false green, through the installed `hive-health` command (the console script of the
virtualenv these tests run in: `make venv` installs the checkout there), typed where an operator
types it: in the site, in one of its folders, elsewhere. A verdict covers exactly what ran, on the
site that was meant, with the site's own settings; an operator's mistake is one line and exit 4.

The site is a constructed hive project whose servers refuse connections (every check fails as
unreachable, at once), or a replay of a recorded bundle; no server is contacted."""
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from test_cli import REPO, _unreachable_project
from test_inventory import make_project

HIVE_HEALTH = Path(sys.executable).parent / "hive-health"
LAB_BUNDLE = REPO / "tests" / "data" / "bundles" / "lab-three-faults"
# a root that is subject to file permissions, as an operator who is not the files' owner is
AS_OPERATOR = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
needs_setpriv = pytest.mark.skipif(shutil.which("setpriv") is None,
                                   reason="setpriv (util-linux) not installed")


def hive_health(*args, cwd, prefix=(), timeout=300):
    assert HIVE_HEALTH.exists(), f"{HIVE_HEALTH} missing: run the tests from the venv of `make venv`"
    p = subprocess.run([*prefix, str(HIVE_HEALTH), *args], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def history_rows(reports: Path) -> list[tuple]:
    with sqlite3.connect(reports / "history.sqlite") as db:
        return db.execute("SELECT stamp, state, selection FROM runs ORDER BY stamp").fetchall()


@pytest.fixture
def site(tmp_path):
    """A hive project with its own pytest.ini: a waiver for the time check, reports in SITE/reports."""
    root = _unreachable_project(tmp_path / "site")
    (root / "waivers.yml").write_text("waivers:\n  - check: test_time\n    justification: clocks being "
                                      "replaced\n    expires: 2999-12-31\n")
    (root / "pytest.ini").write_text("[pytest]\nwaivers_file = waivers.yml\n")
    return root


# --- a verdict covers exactly what ran ---------------------------------------------------------


def test_a_partial_run_never_replaces_the_full_runs_report_nor_the_headline(site):
    rc, out, err = hive_health("-q", cwd=site)
    assert rc == 1, out + err
    full = read(site / "reports" / "latest.json")
    assert full["verdict"] == "unhealthy" and full["selection"] == {"partial": False, "selected": 55,
                                                                     "of": 55, "by": []}
    assert full["version"] and full["replay"] is None
    # the waived time checks alone: nothing fails, and still no green for the site
    rc, out, err = hive_health("-k", "time", "-q", cwd=site)
    assert rc == 0, out + err
    assert "PARTIAL: 4 of 55 checks, selected by -k time" in out
    assert read(site / "reports" / "latest.json") == full
    part = read(site / "reports" / "latest-partial.json")
    assert part["verdict"] == "partial" and part["exitstatus"] == 0
    assert part["selection"] == {"partial": True, "selected": 4, "of": 55, "by": ["-k time"]}
    page = (site / "reports" / "latest-partial.html").read_text()
    assert 'class="hh-verdict hh-v-partial"' in page and ">PARTIAL · WAIVED</div>" in page
    assert "4 of 55 checks, selected by -k time" in page
    assert 'class="hh-verdict hh-v-unhealthy"' in (site / "reports" / "latest.html").read_text()
    rows = history_rows(site / "reports")
    assert [(state, sel) for _, state, sel in rows] == [
        ("unreachable", ""), ("unreachable", "4 of 55 checks, selected by -k time")]
    index = (site / "reports" / "index.html").read_text()
    headline = index.split('class="verdict', 1)[1].split("</p>", 1)[0]
    assert "<b>unhealthy</b>" in headline and "1 partial run since, not counted here" in headline
    assert "PARTIAL" in index


def test_collect_only_writes_nothing_and_a_selection_of_nothing_is_a_usage_error(site):
    rc, out, err = hive_health("--co", "-q", cwd=site)
    assert rc == 0 and "55 tests collected" in out, out + err
    assert not (site / "reports").exists()
    rc, out, err = hive_health("-k", "tiem", "-q", cwd=site)
    assert rc == 4, out + err
    assert "hive-health: -k tiem selects none of the 55 checks of hive site pdns" in err
    assert not (site / "reports").exists()


def test_an_alert_naming_an_object_the_site_lacks_or_the_runbooks_placeholder(tmp_path):
    rc, out, err = hive_health("--replay", str(LAB_BUNDLE), "-o", f"report_dir={tmp_path / 'r'}", "--alert",
                               "Problem: DRBD resource ldap_dta status is not UpToDate/Diskless client", cwd=tmp_path)
    assert rc == 4 and "hive-health: no DRBD resource ldap_dta on this site; known: ldap_data" in err, out + err
    rc, out, err = hive_health("--replay", str(LAB_BUNDLE), "-o", f"report_dir={tmp_path / 'r'}", "--alert",
                               "Problem: DRBD resource ボリューム名 status is not UpToDate/Diskless client", cwd=tmp_path)
    assert rc == 4 and "put the volume's name in place of ボリューム名" in err, out + err
    assert not (tmp_path / "r").exists()
    # the alert's real object selects its checks, and that run is partial
    rc, out, err = hive_health("--replay", str(LAB_BUNDLE), "-o", f"report_dir={tmp_path / 'r'}", "--alert",
                               "Problem: DRBD resource ldap_data status is not UpToDate/Diskless client", cwd=tmp_path)
    doc = read(tmp_path / "r" / "replay-latest-partial.json")
    assert [c["id"] for c in doc["checks"]] == ["checks/test_drbd.py::test_drbd[ldap_data]"], out + err
    assert doc["selection"]["by"] == ["--alert 'Problem: DRBD resource ldap_data status is not "
                                      "UpToDate/Diskless client'"]


# --- a replay is never the site's own run -------------------------------------------------------


def test_a_replay_neither_replaces_the_sites_report_nor_enters_its_history(site):
    rc, out, err = hive_health("-q", cwd=site)
    assert rc == 1, out + err
    full, rows = read(site / "reports" / "latest.json"), history_rows(site / "reports")
    rc, out, err = hive_health("--replay", str(LAB_BUNDLE), "-o", f"report_dir={site / 'reports'}", "-q",
                               cwd=site)
    assert rc == 1, out + err
    assert read(site / "reports" / "latest.json") == full and history_rows(site / "reports") == rows
    replay = read(site / "reports" / "replay-latest.json")
    assert replay["replay"] == {"bundle": str(LAB_BUNDLE)} and replay["site"] == "lab"
    assert (site / "reports" / "replay-latest.html").exists()
    assert not [p for p in (site / "reports").glob("run-*.json") if read(p)["site"] == "lab"]


# --- the site that was meant --------------------------------------------------------------------


def test_the_site_is_found_from_its_folders_or_given_as_an_argument(site, tmp_path):
    rc, out, err = hive_health("-k", "disk", "-q", cwd=site / "inventory")
    assert rc == 1, out + err
    doc = read(site / "reports" / "latest-partial.json")
    assert doc["site"] == "pdns" and doc["root"] == str(site) and len(doc["checks"]) == 4
    assert not (site / "inventory" / "reports").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (site / "reports" / "latest-partial.json").unlink()
    rc, out, err = hive_health(str(site), "-k", "disk", "-q", cwd=elsewhere)
    assert rc == 1, out + err
    assert read(site / "reports" / "latest-partial.json")["root"] == str(site)
    assert not (elsewhere / "reports").exists()


def test_no_site_is_a_usage_error_and_this_machine_is_checked_only_when_asked(tmp_path):
    rc, out, err = hive_health("-q", cwd=tmp_path)
    assert rc == 4 and "Traceback" not in out + err, out + err
    assert f"hive-health: {tmp_path}: no hive project here or above it" in err
    assert "--hive-root DIR" in err and "--local" in err
    assert not (tmp_path / "reports").exists()
    rc, out, err = hive_health("--local", "-k", "disk", "-o", f"report_dir={tmp_path / 'r'}", cwd=tmp_path)
    assert rc in (0, 1), out + err
    doc = read(tmp_path / "r" / "latest-partial.json")
    assert doc["kind"] == "local"
    page = (tmp_path / "r" / "latest-partial.html").read_text()
    assert "THIS MACHINE · " in page and "this machine (" in page and "not a hive site" in page
    assert "hive-health: this machine, not a hive site" in out


def test_make_run_without_a_site_asks_for_this_machine(tmp_path):
    p = subprocess.run(["make", "-s", "run", f"ARGS=-q -k disk -o report_dir={tmp_path / 'r'}"], cwd=REPO,
                       capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin:/bin"})
    assert p.returncode in (0, 1), p.stdout + p.stderr
    assert read(tmp_path / "r" / "latest-partial.json")["kind"] == "local"


# --- the site's own settings --------------------------------------------------------------------


def test_the_sites_pytest_ini_applies_under_o_in_every_entry_point(site, tmp_path):
    (site / "pytest.ini").write_text("[pytest]\nwaivers_file = waivers.yml\ndisk_usage_mx = 95\n")
    rc, out, err = hive_health("-k", "time", cwd=site)
    assert rc == 0, out + err        # the site's waiver applied
    assert f"settings: {site / 'pytest.ini'}" in out
    assert f"{site / 'pytest.ini'}: unknown option 'disk_usage_mx'" in out
    assert f"settings: {site / 'pytest.ini'}" in (site / "reports" / "latest-partial.html").read_text()
    assert read(site / "reports" / "latest-partial.json")["settings"] == str(site / "pytest.ini")
    rc, out, err = hive_health("-k", "time", "-o", "waivers_file=", cwd=site)
    assert rc == 1, out + err        # -o wins over the site's file
    # plain pytest in the site, and the checkout's pytest (make run, cron) with the site named
    for argv, cwd in (([str(Path(sys.executable).parent / "pytest")], site),
                      ([sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(REPO),
                        "--hive-root", str(site)], REPO)):
        p = subprocess.run([*argv, "-k", "time", "-p", "no:randomly"], cwd=cwd, capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        assert f"settings: {site / 'pytest.ini'}" in p.stdout
    assert read(site / "reports" / "latest-partial.json")["summary"] == {"waived": 4}


def test_cron_finds_the_report_folder_the_sites_settings_name(tmp_path):
    """bin/hive-health-cron in a copy of the checkout's layout, with a stand-in pytest that writes
    where the site's pytest.ini says: the history page is made there."""
    repo = tmp_path / "repo"
    (repo / "bin").mkdir(parents=True)
    shutil.copy2(REPO / "bin" / "hive-health-cron", repo / "bin" / "hive-health-cron")
    (repo / "pytest.ini").write_text("[pytest]\nreport_dir = out\n")
    (repo / ".venv" / "bin").mkdir(parents=True)
    fake = repo / ".venv" / "bin" / "pytest"
    fake.write_text('#!/bin/sh\nmkdir -p "$HIVE_ROOT/site-reports"\nexit 0\n')
    fake.chmod(0o755)
    site = make_project(tmp_path / "site")
    (site / "pytest.ini").write_text("[pytest]\nreport_dir = site-reports\n")
    p = subprocess.run(["/bin/sh", str(repo / "bin" / "hive-health-cron")], cwd=tmp_path, capture_output=True,
                       text=True, env={"PATH": "/usr/bin:/bin", "HIVE_ROOT": str(site), "HH_PYTHON": sys.executable,
                                       "PYTHONPATH": str(REPO)}, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (site / "site-reports" / "index.html").exists() and not (repo / "out").exists()


# --- an operator's mistake is one line ----------------------------------------------------------


def test_a_file_where_the_reports_folder_should_be(site):
    (site / "reports").write_text("not a folder\n")
    rc, out, err = hive_health("-k", "disk", "-q", cwd=site)
    assert rc == 4 and "INTERNALERROR" not in out + err and "Traceback" not in out + err, out + err
    assert f"hive-health: reports not written to {site / 'reports'}: {site / 'reports'} is a file" in out
    assert "disk  4 FAIL" in out        # the results still reach the terminal


@needs_setpriv
def test_a_reports_folder_the_operator_cannot_write(site):
    reports = site / "reports"
    reports.mkdir()
    shutil.chown(reports, "nobody")
    rc, out, err = hive_health("-k", "disk", "-q", cwd=site, prefix=AS_OPERATOR)
    assert rc == 4 and "Traceback" not in out + err, out + err
    assert f"hive-health: reports not written to {reports}: {reports} is not writable by" in out
    assert "(it belongs to nobody)" in out and "disk  4 FAIL" in out
    assert list(reports.iterdir()) == []


@needs_setpriv
def test_an_admin_key_the_operator_cannot_read_is_one_local_error(site):
    key = site / ".hive" / "staging" / "id_rsa"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    key.chmod(0o600)
    shutil.chown(key, "nobody")
    rc, out, err = hive_health("-q", cwd=site, prefix=AS_OPERATOR)
    assert rc == 4, out + err
    assert f"hive-health: cannot read the SSH key {key}" in err and "Permission denied" in err
    assert "unreachable" not in out + err and "is the server up" not in out + err
    assert (out + err).count("cannot read the SSH key") == 1


@pytest.mark.parametrize("args, says", [
    (["--allow-risky"], "--allow-risky only widens what --fix may run"),
    (["--allow-destructive"], "--allow-destructive only widens what --fix may run"),
    (["--replay", str(LAB_BUNDLE), "--record", "rec"], "--record saves what the servers answer; a --replay"),
    (["--local", "--hive-root", "."], "--local checks this machine"),
])
def test_options_that_contradict_each_other(site, args, says):
    rc, out, err = hive_health(*args, cwd=site)
    assert rc == 4 and f"ERROR: hive-health: {says}" in err and "Traceback" not in out + err, out + err
    assert not (site / "reports").exists() and not (site / "rec").exists()
