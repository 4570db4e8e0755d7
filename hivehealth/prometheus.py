"""A Prometheus textfile (node_exporter's textfile collector) from a run's JSON report.

    python3 -m hivehealth.prometheus reports/latest.json /var/lib/node_exporter/textfile/hive_health.prom

Metrics (all gauges; labels site and stage on each):
  hive_health_check_ok{area,check,subject,server}  1 healthy (passed, fixed or waived), 0 not;
                                                   skipped checks are left out
  hive_health_checks{outcome}                      checks per outcome (passed/failed/error/skipped)
  hive_health_checks_fixed / _waived               checks repaired by --fix / waived
  hive_health_server_reachable{server}             0 when the run could not reach the server
  hive_health_run_duration_seconds                 how long the run took
  hive_health_run_timestamp_seconds                when it started (unix time)
  hive_health_run_exit_status                      pytest's exit code (0 healthy)
"""
from __future__ import annotations

import math
import re
import sys
from datetime import datetime
from pathlib import Path

from .files import PUBLIC, write_atomic
from .history import unreachable_servers
from .ids import from_id
from .redact import redact_tree

__all__ = ["render", "write", "escape_label", "healthy"]

OUTCOMES = ("passed", "failed", "error", "skipped")
_PARAM = re.compile(r"\[([^\[\]]*)\]$")


def escape_label(value) -> str:
    """Label value escaping of the text exposition format: backslash, double quote, newline."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(**labels) -> str:
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items() if v is not None) + "}"


def _num(v) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    f = float(v)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return repr(f)


def healthy(check: dict) -> bool:
    return bool(check.get("waived") or check.get("fixed") or check.get("outcome") == "passed")


def _server_of(check: dict, servers: list[str]) -> str:
    m = _PARAM.search(str(check.get("id", "")))
    name = from_id(m.group(1)) if m else None     # the id holds the name escaped (hivehealth.ids)
    return name if name in servers else ""


def _timestamp(doc: dict) -> float | None:
    started = doc.get("started")
    if not started:
        return None
    try:
        return datetime.fromisoformat(str(started)).timestamp()
    except ValueError:
        return None


def render(doc: dict) -> str:
    """The exposition text for one run (the JSON report as a dict)."""
    site, stage = doc.get("site") or "", doc.get("stage") or ""
    base = {"site": site, "stage": stage}
    servers = [s.get("name") for s in doc.get("servers") or [] if s.get("name")]
    checks = doc.get("checks") or []
    out: list[str] = []

    def family(name, help_, samples):
        out.append(f"# HELP {name} {_escape_help(help_)}")
        out.append(f"# TYPE {name} gauge")
        for labels, value in samples:
            out.append(f"{name}{_labels(**labels)} {_num(value)}")

    seen = set()
    ok_samples = []
    for c in checks:
        if c.get("outcome") == "skipped" and not c.get("waived"):
            continue
        labels = dict(base, area=c.get("area") or "", check=c.get("id") or "",
                      subject=c.get("subject") or "", server=_server_of(c, servers))
        key = tuple(labels.items())
        if key in seen:  # a labelset may appear once only
            continue
        seen.add(key)
        ok_samples.append((labels, 1 if healthy(c) else 0))
    family("hive_health_check_ok", "1 when the check is healthy (passed, fixed or waived), 0 when not",
           ok_samples)

    counts = {o: 0 for o in OUTCOMES}
    for c in checks:
        o = c.get("outcome") or "unknown"
        counts[o] = counts.get(o, 0) + 1
    family("hive_health_checks", "Checks of the run by outcome",
           [(dict(base, outcome=o), n) for o, n in counts.items()])
    family("hive_health_checks_fixed", "Checks repaired by --fix in the run",
           [(base, sum(1 for c in checks if c.get("fixed")))])
    family("hive_health_checks_waived", "Failing checks accepted by a waiver in the run",
           [(base, sum(1 for c in checks if c.get("waived")))])
    unreachable = set(unreachable_servers(doc))
    if servers:
        family("hive_health_server_reachable", "0 when the run could not reach the server",
               [(dict(base, server=s), 0 if s in unreachable else 1) for s in servers])
    if doc.get("duration") is not None:
        family("hive_health_run_duration_seconds", "Duration of the health run in seconds",
               [(base, doc["duration"])])
    ts = _timestamp(doc)
    if ts is not None:
        family("hive_health_run_timestamp_seconds", "Start of the health run, unix time",
               [(base, ts)])
    if doc.get("exitstatus") is not None:
        family("hive_health_run_exit_status", "pytest exit status of the run (0 healthy)",
               [(base, int(doc["exitstatus"]))])
    return "\n".join(out) + "\n"


def write(doc: dict, path) -> Path:
    """Write atomically: a temp file in the same directory, then rename (the collector must
    never read a half-written file; its glob is *.prom so the temp name is ignored). Readable
    by all (node_exporter reads it as its own user): it holds check ids and numbers, no outputs,
    and its labels are redacted like every output."""
    return write_atomic(path, render(redact_tree(doc)), mode=PUBLIC)


def main(argv=None) -> int:
    import json
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python3 -m hivehealth.prometheus REPORT.json OUT.prom", file=sys.stderr)
        return 2
    try:
        doc = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"cannot read {argv[0]}: {e}", file=sys.stderr)
        return 1
    write(doc, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
