"""reports/index.html from dated runs: rows, links, unreachable servers, retention."""
import json
import re
import subprocess
import sys
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

from hivehealth import history
from hivehealth.history import classify, load_runs, unreachable_servers, update

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


class Rows(HTMLParser):
    """The runs table's rows as lists of cell texts, and every href."""

    def __init__(self):
        super().__init__()
        self.rows, self.hrefs, self._row, self._cell, self._in_runs = [], [], None, None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id") == "runs":
            self._in_runs = True
        if tag == "a":
            self.hrefs.append(a.get("href"))
        if self._in_runs and tag == "tr" and "run" in (a.get("class") or ""):
            self._row = []
        if self._row is not None and tag == "td":
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        if tag == "table":
            self._in_runs = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def parse(path):
    p = Rows()
    p.feed(path.read_text())
    return p


def test_index_rows_links_unreachable_and_retention(tmp_path):
    stamps = make_runs(tmp_path)
    out = update(tmp_path, keep_days=30, now=NOW)
    assert out == tmp_path / "index.html"
    # retention: the 40-day-old run is gone (json and html), the others stay
    assert not (tmp_path / f"run-{stamps['old']}.json").exists()
    assert not (tmp_path / f"run-{stamps['old']}.html").exists()
    assert (tmp_path / f"run-{stamps['healthy']}.json").exists()
    assert (tmp_path / f"run-{stamps['healthy']}.html").exists()

    page = parse(out)
    assert len(page.rows) == 3
    times = [r[0].split(" json")[0] for r in page.rows]
    assert times == ["2026-11-28 02:15:00", "2026-11-27 02:15:00", "2026-11-26 02:15:00"]   # newest first
    assert all(r[1] == "lab" and r[2] == "staging" for r in page.rows)
    # links: to each run's html when it exists (the mixed run has none)
    assert f"run-{stamps['unreach']}.html" in page.hrefs
    assert f"run-{stamps['healthy']}.html" in page.hrefs
    assert f"run-{stamps['mixed']}.html" not in page.hrefs
    assert f"run-{stamps['mixed']}.json" in page.hrefs

    unreach, mixed, healthy = page.rows
    assert unreach[3].endswith("unreachable: s-hive1.lab") and "unhealthy" in unreach[3]
    assert "unreachable" not in mixed[3]
    assert "healthy" in healthy[3] and "unhealthy" not in healthy[3] and "unreachable" not in healthy[3]
    assert "1 fixed" in mixed[4] and "1 waived" in mixed[4] and "1 ✗" in mixed[4]
    headers = re.findall(r"<th>([^<]*)</th>", out.read_text())
    areas = headers[5:]
    assert areas == ["disk", "units", "drbd", "swarm", "registry", "services", "volumes"]
    cells = dict(zip(areas, mixed[5:]))
    assert cells["disk"] == "3 ✓ 1 fixed"
    assert cells["units"] == "2 ✓ 1 waived"
    assert cells["drbd"] == "1 ✗"
    assert dict(zip(areas, unreach[5:]))["units"] == "2 ✓ 1 ✗"


def test_text_is_escaped_and_page_is_self_contained(tmp_path):
    make_runs(tmp_path)
    d = json.loads(next(tmp_path.glob("run-20261127-*.json")).read_text())
    d["site"] = "<script>alert(1)</script>"
    (tmp_path / "run-20261127-021500.json").write_text(json.dumps(d))
    text = update(tmp_path, 30, now=NOW).read_text()
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text and "<link" not in text
    assert text.count("<svg") == 2 and "<title>" in text


def test_chart_has_one_bar_group_per_run_and_marks_unreachable(tmp_path):
    make_runs(tmp_path)
    text = update(tmp_path, 30, now=NOW).read_text()
    bars = text.split('<svg class="chart strip"')[0]
    assert bars.count('<g class="run">') == 3
    assert "unreachable: s-hive1.lab" in bars
    strip = text.split('<svg class="chart strip"')[1].split("</svg>")[0]
    assert strip.count("<rect") == 3 * (7 + 1)         # 7 areas + the servers row, 3 runs
    assert history.COLORS["unreachable"] in strip and history.COLORS["failed"] in strip


def test_unreadable_run_is_a_row_not_a_gap(tmp_path):
    make_runs(tmp_path)
    (tmp_path / "run-20261128-120000.json").write_text('{"site": "lab", "chec')   # torn write
    page = parse(update(tmp_path, 30, now=NOW))
    assert len(page.rows) == 4
    assert "could not be read" in page.rows[0][1]


def test_keep_days_zero_keeps_everything(tmp_path):
    stamps = make_runs(tmp_path)
    update(tmp_path, 0, now=NOW)
    assert (tmp_path / f"run-{stamps['old']}.json").exists()
    assert len(parse(tmp_path / "index.html").rows) == 4


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
    r = subprocess.run([sys.executable, "-m", "hivehealth.history", "--reports", str(tmp_path),
                        "--keep-days", "0"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == tmp_path / "index.html"
    assert len(load_runs(tmp_path)) == 4


def test_cron_wrapper_keeps_pytest_exit_code_and_writes_index_and_textfile(tmp_path):
    """bin/hive-health-cron in a copy of the repo layout with a stand-in pytest."""
    import os
    import shutil
    import textwrap
    repo = tmp_path / "repo"
    (repo / "bin").mkdir(parents=True)
    shutil.copy2(REPO / "bin" / "hive-health-cron", repo / "bin" / "hive-health-cron")
    (repo / "hivehealth").symlink_to(REPO / "hivehealth")
    (repo / "pytest.ini").write_text("[pytest]\nreport_dir = out\n")
    (repo / ".venv" / "bin").mkdir(parents=True)
    fake = repo / ".venv" / "bin" / "pytest"
    d = doc(datetime.now().replace(microsecond=0), healthy_checks(), exitstatus=1)
    stamp = datetime.fromisoformat(d["started"]).strftime("%Y%m%d-%H%M%S")
    fake.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo "args: $* site: $HIVE_ROOT" > "$PWD/args.txt"
        mkdir -p out
        cat > out/latest.json <<'JSON'
        {json.dumps(d)}
        JSON
        cp out/latest.json out/run-{stamp}.json
        exit 1
    """))
    fake.chmod(0o755)
    (repo / "out").mkdir()
    old = save(repo / "out", doc(datetime(2020, 1, 1, 2, 15), healthy_checks()))
    env = dict(os.environ, HIVE_ROOT="/home/admin/my site", HH_KEEP_DAYS="30",
               HH_TEXTFILE=str(tmp_path / "tf" / "hive_health.prom"), HH_PYTHON=sys.executable)
    r = subprocess.run(["/bin/sh", str(repo / "bin" / "hive-health-cron"), "-k", "drbd"],
                       cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 1, r.stdout + r.stderr
    # the site travels in HIVE_ROOT: as `--hive-root DIR` pytest would take DIR for a test path
    assert (repo / "args.txt").read_text().strip() == "args: -k drbd site: /home/admin/my site"
    assert (repo / "out" / "index.html").exists()
    assert not (repo / "out" / f"run-{old}.json").exists()          # pruned
    assert len(parse(repo / "out" / "index.html").rows) == 1
    prom = (tmp_path / "tf" / "hive_health.prom").read_text()
    assert 'hive_health_run_exit_status{site="lab",stage="staging"} 1' in prom

    # a run that wrote no report (e.g. a usage error) keeps its exit code and leaves the textfile alone
    fake.write_text("#!/bin/sh\nexit 4\n")
    before = (tmp_path / "tf" / "hive_health.prom").stat().st_mtime_ns
    r = subprocess.run(["/bin/sh", str(repo / "bin" / "hive-health-cron")], cwd=tmp_path, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 4
    assert "textfile not updated" in r.stderr
    assert (tmp_path / "tf" / "hive_health.prom").stat().st_mtime_ns == before
