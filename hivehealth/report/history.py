"""reports/index.html from reports/history.sqlite: every run of the retention, per site and stage.

Each run is recorded in the database (hivehealth.report.history_db) by the plugin when it ends;
dated JSON reports the database does not hold yet (`run-YYYYmmdd-HHMMSS-ffffff.json`, or
`run-YYYYmmdd-HHMMSS.json` as older versions named them, e.g. a reports folder from before the
database) are imported on the next update. An update also deletes runs
older than keep_days (rows and dated files together) and rewrites the page
(hivehealth.report.history_page) atomically.

    python3 -m hivehealth.report.history [--reports DIR] [--keep-days N]
"""
from __future__ import annotations

import argparse
import configparser
import fcntl
import os
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

from hivehealth.safe_write import checked_dir, open_in_place, write_atomic
from hivehealth.report.history_db import (CATEGORIES, DB_NAME, FILE_MODE, classify, connect, import_missing, prune,
                         record, scan, transaction, unreachable_servers, write_dated)
from hivehealth.report.history_page import COLORS, load, render

__all__ = ["update", "write_dated", "classify", "unreachable_servers", "CATEGORIES", "COLORS", "DB_NAME", "INDEX"]

INDEX = "index.html"
LOCK_NAME = ".history.lock"


class _PageLock:
    """One page writer at a time, holding the lock from reading the database to renaming the
    page: the last one to write has read every run committed before it started reading."""

    def __init__(self, report_dir: Path):
        self.path = Path(report_dir) / LOCK_NAME

    def __enter__(self):
        self.fd = open_in_place(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        return False


def update(report_dir: Path, keep_days: int, now: datetime | None = None,
           run: tuple[str, dict] | None = None) -> Path:
    """Record `run` ((stamp, report document)) if given, import dated JSON reports not yet in
    the database, delete runs older than keep_days (0 keeps all), then write
    report_dir/index.html; returns its path."""
    report_dir = checked_dir(report_dir)
    now = now or datetime.now()
    db = connect(report_dir)
    try:
        if run is not None:
            record(db, *run)
        files = scan(report_dir)
        prune(db, report_dir, files, keep_days, now)
        import_missing(db, report_dir, files)
        out = report_dir / INDEX
        with _PageLock(report_dir):
            with transaction(db, immediate=False):   # one consistent snapshot for the page
                groups = load(db)
            write_atomic(out, render(groups, files, now, keep_days), mode=FILE_MODE)
    finally:
        db.close()
    return out


def _ini_value(name: str, ini: Path = Path("pytest.ini")) -> str | None:
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read(ini, encoding="utf-8")
        return cp.get("pytest", name, fallback=None)
    except configparser.Error:
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m hivehealth.report.history",
                                 description="Import new dated reports into reports/history.sqlite, "
                                             "prune old runs and write reports/index.html.")
    ap.add_argument("--reports", type=Path, default=None,
                    help="report directory (default: pytest.ini report_dir, else ./reports)")
    ap.add_argument("--keep-days", type=int, default=None,
                    help="delete runs older than this many days; 0 keeps all "
                         "(default: pytest.ini report_keep_days, else 30)")
    args = ap.parse_args(argv)
    reports = args.reports or Path(_ini_value("report_dir") or "reports")
    keep = args.keep_days
    if keep is None:
        raw = _ini_value("report_keep_days") or "30"
        try:
            keep = int(raw)
        except ValueError:
            print(f"hivehealth.report.history: report_keep_days = {raw!r} in pytest.ini is not a number of days",
                  file=sys.stderr)
            return 2
    try:
        out = update(reports, keep)
    except (sqlite3.Error, OSError) as e:
        print(f"hivehealth.report.history: {reports / DB_NAME}: {e}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
