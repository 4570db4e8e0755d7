"""Links planted in a real reports folder and a real `.hive/<stage>/` before a real `--fix` run
(the suite's command line, servers that refuse connections so that every check fails and its
remedy is tried): no target is written, truncated, appended to or narrowed, and the run says
what it refused. Also the modes of what the run creates: the reports folder 0750, --junitxml
0640."""
import json
import os
import stat

import pytest

from test_cli import _unreachable_project, newest_report, suite
from test_safe_write import target, untouched  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="plants files as root, like a run as root meets them")


def fix_run(tmp_path, *extra):
    site = tmp_path / "site"
    if not site.exists():
        _unreachable_project(site)
    reports = tmp_path / "r"
    rc, out = suite("--hive-root", str(site), "--fix", "-k", "disk", "-o", f"report_dir={reports}", *extra)
    assert "Traceback" not in out and "INTERNALERROR" not in out, out
    return rc, out, reports


def planted(tmp_path, name, target):
    """A link `name` -> target in the real `.hive/staging/` of an unreachable project."""
    ctx = tmp_path / "site" / ".hive" / "staging"
    _unreachable_project(tmp_path / "site")
    (ctx / name).symlink_to(target)
    return ctx


def test_a_link_planted_as_the_fix_lock_is_refused_and_nothing_is_fixed(tmp_path, target):
    ctx = planted(tmp_path, "hive-health.lock", target)
    rc, out, reports = fix_run(tmp_path)
    untouched(target)
    doc = newest_report(reports)
    messages = [c["message"] for c in doc["checks"]]
    assert all(f"--fix: not run: cannot use the fix lock: {ctx / 'hive-health.lock'}: is a symbolic link; "
               f"hive-health does not write there" in m for m in messages), messages
    assert not (reports / "audit.jsonl").exists(), "a command ran without the lock"


def test_a_link_planted_as_the_fix_count_is_replaced_never_followed(tmp_path, target):
    ctx = planted(tmp_path, "hive-health.fixseq", target)
    rc, out, reports = fix_run(tmp_path)
    untouched(target)
    seq = ctx / "hive-health.fixseq"
    assert not seq.is_symlink() and json.loads(seq.read_text())["seq"] == 4     # one per server's remedy
    assert [p.name for p in ctx.iterdir() if p.name.startswith(".")] == [], "a temp file was left behind"


def test_a_link_planted_as_the_audit_log_stops_every_remedy_before_it_runs(tmp_path, target):
    reports = tmp_path / "r"
    reports.mkdir(mode=0o750)
    (reports / "audit.jsonl").symlink_to(target)
    rc, out, reports = fix_run(tmp_path)
    untouched(target)
    doc = newest_report(reports)
    for c in doc["checks"]:
        assert (f"--fix: prune_docker not run: the audit log cannot be written ({reports / 'audit.jsonl'}: is a "
                f"symbolic link; hive-health does not write there)") in c["message"], c["message"]
    assert (reports / "audit.jsonl").is_symlink()


@pytest.mark.parametrize("name", [".history.lock", "history.sqlite", "history.sqlite-wal", "history.sqlite-shm"])
def test_a_link_planted_in_the_reports_folder_for_the_history_is_refused_naming_it(tmp_path, target, name):
    reports = tmp_path / "r"
    reports.mkdir(mode=0o750)
    (reports / name).symlink_to(target)
    rc, out, reports = fix_run(tmp_path)
    untouched(target)
    assert rc == 1
    assert f"history of runs ({reports / 'history.sqlite'}) not updated: {reports / name}: is a symbolic link; " \
           f"hive-health does not write there" in out, out
    assert (reports / "latest-partial.json").is_file()


def test_links_planted_as_the_reports_are_replaced_never_followed(tmp_path, target):
    reports = tmp_path / "r"
    reports.mkdir(mode=0o750)
    for name in ("latest-partial.json", "latest-partial.html", "index.html"):
        (reports / name).symlink_to(target)
    junit = tmp_path / "junit" / "results.xml"
    junit.parent.mkdir(mode=0o750)
    junit.symlink_to(target)
    rc, out, reports = fix_run(tmp_path, f"--junitxml={junit}")
    untouched(target)
    for f in (reports / "latest-partial.json", reports / "latest-partial.html", reports / "index.html", junit):
        assert f.is_file() and not f.is_symlink(), f
        assert stat.S_IMODE(f.stat().st_mode) == 0o640, (f, oct(f.stat().st_mode))
    assert "<testsuites" in junit.read_text() and f"generated xml file: {junit}" in out


def test_the_reports_folder_and_junitxml_are_created_private(tmp_path):
    junit = tmp_path / "results.xml"
    old = os.umask(0o022)
    try:
        rc, out, reports = fix_run(tmp_path, f"--junitxml={junit}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(reports.stat().st_mode) == 0o750
    assert stat.S_IMODE(junit.stat().st_mode) == 0o640
    assert {stat.S_IMODE(p.stat().st_mode) for p in reports.iterdir() if p.is_file()} == {0o640}, \
        {p.name: oct(p.stat().st_mode) for p in reports.iterdir()}


def test_a_reports_folder_others_can_write_to_is_a_usage_error(tmp_path):
    reports = tmp_path / "r"
    reports.mkdir()
    reports.chmod(0o777)
    rc, out, _ = fix_run(tmp_path)
    assert rc == 4 and f"hive-health: reports not written to {reports}: is writable by others (mode 0777)" in out, out
    assert list(reports.iterdir()) == []


def test_a_context_folder_of_another_user_refuses_the_fix_lock(tmp_path):
    _unreachable_project(tmp_path / "site")
    ctx = tmp_path / "site" / ".hive" / "staging"
    os.chown(ctx, 65534, 65534)
    rc, out, reports = fix_run(tmp_path)
    doc = newest_report(reports)
    assert all(f"cannot use the fix lock: {ctx}: is owned by" in c["message"] for c in doc["checks"]), doc
    assert not (ctx / "hive-health.lock").exists()


def test_the_fix_count_has_no_predictable_temp_file_to_plant_a_link_at(tmp_path, target):
    """In-process (the fix engine's test harness), so that this process's pid, the name an
    older fix count wrote through, is known."""
    from test_fix_engine import Run, Servers, _site
    servers = Servers(tmp_path, {"s-hive1.lab": ["app.service"]})
    site = _site(tmp_path)
    (tmp_path / "ctx" / f".hive-health.fixseq.{os.getpid()}").symlink_to(target)
    assert Run(servers, site, tmp_path).fix(site.servers[1]).ok
    untouched(target)
    assert json.loads((tmp_path / "ctx" / "hive-health.fixseq").read_text())["seq"] == 1


def test_a_link_planted_as_a_dated_report_is_not_imported_into_the_history(tmp_path, target):
    from hivehealth.report import history
    reports = tmp_path / "r"
    reports.mkdir(mode=0o750)
    other = tmp_path / "outside" / "someone-elses.json"
    other.write_text(json.dumps({"site": "secret-site", "stage": "staging", "checks": [], "summary": {}}))
    (reports / "run-20261201-010203-000000.json").symlink_to(other)
    history.update(reports, 0)
    page = (reports / "index.html").read_text()
    assert "secret-site" not in page and "is a symbolic link" in page, page[-2000:]
