"""reports/latest.json (one entry per check), the operator's latest.html, dated copies of both,
and the terminal's per-area lines and --gate verdict.

latest.html is pytest-html's page: its summary hook receives the operator's block
(hivehealth.report_page: verdict, grid, failures with their fix command, what --fix did, skips
and waivers), its environment table is reduced to the run's identity, and skip logs read as
one line.

Runs in the controlling process only; xdist forwards every worker's test reports to it.
Every report file is private and replaced atomically (hivehealth.safe_write), latest.html too:
pytest-html's writer is pointed at the same helper. Site text reaches pytest-html's page as
markup in the test id cell, the environment table and link names: the ids are made safe when
they are made (hivehealth.ids), and the hooks below escape those places again.
"""
from __future__ import annotations

import getpass
import html
import json
import os
import pwd
import sqlite3
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from hivehealth import __version__
from hivehealth.report import gate, history, page, prometheus
from hivehealth.safe_write import RefusedWrite, checked_dir, read_in_place, write_atomic
from hivehealth.site.inventory import Site
from hivehealth.ids import check_id, item_check_id
from hivehealth.options import base_dir, report_dir, site_ini
from hivehealth.report.selection import Selection
from hivehealth.redact import redact, redact_tree


def area_of(nodeid: str) -> str:
    """checks/test_drbd.py::test_drbd[ldap_data] -> drbd"""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return module.removeprefix("test_").removesuffix(".py")


ID_PROPERTY = "hivehealth-id"     # the check id, set on each item when it is collected


def report_check_id(report) -> str:
    return dict(getattr(report, "user_properties", ())).get(ID_PROPERTY) or check_id(report.nodeid)


def _checkout(config) -> str | None:
    """The checkout this run came from (its bin/hive-health), None for the installed package."""
    base = base_dir(config)
    return str(base) if (base / "bin" / "hive-health").is_file() else None


def unwritable(folder: Path) -> str | None:
    """Why reports cannot be written into `folder` (or the folder cannot be created), or None.
    Asked before the run, so that the results still reach the terminal with one line about the
    folder instead of a traceback at the end."""
    existing = Path(folder)
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing == Path(folder) and existing.is_dir():
        try:                        # nor one another user could plant a link in
            checked_dir(existing, create=False)
        except RefusedWrite as e:
            return e.why
    if not existing.is_dir():
        return (f"{existing} is a file, not a folder: move it away, or give another folder "
                f"with -o report_dir=DIR")
    if not os.access(existing, os.W_OK | os.X_OK):
        try:
            owner = pwd.getpwuid(existing.stat().st_uid).pw_name
        except (KeyError, OSError):
            owner = "another user"
        return (f"{existing} is not writable by {getpass.getuser()} (it belongs to {owner}): give a "
                f"folder you can write with -o report_dir=DIR")
    return None


def stem_of(partial: bool, replay: bool) -> str:
    """The report files' name: the full run's `latest`; a partial run's and a replay's apart, so
    that neither ever stands for the site's last full run."""
    return ("replay-" if replay else "") + "latest" + ("-partial" if partial else "")


class JsonReport:
    def __init__(self, config, state, chosen: Selection):
        self.config = config
        self.state = state                  # the run's site and its gathered facts
        self.site: Site = state.site
        self.selection = chosen             # what the run selected of the suite's checks
        self.replay = config.option.replay
        self.dir = report_dir(config)
        self.started = time.time()
        self.entries: dict[str, dict] = {}
        self.html_data: dict = {}           # pytest-html's data for its page, once it exists
        self.html_plugin = None             # pytest-html's plugin, when it writes our page
        self.html_default = False           # its path is ours to choose (no --html given)
        self.doc: dict | None = None        # this run's report, once written
        self.session = None                 # the session, once it ends
        self.writes = False                 # decided when the session ends: not for --co, nor a
                                            # usage error, nor a session that never ran
        self.blocked = unwritable(self.dir)   # why the reports cannot be written, if they cannot

    @property
    def stem(self) -> str:
        return stem_of(self.selection.partial, bool(self.replay))

    def verdict(self) -> str:
        """The verdict the reports show: a partial run that failed nothing is only `partial`."""
        verdict = page.verdict_of(list(self.entries.values()))
        if self.selection.partial and verdict != "unhealthy":
            return "partial"
        return verdict

    def pytest_collection_modifyitems(self, items):
        for item in items:
            item.user_properties.append((ID_PROPERTY, item_check_id(item)))

    def pytest_runtest_logreport(self, report):
        ident = report_check_id(report)
        entry = self.entries.setdefault(ident, {
            "id": ident, "area": area_of(ident), "outcome": "passed",
            "subject": None, "message": "", "duration": 0.0})
        entry["duration"] += report.duration
        for key, value in report.user_properties:
            if key == "hivehealth":
                entry["subject"] = value.get("subject")
                entry.update({k: v for k, v in value.items() if k not in ("subject", "status")})
                entry["status"] = value.get("status")
            elif key == "hivehealth-fix":
                entry["fixed"] = value["fixed"]
                entry["fix"] = value
            elif key == "hivehealth-waived":
                entry["waived"] = value
            elif key == "hivehealth-waiver-expired":
                entry.setdefault("expired_waivers", []).append(value)
        if entry.get("waived"):
            entry["outcome"] = "waived"
            entry["message"] = _text(report)
        elif report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
            entry["message"] = _text(report)
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
            entry["message"] = _text(report)

    def summary(self) -> dict:
        counts: dict[str, int] = {}
        for e in self.entries.values():
            counts[e["outcome"]] = counts.get(e["outcome"], 0) + 1
        return counts

    @pytest.hookimpl(tryfirst=True, specname="pytest_sessionfinish")
    def pytest_sessionfinish_outputs(self, session):
        """Before pytest-html writes its page: whether this run writes reports at all, and
        under which name."""
        self.session = session
        self.writes = not (self.config.option.collectonly or self.selection.empty or self.blocked
                           or session.exitstatus == pytest.ExitCode.USAGE_ERROR)
        if self.blocked and not self.config.option.collectonly:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR     # the operator's to fix
        if self.html_plugin is None:
            return
        if not self.writes:
            # nor its "Generated html report" line: nothing was generated
            self.config.pluginmanager.unregister(self.html_plugin)
        else:
            self.html_plugin._report.title = self.title()     # the selection is known now
            if self.html_default:
                checked_dir(self.dir)
                self.html_plugin._report_path = self.dir / f"{self.stem}.html"

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if not self.writes:
            return
        checked_dir(self.dir)
        doc = {
            "site": self.site.name, "stage": self.site.stage, "kind": self.site.kind,
            "root": self.site.root,
            "verdict": self.verdict(), "version": __version__,
            "selection": self.selection.to_dict(),
            "replay": {"bundle": str(self.replay)} if self.replay else None,
            "settings": str(site_ini(self.config)) if site_ini(self.config) else None,
            "servers": [{"name": s.name, "roles": sorted(s.roles)} for s in self.site.servers],
            "started": datetime.fromtimestamp(self.started).isoformat(timespec="seconds"),
            "duration": round(time.time() - self.started, 3),
            "exitstatus": int(exitstatus),
            "summary": self.summary(),
            "unreachable": sorted(n for n, f in self.facts().items() if f.unreachable),
            "checks": list(self.entries.values()),
        }
        doc = redact_tree(doc)
        try:
            write_atomic(self.dir / f"{self.stem}.json", json.dumps(doc, indent=1))
        except OSError as e:
            self._cannot_write(session, e)
            return
        self.doc = doc
        textfile = self.config.getini("prometheus_textfile").strip()
        if textfile and not (self.selection.partial or self.replay):    # the site's numbers only
            prometheus.write(doc, base_dir(self.config) / textfile)

    def facts(self) -> dict:
        return self.state.facts

    def _cannot_write(self, session, error: OSError):
        """A report that could not be written after all (the disk filled, the folder changed
        hands): the results are on the terminal; one line names the folder."""
        self.blocked = f"{error.strerror or error} ({error.filename or self.dir})"
        self.writes = False
        if session is not None:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR

    def pytest_terminal_summary(self, terminalreporter):
        """One line per area, before pytest's short summary and counts."""
        if self.blocked and not self.config.option.collectonly:
            terminalreporter.write_line(f"hive-health: reports not written to {self.dir}: {self.blocked}",
                                        red=True, bold=True)
        lines = area_lines(list(self.entries.values()))
        if lines:
            terminalreporter.write_sep("-", "hive-health by area")
            for line, bad in lines:
                terminalreporter.write_line(line, red=bad, bold=bad)
        if self.writes and self.selection.partial:
            terminalreporter.write_line(
                f"PARTIAL: {redact(self.selection.describe())}; reports {self.dir / self.stem}.*, "
                f"{stem_of(False, bool(self.replay))}.* still show the last full run", yellow=True, bold=True)

    def pytest_unconfigure(self, config):
        """Dated copies, once pytest-html has written its file (it does so at sessionfinish)."""
        if self.writes and not self.replay:     # a replay is another site's past: never this history
            self._record()
        if config.option.gate:
            # the very last line of the output: what a maintenance script reads
            line = gate.gate_line(list(self.entries.values()))
            tr = config.pluginmanager.get_plugin("terminalreporter")
            if tr is not None:
                tr.write_line(line, bold=True)
            else:
                print(line, flush=True)

    def _write_page(self, plugin, text: str):
        if not self.writes:
            return
        try:
            write_atomic(plugin._report_path, page.with_viewport(text))
        except OSError as e:
            self.config.pluginmanager.unregister(plugin)    # nor its "Generated html report" line
            self._cannot_write(self.session, e)

    def _record(self):
        """Dated copies of this run's reports, and its row in the history (a partial one marked
        as such: hivehealth.report.history_db)."""
        copies = {}
        try:
            for ext in ("json", "html"):
                src = self.dir / f"{self.stem}.{ext}"
                if src.exists() and src.stat().st_mtime >= self.started - 1:
                    copies[ext] = read_in_place(src)
            stamp = history.write_dated(self.dir, datetime.fromtimestamp(self.started), copies)
        except OSError as e:
            print(f"hive-health: dated copies of this run's reports not written: {e}", file=sys.stderr)
            return
        try:
            history.update(self.dir, int(self.config.getini("report_keep_days")),
                           run=(stamp, self.doc) if self.doc is not None else None)
        except (sqlite3.Error, OSError, ValueError) as e:
            print(f"hive-health: history of runs ({self.dir / history.DB_NAME}) not updated: {e}",
                  file=sys.stderr)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session):
        """pytest-html writes its page with a plain open(); make it write through the helper,
        to the path chosen when the run ends."""
        for plugin in self.config.pluginmanager.get_plugins():
            if type(plugin).__module__.startswith("pytest_html.") and hasattr(plugin, "_write_report"):
                plugin._write_report = lambda text, plugin=plugin: self._write_page(plugin, text)
                self.html_plugin = plugin
                self.html_data = plugin._report.data
        self._reduce_environment()

    def _reduce_environment(self):
        """pytest-html's environment table: what identifies the run, not the Python install.
        Entries the operator gave with --metadata stay (and win)."""
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:
            return
        meta = self.config.stash.get(metadata_key, None)
        if meta is None:
            return
        given = {k: meta[k] for k, _ in (getattr(self.config.option, "metadata", None) or []) if k in meta}
        meta.clear()
        meta.update({"hive-health": __version__, "site": self.site.name or self.site.describe(),
                     "stage": self.site.stage or "-",
                     "servers": ", ".join(f"{s.name} ({', '.join(sorted(s.roles))})" for s in self.site.servers)
                     or "-"})
        meta.update(given)

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_html_results_table_row(self, report, cells):
        """The test id cell is markup in pytest-html 4.2; its text is escaped here."""
        test_id = report_check_id(report) + ("" if report.when == "call" else f"::{report.when}")
        for i, cell in enumerate(cells):
            if isinstance(cell, str) and cell.startswith('<td class="col-testId">'):
                cells[i] = (f'<td class="col-testId" id="{page.anchor(report_check_id(report))}">'
                            f'{html.escape(test_id)}</td>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report, data):
        """A skip's log is its reason, not the (file, line, reason) tuple pytest keeps."""
        if report.skipped and isinstance(report.longrepr, tuple) and data:
            label, _, reason = report.longrepr
            data[0] = html.escape(redact(f"{label}: {reason}")) + "\n"

    def title(self) -> str:
        return f"hive-health: {self.site.headline()}" + (" (partial run)" if self.selection.partial else "")

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report):
        report.title = self.title()

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix, summary, postfix):
        _escape_environment(self.html_data.get("environment"))
        entries = redact_tree(list(self.entries.values()))
        prefix.insert(0, page.render(
            entries, self.site, started=datetime.fromtimestamp(self.started).strftime("%Y-%m-%d %H:%M:%S"),
            duration=time.time() - self.started, suite_root=_checkout(self.config),
            unreachable={n: f.unreachable for n, f in self.facts().items() if f.unreachable},
            partial=self.selection.describe() if self.selection.partial else None,
            settings=str(site_ini(self.config)) if site_ini(self.config) else None))


def _escape_environment(env):
    """pytest-html 4.2 writes the environment table's values (and the keys and values of a
    nested table, e.g. Plugins) as markup; its top-level keys as text. Redacted (pytest-metadata
    shows environment variables) and escaped once, in place."""
    if not isinstance(env, dict):
        return
    e = lambda v: html.escape(redact(str(v)))     # noqa: E731
    for key, value in list(env.items()):
        if isinstance(value, dict):
            env[key] = {e(k): e(v) for k, v in value.items()}
        elif isinstance(value, (list, tuple)):
            env[key] = [e(v) for v in value]
        else:
            env[key] = e(value)


def _text(report) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return str(report.longreprtext or "")


def area_lines(entries) -> list[tuple[str, bool]]:
    """`disk      3 ok, 1 FAIL: s-hive1.lab` per area, and whether the area has a failure."""
    areas: dict[str, list[dict]] = {}
    for e in entries:
        areas.setdefault(e["area"], []).append(e)
    width = max((len(a) for a in areas), default=0)
    out = []
    for area, items in sorted(areas.items()):
        counts: dict[str, int] = {}
        for e in items:
            st = page.status_of(e)
            counts[st] = counts.get(st, 0) + 1
        tally = ", ".join(f"{counts[s]} {page.LABEL[s]}" for s in page.RANK if counts.get(s))
        bad = [e.get("subject") or e["id"] for e in items if page.status_of(e) in page.FAILING]
        named = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        out.append((redact(f"{area:<{width}}  {tally}" + (f": {named}" if bad else "")), bool(bad)))
    return out
