"""Prometheus textfile: every line is valid exposition format; values and escaping."""
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from hivehealth.report.prometheus import escape_label, render, write

REPO = Path(__file__).resolve().parents[2]

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
LABELS = rf"\{{(?:[a-zA-Z_][a-zA-Z0-9_]*={LABEL_VALUE}(?:,[a-zA-Z_][a-zA-Z0-9_]*={LABEL_VALUE})*)?\}}"
VALUE = r"(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]Inf)"
SAMPLE = re.compile(rf"^(?P<name>{NAME})(?P<labels>{LABELS})? (?P<value>{VALUE})(?: -?\d+)?$")
HELP = re.compile(rf"^# HELP (?P<name>{NAME}) (?:[^\\\n]|\\\\|\\n)*$")
TYPE = re.compile(rf"^# TYPE (?P<name>{NAME}) (counter|gauge|histogram|summary|untyped)$")
PAIR = re.compile(rf'([a-zA-Z_][a-zA-Z0-9_]*)=({LABEL_VALUE})')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v[1:-1])


def parse(text):
    """[(name, {label: value}, float)] and the TYPE of each family; asserts every line's form."""
    assert text.endswith("\n")
    samples, types, helps = [], {}, set()
    for line in text.splitlines():
        if m := HELP.match(line):
            helps.add(m["name"])
        elif m := TYPE.match(line):
            assert m["name"] not in types, f"duplicate TYPE {line}"
            types[m["name"]] = m.group(2)
        else:
            m = SAMPLE.match(line)
            assert m, f"not exposition format: {line!r}"
            assert m["name"] in types, f"sample before its TYPE: {line}"
            labels = {k: unescape(v) for k, v in PAIR.findall(m["labels"] or "")}
            samples.append((m["name"], labels, float(m["value"])))
    assert helps == set(types)
    keys = [(n, tuple(sorted(l.items()))) for n, l, _ in samples]
    assert len(keys) == len(set(keys)), "duplicate series"
    return samples, types


def ck(id_, area, outcome="passed", **extra):
    return {"id": id_, "area": area, "outcome": outcome, "subject": id_.split("::")[-1], "message": "",
            **extra}


DOC = {
    "site": 'la"b', "stage": "staging", "kind": "hive", "root": "/x",
    "servers": [{"name": "s-hive0.lab", "roles": ["hive"]}, {"name": "s-hive1.lab", "roles": ["hive"]}],
    "started": "2026-11-29T01:02:03", "duration": 4.2, "exitstatus": 1,
    "summary": {"passed": 3, "failed": 3, "skipped": 1},
    "checks": [
        ck("checks/test_disk.py::test_disk[s-hive0.lab]", "disk"),
        ck("checks/test_disk.py::test_disk[s-hive1.lab]", "disk", "failed", message="unreachable: timed out"),
        ck("checks/test_drbd.py::test_drbd[ldap_data]", "drbd", "failed", subject='DRBD "ldap\\data"\nline2'),
        ck("checks/test_units.py::test_units[s-hive0.lab]", "units", "passed", fixed=True),
        ck("checks/test_units.py::test_units[s-hive1.lab]", "units", "failed",
           waived={"reason": "kdump", "expires": "2026-12-31"}),
        ck("checks/test_services.py::test_service[ldap]", "services"),
        ck("checks/test_registry.py::test_registry[s-hive3.lab]", "registry", "skipped"),
    ],
}


def test_every_line_is_exposition_format_and_values_are_right():
    samples, types = parse(render(DOC))
    assert set(types.values()) == {"gauge"}
    ok = {l["check"]: (v, l) for n, l, v in samples if n == "hive_health_check_ok"}
    assert {k.split("::")[1]: v for k, (v, _) in ok.items()} == {
        "test_disk[s-hive0.lab]": 1, "test_disk[s-hive1.lab]": 0, "test_drbd[ldap_data]": 0,
        "test_units[s-hive0.lab]": 1,          # fixed counts as healthy
        "test_units[s-hive1.lab]": 1,          # waived counts as healthy
        "test_service[ldap]": 1,               # skipped registry check left out
    }
    v, labels = ok["checks/test_disk.py::test_disk[s-hive1.lab]"]
    assert labels == {"site": 'la"b', "stage": "staging", "area": "disk",
                      "check": "checks/test_disk.py::test_disk[s-hive1.lab]",
                      "subject": "test_disk[s-hive1.lab]", "server": "s-hive1.lab"}
    assert ok["checks/test_drbd.py::test_drbd[ldap_data]"][1]["server"] == ""
    assert ok["checks/test_drbd.py::test_drbd[ldap_data]"][1]["subject"] == 'DRBD "ldap\\data"\nline2'

    by = {(n, tuple(sorted((k, v) for k, v in l.items() if k not in ("site", "stage")))): v
          for n, l, v in samples}
    assert by[("hive_health_checks", (("outcome", "passed"),))] == 3
    assert by[("hive_health_checks", (("outcome", "failed"),))] == 3
    assert by[("hive_health_checks", (("outcome", "error"),))] == 0
    assert by[("hive_health_checks", (("outcome", "skipped"),))] == 1
    assert by[("hive_health_checks_fixed", ())] == 1
    assert by[("hive_health_checks_waived", ())] == 1
    assert by[("hive_health_server_reachable", (("server", "s-hive0.lab"),))] == 1
    assert by[("hive_health_server_reachable", (("server", "s-hive1.lab"),))] == 0
    assert by[("hive_health_run_duration_seconds", ())] == 4.2
    assert by[("hive_health_run_exit_status", ())] == 1
    assert by[("hive_health_run_timestamp_seconds", ())] == datetime(2026, 11, 29, 1, 2, 3).timestamp()


def test_escaping_in_raw_text():
    text = render(DOC)
    assert 'site="la\\"b"' in text
    assert 'subject="DRBD \\"ldap\\\\data\\"\\nline2"' in text
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert all(not l.startswith(" ") for l in text.splitlines())


def test_minimal_doc():
    samples, _ = parse(render({"checks": []}))
    assert [n for n, _, _ in samples if n == "hive_health_check_ok"] == []


def test_write_is_atomic_and_cli(tmp_path):
    out = tmp_path / "textfile" / "hive_health.prom"
    write(DOC, out)
    assert parse(out.read_text())[0]
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in out.parent.iterdir()) == ["hive_health.prom"]   # no temp left
    src = tmp_path / "latest.json"
    src.write_text(json.dumps(DOC))
    out2 = tmp_path / "b.prom"
    r = subprocess.run([sys.executable, "-m", "hivehealth.report.prometheus", str(src), str(out2)],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out2.read_text() == render(DOC)
    r = subprocess.run([sys.executable, "-m", "hivehealth.report.prometheus", str(src)], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr


def test_promtool_accepts_it_when_installed(tmp_path):
    import shutil
    import pytest
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (Debian package prometheus)")
    r = subprocess.run([promtool, "check", "metrics"], input=render(DOC), capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
