"""The suite as an operator runs it, on this machine and on broken hive projects: bad input is
one clear line and pytest's usage-error exit code, never a traceback."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_inventory import make_project

REPO = Path(__file__).resolve().parents[2]


REPORTS = ("latest", "latest-partial", "replay-latest", "replay-latest-partial")


def newest_report(reports: Path) -> dict | None:
    """The JSON report a run just wrote into `reports`, whichever name its kind of run gets
    (a full run's latest.json, a partial one's latest-partial.json, a replay's replay-latest*)."""
    found = [reports / f"{stem}.json" for stem in REPORTS if (reports / f"{stem}.json").exists()]
    if not found:
        return None
    return json.loads(max(found, key=lambda p: p.stat().st_mtime_ns).read_text())


def suite(*args, cwd=REPO):
    p = subprocess.run([sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(REPO),
                        "-p", "no:randomly", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout + p.stderr


def test_unknown_stage_option(tmp_path):
    make_project(tmp_path)
    rc, out = suite("--hive-root", str(tmp_path), "--stage", "production", "-o", f"report_dir={tmp_path}")
    assert rc == 4 and "stage 'production' is not defined" in out and "Traceback" not in out


def test_unreachable_site_fails_fast_with_reasons(tmp_path):
    _unreachable_project(tmp_path)
    rc, out = suite("--hive-root", str(tmp_path), "-o", f"report_dir={tmp_path / 'r'}", "-k", "disk")
    doc = json.loads((tmp_path / "r" / "latest-partial.json").read_text())
    assert rc == 1
    assert {c["outcome"] for c in doc["checks"]} == {"failed"}
    assert all("unreachable: cannot connect to" in c["message"] for c in doc["checks"])
    assert sorted(doc["unreachable"]) == [f"s-hive{i}.pdns" for i in range(4)]


def test_local_run_writes_both_reports_and_replays_the_same(tmp_path):
    rec = tmp_path / "recording"
    rc, out = suite("--connection", "local", "-o", f"report_dir={tmp_path / 'a'}", "--record", str(rec))
    assert rc in (0, 1), out
    first = json.loads((tmp_path / "a" / "latest.json").read_text())
    assert (tmp_path / "a" / "latest.html").exists() and list((tmp_path / "a").glob("run-*.json"))
    assert (rec / "site.json").exists()
    rc2, out2 = suite("--replay", str(rec), "-o", f"report_dir={tmp_path / 'b'}")
    second = json.loads((tmp_path / "b" / "replay-latest.json").read_text())
    outcomes = lambda d: {c["id"]: c["outcome"] for c in d["checks"]}
    assert rc2 == rc and outcomes(second) == outcomes(first), out2


def test_areas_the_machine_lacks_are_skipped_saying_what_is_missing(tmp_path):
    rc, out = suite("--connection", "local", "-rs", "-o", f"report_dir={tmp_path}")
    assert rc in (0, 1), out
    assert "the local machine has no DRBD resource to check" in out
    assert "the local machine has no server with role repository to check" in out
    assert "empty parameter set" not in out


def test_replay_refuses_fix(tmp_path):
    rc, out = suite("--replay", str(tmp_path), "--fix")
    assert rc == 4 and "cannot run on a --replay" in out


def test_wrapper_runs_from_the_site_directory(tmp_path):
    """bin/hive-health inside a hive project: the project is the site, the suite's config is used."""
    make_project(tmp_path)
    (tmp_path / ".hive" / "persistents.yml").write_text("stage: {global: staging}\nfirst_hive: {staging: 9}\n")
    p = subprocess.run([str(REPO / "bin" / "hive-health"), "-o", f"report_dir={tmp_path / 'r'}"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 4, p.stdout + p.stderr
    assert f"{tmp_path}/.hive/persistents.yml, line 2: first_hive 9 is outside the 3 hives" in p.stdout + p.stderr


def _unreachable_project(tmp_path):
    """A hive project whose every server points at a closed port on loopback."""
    make_project(tmp_path)
    cfg = tmp_path / ".hive" / "staging" / "ssh_config"
    cfg.write_text(cfg.read_text().replace("HostName 192.0.2.", "Port 1\n  HostName 127.0.0."))
    return tmp_path


@pytest.mark.parametrize("expires, rc, outcome", [("2999-12-31", 0, "waived"), ("2000-01-01", 1, "failed")])
def test_waiver_keeps_a_failure_from_failing_the_run_until_it_expires(tmp_path, expires, rc, outcome):
    site = _unreachable_project(tmp_path / "site")
    waivers = tmp_path / "waivers.yml"
    waivers.write_text(f"waivers:\n  - check: test_disk\n    justification: servers being replaced\n"
                       f"    expires: {expires}\n")
    got, out = suite("--hive-root", str(site), "-k", "disk", "-o", f"report_dir={tmp_path / 'r'}",
                     "-o", f"waivers_file={waivers}")
    doc = json.loads((tmp_path / "r" / "latest-partial.json").read_text())
    assert got == rc, out
    assert {c["outcome"] for c in doc["checks"]} == {outcome}
    if outcome == "waived":
        assert all(c["waived"]["reason"] == "servers being replaced" for c in doc["checks"])
    else:
        assert all(c["expired_waivers"][0]["expires"] == "2000-01-01" for c in doc["checks"])


def test_malformed_waiver_file_is_a_usage_error(tmp_path):
    waivers = tmp_path / "waivers.yml"
    waivers.write_text("waivers:\n  - check: test_disk\n    expires: 2999-01-01\n")
    rc, out = suite("--connection", "local", "-o", f"waivers_file={waivers}", "-o", f"report_dir={tmp_path}")
    assert rc == 4 and "waiver #1" in out and "justification" in out and "Traceback" not in out


@pytest.mark.parametrize("text", ["", "   ", "\t\n", '""', "Problem: "])
def test_empty_alert_is_a_usage_error_never_every_check(tmp_path, text):
    rc, out = suite("--connection", "local", "--fix", "--alert", text, "-o", f"report_dir={tmp_path}")
    assert rc == 4 and "is empty" in out and "Traceback" not in out, out
    assert not (tmp_path / "latest.json").exists()
