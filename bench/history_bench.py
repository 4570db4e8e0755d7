#!/usr/bin/env python3
"""The history page at a month of five-minute runs: 8,640 runs of a 4-server site.

Synthesizes the dated reports (`run-*.json` as the plugin writes them, 34 checks each, with a
few incidents: a server unreachable for hours, a DRBD failure fixed by --fix, a waiver for a
week, a full disk, one report torn mid-write), then measures, each in its own process:

- baseline: the JSON-rereading implementation (hivehealth/history.py at BASELINE_COMMIT, the
  last version before the database) writing index.html from the same folder;
- migration: the first update on that folder (imports every dated report into the database);
- update after one run: a run is added and recorded, the page rewritten (UPDATE_RUNS times);

and reports wall time, peak RSS (ru_maxrss of the process), index.html size and the time the
chart covers. Writes bench/results/history.json and its section of bench/results/latest.md
(between markers; the rest of the file is left as it is).

    python3 bench/history_bench.py [--runs 8640] [--keep DIR] [--screenshot PNG]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
# the last commit whose hivehealth/history.py re-read every dated JSON report
BASELINE_COMMIT = "fa9d429e520cae6cb1d719e792e2f08aa4988775"
BASELINE_SHORT = "fa9d429"
UPDATE_RUNS = 3
KEEP_DAYS = 30
CADENCE = timedelta(minutes=5)
TARGETS = {"update_s": 1.0, "index_mb": 1.5, "rss_mb": 100.0, "chart_days": 30.0}
BEGIN, END = "<!-- history-bench -->", "<!-- /history-bench -->"

SERVERS = [("s-hive0.lab", ["first_hive", "hive"]), ("s-hive1.lab", ["hive"]),
           ("s-hive2.lab", ["hive"]), ("s-hive3.lab", ["repository"])]
HIVES = [s for s, roles in SERVERS if "hive" in roles]
ALERTS = {"disk": "<mount>: Disk space is low (used > 80%)",
          "units": "At least one of the services is in a failed state (only once)",
          "drbd": "DRBD resource {0} status is not UpToDate/Diskless client",
          "hostkeys": "Host key verification failed. (FAQ 7.18)",
          "time": "System time is out of sync (diff with Zabbix server > 60s)",
          "services": "Service {0}: Replica count mismatch",
          "swarm": "Swarm node is not Ready"}


def checks_template() -> list[tuple[str, str, str]]:
    """(id, area, subject): the check list of a 4-server site, 34 items like a lab run."""
    out = [("checks/test_backup.py::test_backup[s-hive3.lab]", "backup", "s-hive3.lab")]
    for s, _ in SERVERS:
        out.append((f"checks/test_disk.py::test_disk[{s}]", "disk", s))
        out.append((f"checks/test_hostkeys.py::test_hostkeys[{s}]", "hostkeys", s))
        out.append((f"checks/test_time.py::test_time[{s}]", "time", s))
    for s in HIVES:
        out.append((f"checks/test_units.py::test_units[{s}]", "units", s))
        out.append((f"checks/test_drbd_units.py::test_drbd_units[{s}]", "units", s))
        out.append((f"checks/test_thinpool.py::test_thinpool[{s}]", "thinpool", s))
    for r in ("ldap_data", "pdns_data", "registry_data"):
        out.append((f"checks/test_drbd.py::test_drbd[{r}]", "drbd", r))
        out.append((f"checks/test_volumes.py::test_volume[{r}]", "volumes", r))
    for svc in ("ldap", "pdns", "powerdns"):
        out.append((f"checks/test_services.py::test_service[{svc}]", "services", svc))
    out += [("checks/test_swarm.py::test_swarm_leader", "swarm", "swarm"),
            ("checks/test_swarm.py::test_swarm_nodes", "swarm", "swarm"),
            ("checks/test_registry.py::test_registry[s-hive3.lab]", "registry", "s-hive3.lab"),
            ("checks/test_registry_api.py::test_registry_api[s-hive3.lab]", "registry", "s-hive3.lab"),
            ("checks/test_hive_state.py::test_hive_state", "hive_state", "mother")]
    return out


def synth_doc(when: datetime, i: int, total: int, rnd: random.Random) -> dict:
    """One run's report; incidents at fixed places of the month."""
    day, minute = divmod(i * 5, 1440)
    unreachable = ["s-hive1.lab"] if day == 4 and 120 <= minute < 300 else []
    checks = []
    for cid, area, subject in checks_template():
        c = {"id": cid, "area": area, "outcome": "passed", "subject": subject, "message": "",
             "duration": round(rnd.uniform(0.0003, 0.004), 6), "problems": [],
             "alert": ALERTS.get(area, "(none: hive's zabbix does not watch this)").format(subject),
             "status": "ok"}
        server = subject if subject.startswith("s-hive") else None

        def fail(msg, status="fail"):
            c.update(outcome="failed", status=status, message=msg, problems=[msg])
        if server in unreachable:
            fail(f"unreachable: ssh {server}: [Errno 113] No route to host", "unknown")
        elif area in ("drbd", "swarm", "services") and unreachable:
            fail(f"{unreachable[0].split('.')[0]}: unreachable: [Errno 113] No route to host", "unknown")
        elif cid.endswith("test_drbd[ldap_data]") and day == 9 and 360 <= minute < 720:
            if minute == 715:
                c.update(fixed=True, fix={"fixed": True, "remedy": "drbd_outdated", "tier": "risky"})
            else:
                fail("DRBD resource ldap_data: all copies Outdated (runbook 7.7a); s-hive0.lab: disk Outdated")
        elif cid.endswith("test_units[s-hive2.lab]") and 14 <= day < 21:
            c.update(waived={"reason": "kdump.service fails on this kernel; vendor ticket open",
                             "expires": "2027-01-31"}, outcome="waived", message="kdump.service: failed")
        elif cid.endswith("test_disk[s-hive0.lab]") and day == 17 and 600 <= minute < 960:
            fail("/var/lib/docker: 87% used (disk_usage_max 80%); largest: /var/lib/docker/overlay2 41G")
        elif cid.endswith("test_registry[s-hive3.lab]") and i >= total - 24:
            fail("registry: /var/lib/registry 34G of 40G (registry_max_size 30G); garbage-collect (runbook 7.3)")
        elif area == "backup":
            c.update(outcome="skipped", status="skip", message="no backup schedule configured in this site")
        checks.append(c)
    summary: dict[str, int] = {}
    for c in checks:
        summary[c["outcome"]] = summary.get(c["outcome"], 0) + 1
    failed = summary.get("failed", 0)
    return {"site": "lab", "stage": "production", "kind": "hive", "root": "/home/admin/site",
            "servers": [{"name": s, "roles": r} for s, r in SERVERS],
            "started": when.isoformat(timespec="seconds"), "duration": round(rnd.uniform(2.0, 3.4), 3),
            "exitstatus": 1 if failed else 0, "summary": summary, "unreachable": unreachable,
            "checks": checks}


def stamp_of(when: datetime) -> str:
    return when.strftime("%Y%m%d-%H%M%S")


def write_run(reports: Path, doc: dict, torn: bool = False) -> str:
    stamp = stamp_of(datetime.fromisoformat(doc["started"]))
    text = json.dumps(doc, indent=1)
    (reports / f"run-{stamp}.json").write_text(text[: len(text) // 3] if torn else text)
    (reports / f"run-{stamp}.html").write_text(f"<!DOCTYPE html><title>run {stamp}</title>")
    return stamp


def synthesize(reports: Path, n: int, now: datetime) -> list[dict]:
    """n dated reports ending now; returns the last UPDATE_RUNS documents, not yet written."""
    rnd = random.Random(8640)
    first = now - CADENCE * (n - 1)
    later = []
    for i in range(n):
        doc = synth_doc(first + CADENCE * i, i, n, rnd)
        if i >= n - UPDATE_RUNS:
            later.append(doc)
        else:
            write_run(reports, doc, torn=(i == 23 * 288 + 100))
    (reports / "latest.json").write_text(json.dumps(later[0], indent=1))
    return later


def measure(code: str, *args: str, env: dict | None = None) -> dict:
    """Run `python -c code args` and return its wall time, peak RSS and the JSON it prints."""
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=REPO, env=env)
    out, err = p.communicate()
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"bench step failed ({p.returncode}): {err[-2000:]}")
    inner = json.loads(out.strip().splitlines()[-1])
    return {"wall_s": round(wall, 3), **inner}


# each step prints {"s": seconds of the call itself, "rss_mb": peak RSS of the process}
STEP = """
import json, resource, sys, time
import datetime
from pathlib import Path
sys.path.insert(0, sys.argv[1])
{imports}
t = time.perf_counter()
{call}
s = time.perf_counter() - t
print(json.dumps({{"s": round(s, 3), "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}))
"""


def baseline_package(tmp: Path) -> Path:
    pkg = tmp / "baseline" / "hh_baseline"
    pkg.mkdir(parents=True)
    for name in ("history.py", "files.py"):
        src = subprocess.run(["git", "-C", str(REPO), "show", f"{BASELINE_COMMIT}:hivehealth/{name}"],
                             capture_output=True, text=True, check=True).stdout
        (pkg / name).write_text(src)
    (pkg / "__init__.py").write_text("")
    return pkg.parent


def chart_cover(index: Path) -> dict:
    text = index.read_text(encoding="utf-8")
    m = re.search(r'<svg class="chart"[^>]*data-from="([^"]+)" data-to="([^"]+)" data-buckets="(\d+)" '
                  r'data-bucket="([^"]+)" data-runs="(\d+)"', text)
    if not m:
        raise RuntimeError(f"{index}: no chart with its coverage")
    start, end = datetime.fromisoformat(m.group(1)), datetime.fromisoformat(m.group(2))
    return {"from": m.group(1), "to": m.group(2), "days": round((end - start).total_seconds() / 86400, 2),
            "buckets": int(m.group(3)), "bucket": m.group(4), "runs": int(m.group(5))}


def baseline_cover(reports: Path, max_runs: int) -> dict:
    """The old chart drew the newest max_runs runs: the time from the oldest of them to the newest."""
    stamps = sorted(p.name[4:19] for p in reports.glob("run-*.json"))[-max_runs:]
    a, b = (datetime.strptime(s, "%Y%m%d-%H%M%S") for s in (stamps[0], stamps[-1]))
    return {"days": round((b - a).total_seconds() / 86400, 3), "runs": len(stamps)}


def run(n: int, keep: Path | None, screenshot: Path | None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="hh-history-bench."))
    try:
        reports = (keep or tmp) / "reports"
        if reports.exists():
            shutil.rmtree(reports)
        reports.mkdir(parents=True)
        # every step runs at the same "now", a minute after the newest run: the bench does not
        # depend on how long it takes (the oldest run is never pruned half way)
        now = datetime.now().replace(microsecond=0)
        t = time.perf_counter()
        later = synthesize(reports, n, now - timedelta(minutes=1))   # the last runs come one at a time
        synth_s = time.perf_counter() - t
        json_mb = sum(p.stat().st_size for p in reports.glob("run-*.json")) / 2**20
        print(f"[history bench] {n - UPDATE_RUNS} dated reports ({json_mb:.0f} MB JSON) in {synth_s:.0f} s", flush=True)

        # baseline: the JSON-rereading page over the same n runs
        for doc in later:
            write_run(reports, doc)
        base_pkg = baseline_package(tmp)
        base = measure(STEP.format(imports="from hh_baseline import history",
                                   call=f"history.update(Path(sys.argv[2]), {KEEP_DAYS}, now={now!r})"),
                       str(base_pkg), str(reports))
        base_max = int(re.search(r"CHART_MAX_RUNS = (\d+)", (base_pkg / "hh_baseline" / "history.py").read_text())[1])
        base.update(index_mb=round((reports / "index.html").stat().st_size / 2**20, 2),
                    chart=baseline_cover(reports, base_max))
        print(f"[history bench] baseline {BASELINE_SHORT}: {base}", flush=True)
        (reports / "index.html").unlink()
        later_stamps = [stamp_of(datetime.fromisoformat(d["started"])) for d in later]
        for stamp in later_stamps:                          # back to the folder before those runs
            for ext in ("json", "html"):
                (reports / f"run-{stamp}.{ext}").unlink()

        # migration: the first update on a folder without a database
        imports = "from hivehealth.report import history"
        mig = measure(STEP.format(imports=imports, call=f"history.update(Path(sys.argv[2]), {KEEP_DAYS}, now={now!r})"),
                      str(REPO), str(reports))
        print(f"[history bench] migration of {n - UPDATE_RUNS} runs: {mig}", flush=True)

        # update after one run, as the plugin does it: dated copies written, then update(run=...)
        updates = []
        for doc in later:
            stamp = write_run(reports, doc)
            (reports / "doc.json").write_text(json.dumps(doc))
            call = (f"history.update(Path(sys.argv[2]), {KEEP_DAYS}, now={now!r}, "
                    f"run=({stamp!r}, json.loads((Path(sys.argv[2]) / 'doc.json').read_text())))")
            updates.append(measure(STEP.format(imports=imports, call=call), str(REPO), str(reports)))
            print(f"[history bench] update after one run: {updates[-1]}", flush=True)
        (reports / "doc.json").unlink()
        index = reports / "index.html"
        db = reports / "history.sqlite"
        upd = sorted(updates, key=lambda u: u["s"])[len(updates) // 2]
        result = {
            "started": now.isoformat(timespec="seconds"), "runs": n, "servers": len(SERVERS),
            "checks_per_run": len(checks_template()), "cadence_min": CADENCE.seconds // 60,
            "keep_days": KEEP_DAYS, "dated_json_mb": round(json_mb, 1),
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "baseline": {"commit": BASELINE_SHORT, **base},
            "migration": mig,
            "update": {"median_s": upd["s"], "runs": [u["s"] for u in updates],
                       "wall_s": upd["wall_s"], "rss_mb": max(u["rss_mb"] for u in updates)},
            "index_mb": round(index.stat().st_size / 2**20, 3),
            "db_mb": round(db.stat().st_size / 2**20, 1),
            "chart": chart_cover(index),
        }
        if screenshot:
            result["screenshot"] = shoot(index, screenshot, tmp)
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def shoot(index: Path, png: Path, tmp: Path) -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        return "chromium not installed (Debian: apt-get install -y chromium)"
    png.parent.mkdir(parents=True, exist_ok=True)
    narrow = REPO / "bench" / "results" / "raw" / (png.stem + "-390.png")     # to look at, not kept in git
    narrow.parent.mkdir(parents=True, exist_ok=True)
    for width, target in ((1400, png), (390, narrow)):
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--no-first-run", "--disable-component-update", "--hide-scrollbars",
                        f"--user-data-dir={tmp / 'profile'}", f"--screenshot={target}",
                        f"--window-size={width},900", index.as_uri()],
                       capture_output=True, text=True, timeout=180, check=True)
    return f"{png} (and {narrow.relative_to(REPO)} at 390 px)"


def verdict(ok: bool) -> str:
    return "pass" if ok else "**miss**"


def section(r: dict) -> str:
    b, u, c = r["baseline"], r["update"], r["chart"]
    T = TARGETS
    rows = [
        ("update after one run", f"{u['median_s']:.2f} s (of {', '.join(f'{x:.2f}' for x in u['runs'])}; "
         f"process {u['wall_s']:.2f} s)", f"{b['s']:.2f} s (process {b['wall_s']:.2f} s)",
         f"{b['s'] / u['median_s']:.0f}x faster", f"<= {T['update_s']:.0f} s", u["median_s"] <= T["update_s"]),
        ("index.html", f"{r['index_mb']:.2f} MB", f"{b['index_mb']:.2f} MB",
         f"{b['index_mb'] / r['index_mb']:.1f}x smaller", f"<= {T['index_mb']} MB", r["index_mb"] <= T["index_mb"]),
        ("peak RSS (update)", f"{u['rss_mb']:.0f} MB", f"{b['rss_mb']:.0f} MB",
         f"{b['rss_mb'] / u['rss_mb']:.1f}x less", f"<= {T['rss_mb']:.0f} MB", u["rss_mb"] <= T["rss_mb"]),
        ("chart covers", f"{c['days']:.1f} days ({c['buckets']} buckets of one {c['bucket']}, {c['runs']} runs)",
         f"{b['chart']['days'] * 24:.1f} hours (last {b['chart']['runs']} runs)",
         f"{c['days'] / b['chart']['days']:.0f}x longer", f">= {T['chart_days']:.0f} days",
         c["days"] >= T["chart_days"] and c["runs"] == r["runs"]),
    ]
    L = [BEGIN, "## History page at a month of five-minute runs", "",
         f"Run {r['started']}: `make bench-history` synthesizes {r['runs']:,} runs of a {r['servers']}-server site "
         f"({r['checks_per_run']} checks each, every {r['cadence_min']} minutes for {r['keep_days']} days, "
         f"{r['dated_json_mb']:.0f} MB of dated JSON reports, with incidents), then measures each step in its own "
         f"process. Baseline: the page as it was made before the database (`hivehealth/history.py` at "
         f"{b['commit']}, re-reading every dated JSON report) on the same folder. Method: "
         "[bench/history_bench.py](../history_bench.py).", "",
         "| measure | database | baseline (JSON re-read) | ratio | target | verdict |", "|---|---|---|---|---|---|"]
    for name, new, old, rat, target, ok in rows:
        L.append(f"| {name} | {new} | {old} | {rat} | {target} | {verdict(ok)} |")
    m = r["migration"]
    L += ["", f"First update on an existing reports folder (imports {r['runs'] - UPDATE_RUNS:,} dated reports once): "
          f"{m['s']:.1f} s, peak RSS {m['rss_mb']:.0f} MB. Database: {r['db_mb']:.1f} MB. "
          f"{r['machine']['cpus']} cores, Python {r['machine']['python']}.", END]
    return "\n".join(L) + "\n"


def splice(md: str, part: str) -> str:
    """latest.md with its history section replaced (or added at the end): the other sections
    stay as the bench that wrote them left them."""
    if BEGIN in md and END in md:
        head, rest = md.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        return head + part + ("\n" + tail if tail else "")
    return md.rstrip("\n") + "\n\n" + part


def carry(old_md: str, new_md: str) -> str:
    """new_md with the history section of old_md, if it had one."""
    if BEGIN in old_md and END in old_md:
        part = BEGIN + old_md.split(BEGIN, 1)[1].split(END, 1)[0] + END + "\n"
        return splice(new_md, part)
    return new_md


def publish(result: dict) -> str:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "history.json").write_text(json.dumps(result, indent=1) + "\n")
    md_path = RESULTS / "latest.md"
    md = md_path.read_text() if md_path.exists() else "# hive-health benchmark (latest run)\n"
    part = section(result)
    md_path.write_text(splice(md, part))
    return part


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=8640)
    ap.add_argument("--keep", type=Path, help="keep the synthesized reports folder under this directory")
    ap.add_argument("--screenshot", type=Path, help="render index.html in headless Chromium to this PNG "
                                                    "(and <name>-390.png at 390 px wide)")
    args = ap.parse_args(argv)
    if args.runs <= UPDATE_RUNS:
        ap.error(f"--runs must be more than {UPDATE_RUNS}")
    print(publish(run(args.runs, args.keep, args.screenshot)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
