"""`hive-health-cron`: the nightly run, for every install (a checkout, pip, pipx).

    15 2 * * * HIVE_ROOT=/home/admin/site hive-health-cron >>/var/log/hive-health.log 2>&1

The whole suite (as `hive-health`: the site from $HIVE_ROOT, its own pytest.ini), then the
history page brought up to date in the reports folder that run used (hivehealth.report.history:
dated reports the database does not hold yet are imported, old runs pruned, the page rewritten
even when the run wrote nothing), then, with $HH_TEXTFILE, a Prometheus textfile of this run's
latest.json. Environment: HIVE_ROOT (the site), HH_KEEP_DAYS (days of runs kept, else the
site's report_keep_days; 0 keeps all), HH_TEXTFILE. Exits with the run's code: 0 healthy,
1 unhealthy, 2-4 usage or internal errors.
"""
from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from pathlib import Path

from hivehealth import cli, options
from hivehealth.report import history, prometheus


class RunSettings:
    """A plugin of the run: where its reports went and how long they are kept, as the suite
    resolved them (the site's pytest.ini under -o)."""

    def __init__(self):
        self.reports: Path | None = None
        self.keep_days: str | None = None

    def pytest_unconfigure(self, config):
        if hasattr(config, "workerinput"):
            return
        self.reports = options.report_dir(config)
        self.keep_days = config.getini("report_keep_days")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    keep = os.environ.get("HH_KEEP_DAYS") or None
    if keep is not None:
        args = ["-o", f"report_keep_days={keep}", *args]     # the run prunes as it records
    started = time.time()
    print(f"== hive-health {datetime.now():%Y-%m-%d %H:%M:%S} in {os.getcwd()}: {' '.join(args)}", flush=True)
    settings = RunSettings()
    status = cli.run(args, plugins=[settings])
    sys.stdout.flush()
    reports = settings.reports
    if reports is None or not reports.is_dir():
        print(f"hive-health-cron: no reports folder{f' {reports}' if reports else ''}; history not updated",
              file=sys.stderr)
    else:
        keep_days = keep if keep is not None else (settings.keep_days or "30")
        if history.main(["--reports", str(reports), "--keep-days", keep_days]) != 0:
            print("hive-health-cron: history index failed", file=sys.stderr)
        textfile = os.environ.get("HH_TEXTFILE")
        latest = reports / "latest.json"
        if textfile:
            if latest.is_file() and latest.stat().st_mtime >= started:
                if prometheus.main([str(latest), textfile]) != 0:
                    print("hive-health-cron: prometheus textfile failed", file=sys.stderr)
            else:
                # a stale textfile shows as an old hive_health_run_timestamp_seconds
                print(f"hive-health-cron: this run wrote no {latest}; textfile not updated", file=sys.stderr)
    print(f"== hive-health exit {status}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
