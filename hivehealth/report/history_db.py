"""reports/history.sqlite: one row per run and one per check of it (stdlib sqlite3, WAL).

A run is recorded from its report (the `latest.json` document) once, under the stamp of its
dated files (`run-YYYYmmdd-HHMMSS-ffffff.json|html`, local time the run started, to the
microsecond; older versions wrote `run-YYYYmmdd-HHMMSS`, which is read as well). Dated JSON reports
that the database does not hold yet (a reports folder from before the database, or a run whose
own recording failed) are imported on the next update; a report that cannot be read is kept as
a row that says so and is read again on later updates until it can be. Two runs may update at
once: writes are short IMMEDIATE transactions under WAL with a busy timeout.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from hivehealth.safe_write import PRIVATE as FILE_MODE   # reports say which servers fail and why
from hivehealth.safe_write import checked_dir, existing_is_regular, open_in_place, read_in_place, write_new

DB_NAME = "history.sqlite"
RUN_RE = re.compile(r"^run-(\d{8}-\d{6}(?:-\d{6})?)\.(json|html)$")
CATEGORIES = ("passed", "failed", "fixed", "waived")
COUNTED = CATEGORIES + ("skipped",)
# a run's state, worst first; what a run or a bucket of runs shows in the charts
STATES = ("unreadable", "unreachable", "failed", "waived", "fixed", "passed", "skipped")
BUSY_TIMEOUT_MS = 60_000
MESSAGE_MAX = 2000
SCHEMA_VERSION = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY,
    stamp       TEXT NOT NULL,              -- YYYYmmdd-HHMMSS[-ffffff], as in the dated file names
    kind        TEXT NOT NULL DEFAULT '',   -- hive, hosts, local, or '' when unreadable
    site        TEXT NOT NULL DEFAULT '',
    stage       TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,              -- one of STATES
    exitstatus  INTEGER,
    duration    REAL,
    passed      INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    fixed       INTEGER NOT NULL DEFAULT 0,
    waived      INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    unreachable TEXT NOT NULL DEFAULT '[]', -- JSON list of server names
    areas       TEXT NOT NULL DEFAULT '{}', -- JSON {area: [passed, failed, fixed, waived, skipped]}
    error       TEXT,                       -- why the report could not be read
    selection   TEXT NOT NULL DEFAULT '',   -- a partial run's selection ("4 of 55 checks, selected by -k time")
    UNIQUE (stamp, kind, site, stage)
);
CREATE INDEX IF NOT EXISTS runs_by_group ON runs (kind, site, stage, stamp);
CREATE TABLE IF NOT EXISTS check_names (
    id     INTEGER PRIMARY KEY,
    nodeid TEXT NOT NULL UNIQUE,
    area   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outcomes (
    run      INTEGER NOT NULL REFERENCES runs (id),
    check_id INTEGER NOT NULL REFERENCES check_names (id),
    category TEXT NOT NULL,                 -- passed, failed, fixed, waived, skipped
    status   TEXT,                          -- the verdict's status (ok, warn, fail, unknown, skip)
    message  TEXT,                          -- kept for checks that did not pass
    PRIMARY KEY (run, check_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outcomes_not_passed ON outcomes (check_id, category)
    WHERE category NOT IN ('passed', 'skipped');
"""


def classify(check: dict) -> str:
    """One category per check: waived, fixed, failed (failed or error), passed or skipped."""
    if check.get("waived"):
        return "waived"
    if check.get("fixed"):
        return "fixed"
    outcome = check.get("outcome")
    if outcome in ("failed", "error"):
        return "failed"
    if outcome == "passed":
        return "passed"
    return "skipped"


_PARAM = re.compile(r"\[([^\[\]]*)\]$")


def _text_of(check: dict) -> str:
    parts = [str(check.get("message") or "")]
    parts += [str(p) for p in check.get("problems") or []]
    return "\n".join(parts)


def unreachable_servers(doc: dict) -> list[str]:
    """The servers a run could not reach, from its checks' messages ("unreachable: ...").

    A per-server check names its server in its id (`test_disk[s-hive0.lab]`); a cluster
    check names it in the message ("s-hive1: unreachable: ..."). A top-level `unreachable`
    list in the report, if the plugin writes one, is taken as is. When a check says
    "unreachable" without naming a known server, "?" stands for it: never a silent gap.
    """
    servers = [s.get("name") for s in doc.get("servers") or [] if isinstance(s, dict) and s.get("name")]
    found: list[str] = []

    def add(name):
        if name not in found:
            found.append(name)

    top = doc.get("unreachable")
    if isinstance(top, dict):
        top = list(top)
    for name in top or []:
        add(str(name))
    for check in doc.get("checks") or []:
        text = _text_of(check)
        if "unreachable" not in text.lower():
            continue
        named = False
        m = _PARAM.search(str(check.get("id", "")))
        param = m.group(1) if m else None
        for s in servers:
            if param and (param == s or param == s.split(".")[0]) and \
                    re.search(r"(^|\n)\s*unreachable:", text, re.I):
                add(s)
                named = True
        for segment in re.split(r"[;\n]", text):
            if "unreachable" not in segment.lower():
                continue
            for s in servers:
                short = s.split(".")[0]
                if re.search(rf"(?<![\w.-]){re.escape(s)}(?![\w-])", segment) or \
                        re.search(rf"(?<![\w.-]){re.escape(short)}(?![\w-])", segment):
                    add(s)
                    named = True
        if not named:
            add("?")
    if "?" in found and len(found) > 1:
        found.remove("?")
    return found


@dataclass
class RunFields:
    """A run as the database row has it."""
    kind: str
    site: str
    stage: str
    state: str
    exitstatus: int | None
    duration: float | None
    totals: dict[str, int]
    areas: dict[str, list[int]]         # area -> [passed, failed, fixed, waived, skipped]
    unreachable: list[str]
    selection: str = ""                 # a partial run's selection; "" for a run of the whole suite


@dataclass
class Summary(RunFields):
    """What the database keeps of one report."""
    checks: list[tuple[str, str, str, str | None, str | None]] = field(default_factory=list)
    # (nodeid, area, category, status, message)


def run_state(totals: dict[str, int], unreachable: list[str], exitstatus) -> str:
    """Worst first: a server not reached, a failure (or a non-zero exit: unknown is never
    healthy), a waiver, a fix, all passed; nothing but skips is 'skipped'."""
    if unreachable:
        return "unreachable"
    if totals.get("failed") or exitstatus not in (0, None):
        return "failed"
    for c in ("waived", "fixed", "passed"):
        if totals.get(c):
            return c
    return "skipped"


def summarize(doc: dict) -> Summary:
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    totals = {c: 0 for c in COUNTED}
    areas: dict[str, list[int]] = {}
    checks = []
    raw_checks = doc.get("checks") or []
    if not isinstance(raw_checks, list):
        raise ValueError("'checks' is not a list")
    for check in raw_checks:
        if not isinstance(check, dict):
            raise ValueError("a check is not a JSON object")
        cat = classify(check)
        area = str(check.get("area") or "other")
        totals[cat] += 1
        areas.setdefault(area, [0] * len(COUNTED))[COUNTED.index(cat)] += 1
        message = None
        if cat not in ("passed", "skipped"):
            message = str(check.get("message") or "").strip() or \
                "\n".join(str(p) for p in check.get("problems") or []).strip()
            message = message[:MESSAGE_MAX] or None
        status = check.get("status")
        checks.append((str(check.get("id") or "?"), area, cat,
                       str(status) if status is not None else None, message))
    exitstatus = doc.get("exitstatus")
    exitstatus = exitstatus if isinstance(exitstatus, int) else None
    duration = doc.get("duration")
    duration = float(duration) if isinstance(duration, (int, float)) else None
    unreachable = unreachable_servers(doc)
    return Summary(kind=str(doc.get("kind") or ""), site=str(doc.get("site") or ""),
                   stage=str(doc.get("stage") or ""),
                   state=run_state(totals, unreachable, exitstatus), exitstatus=exitstatus,
                   duration=duration, totals=totals, areas=areas, unreachable=unreachable,
                   selection=selection_text(doc.get("selection")), checks=checks)


def selection_text(selection) -> str:
    """`4 of 55 checks, selected by -k time` for a partial run's report, "" for a full one."""
    if not isinstance(selection, dict) or not selection.get("partial"):
        return ""
    n, of = selection.get("selected"), selection.get("of")
    by = " ".join(str(t) for t in selection.get("by") or []) or "deselected items"
    counts = f"{n} of {of} checks" if isinstance(of, int) else f"{n} checks"
    return f"{counts}, selected by {by}"


def stamp_time(stamp: str) -> datetime:
    """YYYYmmdd-HHMMSS-ffffff, or YYYYmmdd-HHMMSS as older versions named their runs
    (strptime is slow for a month of runs; this is as strict)."""
    micro = stamp[16:] if len(stamp) == 22 else "0"
    if len(stamp) not in (15, 22) or stamp[8] != "-" or stamp[15:16] not in ("", "-") \
            or not (stamp[:8] + stamp[9:15] + micro).isdigit():
        raise ValueError(f"not a run stamp (YYYYmmdd-HHMMSS-ffffff): {stamp!r}")
    return datetime(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8]),
                    int(stamp[9:11]), int(stamp[11:13]), int(stamp[13:15]), int(micro))


def run_stamp(when: datetime) -> str:
    """The stamp of a run that started at `when`: it sorts as the runs started, old names
    (to the second) included, and two runs of one second get two stamps."""
    return when.strftime("%Y%m%d-%H%M%S-%f")


def write_dated(report_dir: Path, started: datetime, copies: dict[str, bytes]) -> str:
    """Write copies ({"json": ..., "html": ...}) as run-<stamp>.<ext> under a stamp that no other
    run in report_dir holds, and return it: the run's start to the microsecond, one microsecond
    later for as long as the name is taken (another run of the same moment, which may be
    writing into the same folder right now). The JSON file comes last: once it is there the
    run is whole, and the history import reads nothing that is taken back."""
    when = started
    while True:
        stamp = run_stamp(when)
        written: list[Path] = []
        try:
            for ext in sorted(copies, key=lambda e: e == "json"):
                written.append(write_new(Path(report_dir) / f"run-{stamp}.{ext}", copies[ext], FILE_MODE))
            return stamp
        except FileExistsError:
            for p in written:
                p.unlink(missing_ok=True)
            when += timedelta(microseconds=1)


def _create_private(path: Path) -> None:
    """Create the file owner/group-readable before SQLite opens it: SQLite gives its -wal and
    -shm files the database file's permissions. An existing, more open file is narrowed. SQLite
    opens the database and its companions by name: none of them may be a link or another
    file's second name (safe_write's checks), in a folder no one else can write to."""
    os.close(open_in_place(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    for companion in ("-wal", "-shm", "-journal"):
        existing_is_regular(path.with_name(path.name + companion))


def connect(report_dir: Path) -> sqlite3.Connection:
    """The history database of report_dir, created (0640, WAL) when missing."""
    path = checked_dir(report_dir) / DB_NAME
    _create_private(path)
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if _set_wal(db).lower() != "wal":
            raise sqlite3.OperationalError(f"{path}: WAL mode could not be set")
        db.execute("PRAGMA synchronous = NORMAL")      # a power cut may lose the last run, never the file
        with transaction(db):
            version = None
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
                row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                version = row[0] if row else None
            if version not in (None, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(
                    f"{path}: schema version {version} is not {SCHEMA_VERSION} (written by another "
                    "version of hive-health)")
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            if "selection" not in {row[1] for row in db.execute("PRAGMA table_info(runs)")}:
                # a database of a version before partial runs were told apart: all its runs were full
                db.execute("ALTER TABLE runs ADD COLUMN selection TEXT NOT NULL DEFAULT ''")
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
    except BaseException:
        db.close()
        raise
    return db


def _set_wal(db: sqlite3.Connection) -> str:
    """PRAGMA journal_mode = WAL. SQLite answers "database is locked" at once, without its busy
    handler, when another connection is switching the same new file to WAL: two runs creating
    the database together. Try again until the busy timeout has passed."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class transaction:
    """BEGIN IMMEDIATE ... COMMIT: the write lock is taken up front, so a second writer waits
    (busy timeout) instead of failing to upgrade a read lock half way."""

    def __init__(self, db: sqlite3.Connection, immediate: bool = True):
        self.db = db
        self.begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"   # a reader needs no write lock

    def __enter__(self):
        self.db.execute(self.begin)
        return self.db

    def __exit__(self, exc_type, *exc):
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        return False


def _check_ids(db: sqlite3.Connection, cache: dict, checks: Iterable[tuple]) -> None:
    for nodeid, area, *_ in checks:
        if nodeid in cache:
            continue
        db.execute("INSERT OR IGNORE INTO check_names (nodeid, area) VALUES (?, ?)", (nodeid, area))
        cache[nodeid] = db.execute("SELECT id FROM check_names WHERE nodeid = ?", (nodeid,)).fetchone()[0]


def _delete_runs(db: sqlite3.Connection, where: str, args: tuple) -> int:
    db.execute(f"DELETE FROM outcomes WHERE run IN (SELECT id FROM runs WHERE {where})", args)
    return db.execute(f"DELETE FROM runs WHERE {where}", args).rowcount


def insert(db: sqlite3.Connection, stamp: str, s: Summary, cache: dict | None = None) -> bool:
    """Add one run (inside the caller's transaction); a readable report replaces a row that
    said its file could not be read. False when the run was already there."""
    cache = {} if cache is None else cache
    _delete_runs(db, "stamp = ? AND error IS NOT NULL", (stamp,))
    t = s.totals
    cur = db.execute(
        "INSERT INTO runs (stamp, kind, site, stage, state, exitstatus, duration, passed, failed, "
        "fixed, waived, skipped, unreachable, areas, selection) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT DO NOTHING",
        (stamp, s.kind, s.site, s.stage, s.state, s.exitstatus, s.duration, t["passed"], t["failed"],
         t["fixed"], t["waived"], t["skipped"], json.dumps(s.unreachable),
         json.dumps(s.areas, separators=(",", ":")), s.selection))
    if not cur.rowcount:
        return False
    run_id = cur.lastrowid
    _check_ids(db, cache, s.checks)
    rows = {}
    for nodeid, _area, cat, status, message in s.checks:
        rows[cache[nodeid]] = (run_id, cache[nodeid], cat, status, message)   # last entry of an id wins
    db.executemany("INSERT INTO outcomes (run, check_id, category, status, message) VALUES (?,?,?,?,?)",
                   list(rows.values()))
    return True


def insert_unreadable(db: sqlite3.Connection, stamp: str, error: str) -> None:
    db.execute("INSERT INTO runs (stamp, state, error) VALUES (?, 'unreadable', ?) ON CONFLICT DO NOTHING",
               (stamp, error))


def record(db: sqlite3.Connection, stamp: str, doc: dict) -> bool:
    """Append one run from its report document (what the plugin writes as latest.json)."""
    s = summarize(doc)
    with transaction(db):
        return insert(db, stamp, s)


def scan(report_dir: Path) -> dict[str, set[str]]:
    """The dated files of report_dir by stamp: {stamp: {"json", "html"}}."""
    found: dict[str, set[str]] = {}
    try:
        entries = os.scandir(report_dir)
    except FileNotFoundError:
        return found
    with entries:
        for entry in entries:
            m = RUN_RE.match(entry.name)
            if m:
                found.setdefault(m.group(1), set()).add(m.group(2))
    return found


def _valid_stamp(stamp: str) -> bool:
    try:
        stamp_time(stamp)
        return True
    except ValueError:
        return False


def import_missing(db: sqlite3.Connection, report_dir: Path, files: dict[str, set[str]],
                   batch: int = 200) -> int:
    """Read the dated JSON reports the database does not hold yet (and again those it holds
    as unreadable). Returns the number of runs added."""
    have: dict[str, bool] = {}
    for stamp, unreadable in db.execute("SELECT stamp, error IS NOT NULL FROM runs"):
        have[stamp] = have.get(stamp, False) or not unreadable
    todo = sorted(st for st, kinds in files.items()
                  if "json" in kinds and not have.get(st) and _valid_stamp(st))
    added, cache = 0, {}
    for i in range(0, len(todo), batch):
        parsed = []
        for stamp in todo[i:i + batch]:
            path = Path(report_dir) / f"run-{stamp}.json"
            try:
                # not through a link planted among the dated reports: never another file's text
                parsed.append((stamp, summarize(json.loads(read_in_place(path).decode("utf-8"))), None))
            except FileNotFoundError:
                continue                           # pruned or moved meanwhile
            except (OSError, ValueError, TypeError, AttributeError) as e:
                parsed.append((stamp, None, f"{path.name} could not be read: {e}"))
        with transaction(db):
            for stamp, s, error in parsed:
                if s is not None:
                    added += insert(db, stamp, s, cache)
                elif stamp not in have:
                    insert_unreadable(db, stamp, error)
                    have[stamp] = False
    return added


def prune(db: sqlite3.Connection, report_dir: Path, files: dict[str, set[str]], keep_days: int,
          now: datetime) -> list[Path]:
    """Delete runs older than keep_days: their rows and their dated files together (files
    first: a file left without a row would come back with the next import). keep_days <= 0
    keeps everything. Returns the deleted files."""
    if keep_days <= 0:
        return []
    cutoff = (now - timedelta(days=keep_days)).strftime("%Y%m%d-%H%M%S")
    deleted = []
    for stamp in sorted(st for st in files if st < cutoff):
        for ext in sorted(files.pop(stamp)):
            p = Path(report_dir) / f"run-{stamp}.{ext}"
            try:
                p.unlink()
                deleted.append(p)
            except FileNotFoundError:
                pass
    with transaction(db):
        if _delete_runs(db, "stamp < ?", (cutoff,)):
            db.execute("DELETE FROM check_names WHERE id NOT IN (SELECT DISTINCT check_id FROM outcomes)")
    return deleted
