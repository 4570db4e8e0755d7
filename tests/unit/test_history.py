"""reports/history.sqlite and the reports/index.html made from it: recording, the one-time
import of dated JSON reports, retention, two runs at once, and the page per site and stage."""
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hivehealth.report import history, history_db, history_page
from hivehealth.report.history import classify, unreachable_servers, update

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 29, 3, 0, 0)
SERVERS = [{"name": "s-hive0.lab", "roles": ["first_hive", "hive"]},
           {"name": "s-hive1.lab", "roles": ["hive"]},
           {"name": "s-hive2.lab", "roles": ["hive"]},
           {"name": "s-hive3.lab", "roles": ["repository"]}]


def check(id_, area, outcome="passed", message="", **extra):
    status = {"passed": "ok", "failed": "fail", "error": "unknown", "skipped": "skip"}[outcome]
    return {"id": id_, "area": area, "outcome": outcome, "subject": id_.split("[")[-1].rstrip("]"),
            "message": message, "problems": [message] if message else [], "alert": "",
            "status": status, "duration": 0.01, **extra}


def healthy_checks():
    out = []
    for s in SERVERS:
        out.append(check(f"checks/test_disk.py::test_disk[{s['name']}]", "disk"))
        if "hive" in s["roles"]:
            out.append(check(f"checks/test_units.py::test_units[{s['name']}]", "units"))
    out.append(check("checks/test_drbd.py::test_drbd[ldap_data]", "drbd"))
    out.append(check("checks/test_swarm.py::test_swarm_leader", "swarm"))
    out.append(check("checks/test_services.py::test_service[ldap]", "services"))
    out.append(check("checks/test_volumes.py::test_volume[ldap_data]", "volumes"))
    out.append(check("checks/test_registry.py::test_registry[s-hive3.lab]", "registry"))
    return out


def doc(started, checks, exitstatus=None, **extra):
    summary = {}
    for c in checks:
        summary[c["outcome"]] = summary.get(c["outcome"], 0) + 1
    if exitstatus is None:
        exitstatus = 1 if summary.get("failed") or summary.get("error") else 0
    return {"site": "lab", "stage": "staging", "kind": "hive", "root": "/home/admin/site",
            "servers": SERVERS, "started": started.isoformat(timespec="seconds"), "duration": 4.2,
            "exitstatus": exitstatus, "summary": summary, "checks": checks, **extra}


def save(report_dir, d, html=True):
    stamp = datetime.fromisoformat(d["started"]).strftime("%Y%m%d-%H%M%S")
    (report_dir / f"run-{stamp}.json").write_text(json.dumps(d))
    if html:
        (report_dir / f"run-{stamp}.html").write_text("<html>report</html>")
    return stamp


def make_runs(report_dir: Path) -> dict:
    """Three recent runs (healthy; fixed+waived; one server unreachable) and one 40 days old."""
    report_dir.mkdir(parents=True, exist_ok=True)
    stamps = {}
    stamps["old"] = save(report_dir, doc(datetime(2026, 10, 20, 2, 15), healthy_checks()))

    c = healthy_checks()
    stamps["healthy"] = save(report_dir, doc(datetime(2026, 11, 26, 2, 15), c))

    c = healthy_checks()
    c[0]["fixed"] = True                                          # disk on s-hive0 fixed
    units1 = next(x for x in c if x["id"].endswith("test_units[s-hive1.lab]"))
    units1.update(outcome="passed", waived={"reason": "kdump", "expires": "2026-12-31"})
    drbd = next(x for x in c if x["area"] == "drbd")
    drbd.update(outcome="failed", status="fail", message="ldap_data: all Outdated <b>&</b>")
    stamps["mixed"] = save(report_dir, doc(datetime(2026, 11, 27, 2, 15), c), html=False)

    c = healthy_checks()
    for x in c:
        if x["id"].endswith("[s-hive1.lab]"):
            x.update(outcome="failed", status="fail", message="unreachable: [Errno 113] No route to host")
    drbd = next(x for x in c if x["area"] == "drbd")
    drbd.update(outcome="failed", status="fail",
                message="DRBD resource ldap_data: s-hive1: unreachable: [Errno 113] No route to host")
    stamps["unreach"] = save(report_dir, doc(datetime(2026, 11, 28, 2, 15), c))
    return stamps


class Page(HTMLParser):
    """Rows of the latest-runs tables (per section), rows of the per-day lists, every href,
    the chart's coverage attributes and the section titles."""

    def __init__(self):
        super().__init__()
        self.rows, self.day_rows, self.hrefs, self.charts, self.sections = {}, [], [], [], []
        self.day_hrefs = []
        self._row = self._cell = self._table = None
        self._h2 = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "runs" in (a.get("class") or ""):
            self._table = a["id"]
            self.rows[self._table] = []
        elif tag == "table" and "day" in (a.get("class") or ""):
            self._table = "day"
        if tag == "a":
            self.hrefs.append(a.get("href"))
            if self._table == "day":
                self.day_hrefs.append(a.get("href"))
        if tag == "svg" and a.get("data-from"):
            self.charts.append(a)
        if tag == "h2":
            self._h2 = ""
        if self._table and tag == "tr" and (self._table == "day" or "run" in (a.get("class") or "")):
            self._end_row()
            self._row = []
        if self._row is not None and tag == "td":
            self._end_cell()
            self._cell = ""

    def _end_cell(self):
        if self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None

    def _end_row(self):
        self._end_cell()
        if self._row is not None:
            (self.day_rows if self._table == "day" else self.rows[self._table]).append(self._row)
            self._row = None

    def handle_endtag(self, tag):
        if tag in ("td",):
            self._end_cell()
        if tag in ("tr", "table") and self._row is not None:
            self._end_row()
        if tag == "table":
            self._table = None
        if tag == "h2":
            self.sections.append(self._h2.strip())
            self._h2 = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._h2 is not None:
            self._h2 += data


def parse(path):
    p = Page()
    p.feed(path.read_text())
    p.close()
    return p


def rows_of(db_dir):
    with sqlite3.connect(db_dir / "history.sqlite") as db:
        return db.execute("SELECT stamp, site, state, unreachable, error FROM runs ORDER BY stamp, id").fetchall()


def outcomes_of(db_dir):
    with sqlite3.connect(db_dir / "history.sqlite") as db:
        return db.execute("SELECT r.stamp, n.nodeid, o.category FROM outcomes o JOIN runs r ON r.id = o.run "
                          "JOIN check_names n ON n.id = o.check_id ORDER BY 1, 2").fetchall()


def test_index_rows_links_unreachable_and_retention(tmp_path):
    stamps = make_runs(tmp_path)
    out = update(tmp_path, keep_days=30, now=NOW)
    assert out == tmp_path / "index.html"
    # retention: the 40-day-old run is gone (json, html and its row), the others stay
    assert not (tmp_path / f"run-{stamps['old']}.json").exists()
    assert not (tmp_path / f"run-{stamps['old']}.html").exists()
    assert (tmp_path / f"run-{stamps['healthy']}.json").exists()
    assert (tmp_path / f"run-{stamps['healthy']}.html").exists()
    assert [r[0] for r in rows_of(tmp_path)] == [stamps[k] for k in ("healthy", "mixed", "unreach")]

    page = parse(out)
    assert page.sections == ["lab / staging"]
    rows = page.rows["runs-g1"]
    assert len(rows) == 3
    times = [r[0].split(" json")[0] for r in rows]
    assert times == ["2026-11-28 02:15:00", "2026-11-27 02:15:00", "2026-11-26 02:15:00"]   # newest first
    # links: to each run's html when it exists (the mixed run has none)
    assert f"run-{stamps['unreach']}.html" in page.hrefs
    assert f"run-{stamps['healthy']}.html" in page.hrefs
    assert f"run-{stamps['mixed']}.html" not in page.hrefs
    assert f"run-{stamps['mixed']}.json" in page.hrefs

    unreach, mixed, healthy = rows
    assert unreach[1].endswith("unreachable: s-hive1.lab") and "unhealthy" in unreach[1]
    assert "unreachable" not in mixed[1]
    assert "healthy" in healthy[1] and "unhealthy" not in healthy[1] and "unreachable" not in healthy[1]
    assert "1 fixed" in mixed[2] and "1 waived" in mixed[2] and "1 ✗" in mixed[2]
    table = out.read_text().split('id="runs-g1"')[1].split("</thead>")[0]
    areas = re.findall(r"<th>([^<]*)</th>", table)[3:]
    assert areas == ["disk", "units", "drbd", "swarm", "registry", "services", "volumes"]
    cells = dict(zip(areas, mixed[3:]))
    assert cells["disk"] == "3 ✓ 1 fixed"
    assert cells["units"] == "2 ✓ 1 waived"
    assert cells["drbd"] == "1 ✗"
    assert dict(zip(areas, unreach[3:]))["units"] == "2 ✓ 1 ✗"
    # every run is also in its day's list, newest day first
    assert [r[0].split(" json")[0] for r in page.day_rows] == ["02:15:00"] * 3
    # the checks that did not always pass, with how often
    checks = out.read_text().split('<table class="checks">')[1].split("</table>")[0]
    assert "test_drbd[ldap_data]" in checks and "test_units[s-hive1.lab]" in checks
    assert re.search(r"test_drbd\[ldap_data\].*?failed.*?<td class=\"num\">2</td>", checks)


def test_each_run_and_its_checks_are_recorded_once(tmp_path):
    """The import reads each dated JSON once; a run recorded live is not imported again."""
    make_runs(tmp_path)
    update(tmp_path, 0, now=NOW)
    first = rows_of(tmp_path), outcomes_of(tmp_path)
    assert len(first[0]) == 4 and len(first[1]) == 4 * len(healthy_checks())
    d = doc(datetime(2026, 11, 28, 14, 0), healthy_checks(), unreachable=[])
    stamp = save(tmp_path, d)                      # the plugin copies its report, then records it
    update(tmp_path, 0, now=NOW, run=(stamp, d))
    update(tmp_path, 0, now=NOW, run=(stamp, d))   # the same run twice: still one row
    update(tmp_path, 0, now=NOW)
    rows = rows_of(tmp_path)
    assert len(rows) == 5 and [r[0] for r in rows].count(stamp) == 1
    assert len(outcomes_of(tmp_path)) == 5 * len(healthy_checks())
    assert set(first[1]) <= set(outcomes_of(tmp_path))


def test_existing_reports_folder_migrates_without_losing_a_run(tmp_path):
    """A folder as today's plugin leaves it: dated JSON and HTML reports, latest.*, no database.
    The first update imports every run with every check; a lost database is rebuilt the same."""
    reports = tmp_path / "reports"
    make_runs(reports)
    start = datetime(2026, 11, 20, 0, 0)
    for i in range(30):                            # and some runs in today's format, one unreachable
        c = healthy_checks()
        d = doc(start + timedelta(minutes=5 * i), c, unreachable=["s-hive2.lab"] if i == 7 else [])
        save(reports, d, html=i % 2 == 0)
    (reports / "latest.json").write_text(json.dumps(d))
    (reports / "latest.html").write_text("<html>latest</html>")
    jsons = sorted(p.name for p in reports.glob("run-*.json"))
    update(reports, 0, now=NOW)
    rows = rows_of(reports)
    assert [f"run-{r[0]}.json" for r in rows] == jsons
    assert all(r[4] is None for r in rows)
    assert [r[3] for r in rows].count('["s-hive2.lab"]') == 1
    expected = sorted((p.name[4:19], c["id"], classify(c))
                      for p in reports.glob("run-*.json") for c in json.loads(p.read_text())["checks"])
    assert outcomes_of(reports) == expected
    before = rows_of(reports), outcomes_of(reports)
    assert (reports / "latest.html").exists() and (reports / "latest.json").exists()

    (reports / "history.sqlite").unlink()
    for extra in ("history.sqlite-wal", "history.sqlite-shm"):
        (reports / extra).unlink(missing_ok=True)
    update(reports, 0, now=NOW)
    assert (rows_of(reports), outcomes_of(reports)) == before


def test_two_runs_at_once(tmp_path):
    """Two processes each recording runs and rewriting the page at the same time: every run
    is kept, the database is intact, and the page written last shows them all."""
    reports = tmp_path / "reports"
    reports.mkdir()                                    # no database yet: both create it
    script = (
        "import sys, json\nfrom datetime import datetime, timedelta\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_history import doc, healthy_checks, save, NOW\n"
        "from hivehealth.report.history import update\n"
        "base, reports = int(sys.argv[1]), __import__('pathlib').Path(sys.argv[2])\n"
        "while not (reports / 'go').exists():\n"           # both start together
        "    __import__('time').sleep(0.005)\n"
        "for i in range(12):\n"
        "    d = doc(NOW - timedelta(hours=1, seconds=base + i), healthy_checks(), unreachable=[])\n"
        "    stamp = save(reports, d)\n"
        "    update(reports, 30, now=NOW, run=(stamp, d))\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(base), str(reports)], cwd=REPO,
                              stderr=subprocess.PIPE, text=True) for base in (0, 100)]
    (reports / "go").touch()
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    with sqlite3.connect(reports / "history.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT count(*), count(DISTINCT stamp) FROM runs").fetchone() == (24, 24)
        assert db.execute("SELECT count(*) FROM outcomes").fetchone() == (24 * len(healthy_checks()),)
    assert int(parse(reports / "index.html").charts[0]["data-runs"]) == 24     # the page written last


def test_database_and_page_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        make_runs(tmp_path)
        update(tmp_path, 30, now=NOW)
        db = history_db.connect(tmp_path)          # the -wal and -shm files exist while it is open
    finally:
        os.umask(old)
    try:
        for name in ("history.sqlite", "history.sqlite-wal", "history.sqlite-shm", "index.html"):
            mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
            assert mode & 0o037 == 0, (name, oct(mode))
    finally:
        db.close()
    # an existing database that anyone could read is narrowed
    os.chmod(tmp_path / "history.sqlite", 0o666)
    update(tmp_path, 30, now=NOW)
    assert stat.S_IMODE((tmp_path / "history.sqlite").stat().st_mode) == 0o640
    assert not list(tmp_path.glob(".index.html.*.tmp"))


def test_text_is_escaped_and_page_is_self_contained(tmp_path):
    make_runs(tmp_path)
    d = json.loads(next(tmp_path.glob("run-20261127-*.json")).read_text())
    d["site"] = "<script>alert(1)</script>"
    d["checks"][0].update(id="checks/test_disk.py::test_disk[<img src=x onerror=alert(2)>]", outcome="failed",
                          message="<b>bold</b> & more")
    (tmp_path / "run-20261127-021500.json").write_text(json.dumps(d))
    text = update(tmp_path, 30, now=NOW).read_text()
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img" not in text and "<b>bold" not in text and "&lt;b&gt;bold&lt;/b&gt; &amp; more" in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text and "<link" not in text and "<script" not in text
    assert text.count("<svg") == 2 * 2 and "<title>" in text        # two sections, two charts each


def test_sites_stages_and_the_local_machine_are_apart(tmp_path):
    make_runs(tmp_path)
    other = doc(datetime(2026, 11, 28, 3, 0), healthy_checks(), unreachable=[])
    other.update(site="pdns", stage="production")
    save(tmp_path, other)
    local = doc(datetime(2026, 11, 28, 4, 0), [check("checks/test_disk.py::test_disk[local]", "disk")],
                unreachable=[])
    local.update(kind="local", site=None, stage=None, servers=[{"name": "local", "roles": []}])
    save(tmp_path, local)
    out = update(tmp_path, 30, now=NOW)
    page = parse(out)
    assert page.sections == ["lab / staging", "pdns / production", "this machine (local checks)"]
    nav = out.read_text().split("<nav>")[1].split("</nav>")[0]          # each with its latest verdict
    assert '"#g1">lab / staging</a> <span class="badge bad">unhealthy' in nav
    assert '"#g2">pdns / production</a> <span class="badge ok">healthy' in nav
    assert [len(page.rows[f"runs-g{i}"]) for i in (1, 2, 3)] == [3, 1, 1]
    assert [int(c["data-runs"]) for c in page.charts] == [3, 1, 1]


def test_chart_spans_the_retention_and_marks_unreachable(tmp_path):
    make_runs(tmp_path)
    text = update(tmp_path, 30, now=NOW).read_text()
    page = parse(tmp_path / "index.html")
    (chart,) = page.charts
    assert datetime.fromisoformat(chart["data-from"]) <= NOW - timedelta(days=30)
    assert datetime.fromisoformat(chart["data-to"]) >= NOW
    assert chart["data-bucket"] == "day" and int(chart["data-buckets"]) >= 31   # nightly runs: per day
    assert chart["data-runs"] == "3"
    overview, recent = re.findall(r"<svg.*?</svg>", text, re.S)
    assert "2026-11-28: 1 run · 1 unreachable · unreachable: s-hive1.lab (1×)" in overview
    assert "no run" in overview                     # days without a run are drawn, not left out
    assert history.COLORS["unreachable"] in overview and history.COLORS["failed"] in overview
    # latest runs one bar each: three runs, one column of tooltips each
    assert len(re.findall(r'fill="transparent"><title>2026-11-2\d 02:15:00', recent)) == 3
    assert "unreachable: s-hive1.lab" in recent


def test_five_minute_runs_are_counted_per_hour_and_a_missed_hour_shows(tmp_path):
    start = NOW - timedelta(hours=6)
    for i in range(6 * 12):
        if 24 <= i < 36:
            continue                                # the third hour: no run at all
        save(tmp_path, doc(start + timedelta(minutes=5 * i), healthy_checks(), unreachable=[]), html=False)
    text = update(tmp_path, 1, now=NOW).read_text()
    (chart,) = parse(tmp_path / "index.html").charts
    assert chart["data-bucket"] == "hour" and chart["data-runs"] == str(60)
    assert f"{start + timedelta(hours=2):%Y-%m-%d %H:%M}–{start + timedelta(hours=3):%H:%M}: no run" in text
    # hours whose runs all passed are titled as one stretch
    assert f"{start:%Y-%m-%d %H:%M} – {start + timedelta(hours=2):%H:%M}: 24 runs, all passed" in text


def test_older_runs_are_reachable_per_day(tmp_path):
    """The table shows the latest runs; every run is in its day's list, runs in a row with
    the same outcome on one line, each a link to its report."""
    start = NOW - timedelta(days=3)
    stamps = []
    for i in range(history_page.LATEST_ROWS + 20):
        c = healthy_checks()
        if 5 <= i < 8:                                 # three hourly runs that could not reach s-hive2
            for x in c:
                if x["id"].endswith("[s-hive2.lab]"):
                    x.update(outcome="failed", status="unknown", message="unreachable: timed out")
        stamps.append(save(tmp_path, doc(start + timedelta(hours=i), c,
                                         unreachable=["s-hive2.lab"] if 5 <= i < 8 else [])))
    page = parse(update(tmp_path, 30, now=NOW))
    assert len(page.rows["runs-g1"]) == history_page.LATEST_ROWS
    assert {f"run-{s}.html" for s in stamps} <= set(page.day_hrefs)
    first_day = [r for r in page.day_rows if r[0].startswith("03:00")]
    assert first_day == [["03:00 – 07:00", "healthy ×5", "12 ✓", "03:00 04:00 05:00 06:00 07:00"]]
    incident = [r for r in page.day_rows if r[0] == "08:00 – 10:00"]
    assert incident == [["08:00 – 10:00", "unhealthy ×3", "10 ✓ 2 ✗",
                         "unreachable: s-hive2.lab disk failed, units failed 08:00 09:00 10:00"]]


def test_unreadable_run_is_a_row_not_a_gap_until_it_can_be_read(tmp_path):
    make_runs(tmp_path)
    torn = tmp_path / "run-20261128-120000.json"
    torn.write_text('{"site": "lab", "chec')                   # a copy still being written
    page = parse(update(tmp_path, 30, now=NOW))
    rows = page.rows["runs-g1"]
    assert len(rows) == 4 and "could not be read" in rows[0][1]
    assert ("20261128-120000", "", "unreadable") in [r[:3] for r in rows_of(tmp_path)]
    # once the file is whole, the next update reads it again and the row becomes the run
    torn.write_text(json.dumps(doc(datetime(2026, 11, 28, 12, 0), healthy_checks(), unreachable=[])))
    page = parse(update(tmp_path, 30, now=NOW))
    assert "could not be read" not in page.rows["runs-g1"][0][1]
    assert ("20261128-120000", "lab", "passed") in [r[:3] for r in rows_of(tmp_path)]


def test_keep_days_zero_keeps_everything(tmp_path):
    stamps = make_runs(tmp_path)
    update(tmp_path, 0, now=NOW)
    assert (tmp_path / f"run-{stamps['old']}.json").exists()
    page = parse(tmp_path / "index.html")
    assert len(page.rows["runs-g1"]) == 4
    assert datetime.fromisoformat(page.charts[0]["data-from"]) <= datetime(2026, 10, 20, 2, 15)


def test_empty_dir(tmp_path):
    out = update(tmp_path / "reports", 30, now=NOW)
    assert "No runs yet" in out.read_text()


def test_classify():
    assert classify({"outcome": "passed"}) == "passed"
    assert classify({"outcome": "error"}) == "failed"
    assert classify({"outcome": "passed", "fixed": True}) == "fixed"
    assert classify({"outcome": "failed", "waived": {"reason": "r"}}) == "waived"
    assert classify({"outcome": "skipped"}) == "skipped"


def test_unreachable_servers_from_ids_messages_and_top_level():
    d = {"servers": SERVERS, "checks": [
        check("checks/test_disk.py::test_disk[s-hive2.lab]", "disk", "failed", "unreachable: timed out"),
        check("checks/test_swarm.py::test_swarm_leader", "swarm", "failed",
              "no manager answered: s-hive0: ok; s-hive1: unreachable: refused"),
        check("checks/test_units.py::test_units[s-hive0.lab]", "units", "failed", "kdump.service failed"),
    ]}
    assert unreachable_servers(d) == ["s-hive2.lab", "s-hive1.lab"]
    assert unreachable_servers({"servers": SERVERS, "unreachable": ["s-hive3.lab"], "checks": []}) == ["s-hive3.lab"]
    unnamed = {"servers": SERVERS, "checks": [check("checks/test_x.py::test_x", "x", "failed",
                                                    "unreachable: something")]}
    assert unreachable_servers(unnamed) == ["?"]
    # s-hive1 must not be taken for s-hive10
    d10 = {"servers": SERVERS + [{"name": "s-hive10.lab", "roles": ["hive"]}], "checks": [
        check("checks/test_swarm.py::test_swarm_leader", "swarm", "failed", "s-hive10: unreachable: x")]}
    assert unreachable_servers(d10) == ["s-hive10.lab"]


def test_cli(tmp_path):
    make_runs(tmp_path)
    r = subprocess.run([sys.executable, "-m", "hivehealth.report.history", "--reports", str(tmp_path),
                        "--keep-days", "0"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == tmp_path / "index.html"
    assert len(rows_of(tmp_path)) == 4


def test_cli_bad_input_is_one_clear_line(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nreport_dir = out\nreport_keep_days = a month\n")
    r = subprocess.run([sys.executable, "-m", "hivehealth.report.history"], cwd=tmp_path, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 2 and "report_keep_days = 'a month'" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "history.sqlite").write_text("not a database, this is a text file" * 100)
    r = subprocess.run([sys.executable, "-m", "hivehealth.report.history", "--keep-days", "3"], cwd=tmp_path,
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 1 and "history.sqlite" in r.stderr and "not a database" in r.stderr
    assert "Traceback" not in r.stderr


def test_suite_runs_record_themselves_per_site(tmp_path):
    """The plugin records its own run: a local run and a hive site's run into one reports folder."""
    from test_cli import _unreachable_project, suite
    reports = tmp_path / "reports"
    rc, out = suite("--connection", "local", "-o", f"report_dir={reports}", "-k", "disk")
    assert rc in (0, 1), out
    rc, out = suite("--hive-root", str(_unreachable_project(tmp_path / "site")), "-o", f"report_dir={reports}",
                    "-k", "disk")
    assert rc == 1, out
    rows = rows_of(reports)
    assert len(rows) == 2 and all(f"run-{r[0]}.json" in os.listdir(reports) for r in rows)
    assert rows[1][2] == "unreachable" and len(json.loads(rows[1][3])) == 4
    page = parse(reports / "index.html")
    assert page.sections[-1] == "this machine (local checks)" and len(page.sections) == 2
    assert "unreachable: s-hive0.pdns" in page.rows["runs-g1"][0][1]


def test_cron_wrapper_keeps_the_runs_exit_code_and_writes_index_and_textfile(tmp_path):
    """The installed `hive-health-cron` against a site whose servers refuse connections, its
    reports folder named by the site's pytest.ini and holding runs from before the database."""
    from test_cli import _unreachable_project
    site = _unreachable_project(tmp_path / "site")
    (site / "pytest.ini").write_text("[pytest]\nreport_dir = out\n")
    out = site / "out"
    out.mkdir()
    # a reports folder from before the database: its runs are imported, none lost
    kept = [save(out, doc(datetime.now().replace(microsecond=0) - timedelta(days=n, hours=1),
                          healthy_checks())) for n in (1, 2, 3)]
    old = save(out, doc(datetime(2020, 1, 1, 2, 15), healthy_checks()))
    env = dict(os.environ, HIVE_ROOT=str(site), HH_KEEP_DAYS="30",
               HH_TEXTFILE=str(tmp_path / "tf" / "hive_health.prom"))
    cron = str(Path(sys.executable).parent / "hive-health-cron")
    r = subprocess.run([cron, "-q"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "== hive-health exit 1" in r.stdout
    assert (out / "index.html").exists()
    assert not (out / f"run-{old}.json").exists()          # pruned
    stamps = [row[0] for row in rows_of(out)]
    assert len(stamps) == 4 and set(kept) < set(stamps)
    prom = (tmp_path / "tf" / "hive_health.prom").read_text()
    assert 'hive_health_run_exit_status{site="pdns",stage="staging"} 1' in prom

    # a run that wrote no report (a usage error) keeps its exit code and leaves the textfile alone
    before = (tmp_path / "tf" / "hive_health.prom").stat().st_mtime_ns
    r = subprocess.run([cron, "-k", "nothing_matches_this"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "textfile not updated" in r.stderr
    assert (tmp_path / "tf" / "hive_health.prom").stat().st_mtime_ns == before


def test_two_runs_of_one_second_keep_both_dated_reports_and_both_are_imported(tmp_path):
    """Two runs that started in the same second (even the same microsecond) into one folder:
    neither overwrites the other's dated copies, both are imported, and the names still sort
    as the runs started, a dated report of an older version (named to the second) included."""
    second = datetime(2026, 11, 28, 2, 15, 0)
    old = save(tmp_path, doc(second - timedelta(seconds=1), healthy_checks()))   # run-20261128-021459.json
    started = second.replace(microsecond=250_000)
    docs = [doc(second, healthy_checks()), doc(second, healthy_checks(), exitstatus=1)]
    docs[1]["checks"][0].update(outcome="failed", status="fail", message="s-hive0.lab: / is 91 % full")
    stamps = [history.write_dated(tmp_path, started, {"json": json.dumps(d).encode(), "html": f"<p>{i}".encode()})
              for i, d in enumerate(docs)]
    assert stamps == ["20261128-021500-250000", "20261128-021500-250001"]
    for i, (stamp, d) in enumerate(zip(stamps, docs)):
        assert json.loads((tmp_path / f"run-{stamp}.json").read_text()) == d
        assert (tmp_path / f"run-{stamp}.html").read_text() == f"<p>{i}"
    assert sorted(p.name for p in tmp_path.glob("run-*.json")) == [f"run-{s}.json" for s in [old, *stamps]]
    assert not list(tmp_path.glob(".*.tmp"))
    update(tmp_path, 30, now=NOW, run=(stamps[1], docs[1]))     # as the plugin records its own run
    rows = rows_of(tmp_path)
    assert [r[0] for r in rows] == [old, *stamps] and all(r[4] is None for r in rows)
    assert [r[2] for r in rows] == ["passed", "passed", "failed"]
    assert history_db.stamp_time(stamps[1]) == started.replace(microsecond=250_001)
    assert history_db.stamp_time(old) == second - timedelta(seconds=1)
    for bad in ("20261128-021500x250000", "20261128-021500-25000", "20261128-021500-", "20261128-02150a"):
        with pytest.raises(ValueError, match="not a run stamp"):
            history_db.stamp_time(bad)
    # pruning knows both names: a month later all three go, files and rows
    update(tmp_path, 30, now=second + timedelta(days=31))
    assert rows_of(tmp_path) == [] and not list(tmp_path.glob("run-*"))


def test_runs_claiming_one_stamp_at_once_each_get_their_own(tmp_path):
    """Writers racing for the same name: the name is claimed by the hard link that makes the
    file appear, so exactly one wins each stamp and no copy is overwritten."""
    import threading
    started = datetime(2026, 11, 28, 2, 15, 0, 999_999)
    gate = threading.Barrier(6)
    stamps = []

    def run(i):
        gate.wait()
        stamps.append(history.write_dated(tmp_path, started, {"html": b"h%d" % i, "json": b'{"run": %d}' % i}))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(stamps)) == 6
    assert sorted(json.loads((tmp_path / f"run-{s}.json").read_text())["run"] for s in stamps) == list(range(6))
    for s in stamps:
        i = json.loads((tmp_path / f"run-{s}.json").read_text())["run"]
        assert (tmp_path / f"run-{s}.html").read_bytes() == b"h%d" % i
    assert len(list(tmp_path.glob("run-*"))) == 12 and not list(tmp_path.glob(".*.tmp"))
    assert history_db.scan(tmp_path) == {s: {"json", "html"} for s in stamps}


def test_dated_names_are_claimed_without_hard_links_too(tmp_path, monkeypatch):
    """On a filesystem without hard links, O_EXCL claims the name instead."""
    import errno
    from hivehealth import safe_write

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(safe_write.os, "link", no_links)
    started = datetime(2026, 11, 28, 2, 15, 0)
    stamps = [history.write_dated(tmp_path, started, {"json": b'{"run": %d}' % i, "html": b"h%d" % i})
              for i in range(2)]
    assert stamps == ["20261128-021500-000000", "20261128-021500-000001"]
    assert [(tmp_path / f"run-{s}.json").read_bytes() for s in stamps] == [b'{"run": 0}', b'{"run": 1}']
    assert stat.S_IMODE((tmp_path / f"run-{stamps[0]}.html").stat().st_mode) == 0o640
    assert not list(tmp_path.glob(".*.tmp"))
