"""reports/latest.json (one entry per check) and dated copies of the JSON and HTML reports.

Runs in the controlling process only; xdist forwards every worker's test reports to it.
Every report file is private and replaced atomically (hivehealth.files), latest.html too:
pytest-html's writer is pointed at the same helper. Site text reaches pytest-html's page as
markup in the test id cell, the environment table and link names: the ids are made safe when
they are made (hivehealth.ids), and the hooks below escape those places again.
"""
from __future__ import annotations

import html
import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from . import history, prometheus, routines
from .files import write_atomic
from .inventory import Site
from .redact import redact, redact_tree


def area_of(nodeid: str) -> str:
    """checks/test_drbd.py::test_drbd[ldap_data] -> drbd"""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return module.removeprefix("test_").removesuffix(".py")


class JsonReport:
    def __init__(self, config, site: Site):
        self.config = config
        self.site = site
        self.dir = Path(config.rootpath) / config.getini("report_dir")
        self.started = time.time()
        self.entries: dict[str, dict] = {}
        self.html_data: dict = {}           # pytest-html's data for its page, once it exists

    def pytest_runtest_logreport(self, report):
        entry = self.entries.setdefault(report.nodeid, {
            "id": report.nodeid, "area": area_of(report.nodeid), "outcome": "passed",
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

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        self.dir.mkdir(parents=True, exist_ok=True)
        doc = {
            "site": self.site.name, "stage": self.site.stage, "kind": self.site.kind,
            "root": self.site.root,
            "servers": [{"name": s.name, "roles": sorted(s.roles)} for s in self.site.servers],
            "started": datetime.fromtimestamp(self.started).isoformat(timespec="seconds"),
            "duration": round(time.time() - self.started, 3),
            "exitstatus": int(exitstatus),
            "summary": self.summary(),
            "unreachable": sorted(n for n, f in self.facts().items() if f.unreachable),
            "checks": list(self.entries.values()),
        }
        doc = redact_tree(doc)
        write_atomic(self.dir / "latest.json", json.dumps(doc, indent=1))
        textfile = self.config.getini("prometheus_textfile").strip()
        if textfile:
            prometheus.write(doc, Path(self.config.rootpath) / textfile)

    def facts(self) -> dict:
        from .plugin import STATE
        state = self.config.stash.get(STATE, None)
        return state.facts if state else {}

    def pytest_terminal_summary(self, terminalreporter):
        if self.config.option.gate:
            terminalreporter.write_line(routines.gate_line(list(self.entries.values())), bold=True)

    def pytest_unconfigure(self, config):
        """Dated copies, once pytest-html has written its file (it does so at sessionfinish)."""
        stamp = datetime.fromtimestamp(self.started).strftime("%Y%m%d-%H%M%S")
        for name in ("latest.json", "latest.html"):
            src = self.dir / name
            if src.exists() and src.stat().st_mtime >= self.started - 1:
                write_atomic(self.dir / name.replace("latest", f"run-{stamp}"), src.read_bytes())
        history.update(self.dir, int(config.getini("report_keep_days")))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session):
        """pytest-html writes its page with a plain open(); make it write through the helper."""
        for plugin in self.config.pluginmanager.get_plugins():
            if type(plugin).__module__.startswith("pytest_html.") and hasattr(plugin, "_write_report"):
                plugin._write_report = lambda text, path=plugin._report_path: write_atomic(path, text)
                self.html_data = plugin._report.data

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_html_results_table_row(self, report, cells):
        """The test id cell is markup in pytest-html 4.2; its text is escaped here."""
        test_id = report.nodeid + ("" if report.when == "call" else f"::{report.when}")
        for i, cell in enumerate(cells):
            if isinstance(cell, str) and cell.startswith('<td class="col-testId">'):
                cells[i] = f'<td class="col-testId">{html.escape(test_id)}</td>'

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report):
        report.title = f"hive-health: {self.site.describe()}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix, summary, postfix):
        _escape_environment(self.html_data.get("environment"))
        e = html.escape
        rows = "".join(f"<tr><td>{e(s.name)}</td><td>{e(', '.join(sorted(s.roles)))}</td></tr>"
                       for s in self.site.servers)
        prefix.append(f"<p>Site <b>{e(self.site.name or '-')}</b>, stage <b>{e(self.site.stage or '-')}</b>"
                      f" ({e(self.site.describe())})</p><table><tr><th>server</th><th>roles</th></tr>"
                      f"{rows}</table>")


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
        return str(report.longrepr[2])
    return str(report.longreprtext or "")
