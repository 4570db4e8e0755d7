"""reports/index.html: one row per run, newest first, and a chart of health over time.

Reads the dated JSON reports (`run-YYYYmmdd-HHMMSS.json`, written by the plugin next to
`latest.json`), deletes runs older than keep_days (JSON and HTML), and writes a
self-contained page: no JavaScript, no network, inline SVG, every text escaped.

    python3 -m hivehealth.history [--reports DIR] [--keep-days N]
"""
from __future__ import annotations

import argparse
import configparser
import html
import json
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from .files import write_atomic

__all__ = ["update", "load_runs", "render", "classify", "unreachable_servers", "Run", "CATEGORIES"]

RUN_RE = re.compile(r"^run-(\d{8}-\d{6})\.(json|html)$")
CATEGORIES = ("passed", "failed", "fixed", "waived")
AREA_ORDER = ("disk", "units", "drbd", "swarm", "registry", "services", "volumes")
CHART_MAX_RUNS = 90
LEFT = 80          # both charts share the x axis
COLORS = {"passed": "#2e9d5b", "failed": "#d64541", "fixed": "#3a7bd5", "waived": "#e0a106",
          "skipped": "#c9ced6", "none": "#eef0f3", "unreachable": "#6b6f76"}


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
    servers = [s.get("name") for s in doc.get("servers") or [] if s.get("name")]
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
class Run:
    stamp: str                          # YYYYmmdd-HHMMSS from the file name
    when: datetime
    json_path: Path
    html_name: str | None = None        # run-*.html next to it, when present
    doc: dict | None = None
    error: str | None = None            # the JSON could not be read
    areas: dict[str, dict[str, int]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    unreachable: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool | None:
        if self.doc is None:
            return None
        status = self.doc.get("exitstatus")
        if status is not None:
            return status == 0
        return self.totals.get("failed", 0) == 0


def _stamp_time(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y%m%d-%H%M%S")


def _summarize(run: Run) -> None:
    doc = run.doc or {}
    totals = {c: 0 for c in CATEGORIES + ("skipped",)}
    for check in doc.get("checks") or []:
        cat = classify(check)
        area = str(check.get("area") or "other")
        counts = run.areas.setdefault(area, {c: 0 for c in CATEGORIES + ("skipped",)})
        counts[cat] += 1
        totals[cat] += 1
    run.totals = totals
    run.unreachable = unreachable_servers(doc)


def load_runs(report_dir: Path) -> list[Run]:
    """Every run-*.json in report_dir, newest first."""
    report_dir = Path(report_dir)
    runs = []
    for p in report_dir.glob("run-*.json"):
        m = RUN_RE.match(p.name)
        if not m:
            continue
        stamp = m.group(1)
        try:
            when = _stamp_time(stamp)
        except ValueError:
            continue
        run = Run(stamp, when, p)
        html_file = report_dir / f"run-{stamp}.html"
        if html_file.exists():
            run.html_name = html_file.name
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            run.doc = doc
            _summarize(run)
        except (OSError, ValueError) as e:
            run.error = f"{p.name} could not be read: {e}"
        runs.append(run)
    runs.sort(key=lambda r: r.stamp, reverse=True)
    return runs


def prune(report_dir: Path, keep_days: int, now: datetime | None = None) -> list[Path]:
    """Delete run-*.json / run-*.html older than keep_days (by the time in the file name).
    keep_days <= 0 keeps everything. Returns the deleted paths."""
    if keep_days <= 0:
        return []
    cutoff = (now or datetime.now()) - timedelta(days=keep_days)
    deleted = []
    for p in sorted(Path(report_dir).glob("run-*")):
        m = RUN_RE.match(p.name)
        if not m:
            continue
        try:
            when = _stamp_time(m.group(1))
        except ValueError:
            continue
        if when < cutoff:
            try:
                p.unlink()
                deleted.append(p)
            except FileNotFoundError:
                pass
    return deleted


def _ordered_areas(runs: list[Run]) -> list[str]:
    seen = {a for r in runs for a in r.areas}
    return [a for a in AREA_ORDER if a in seen] + sorted(seen - set(AREA_ORDER))


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _area_state(counts: dict[str, int] | None) -> str:
    if not counts or not any(counts.get(c) for c in CATEGORIES):
        return "skipped" if counts and counts.get("skipped") else "none"
    for c in ("failed", "waived", "fixed"):
        if counts.get(c):
            return c
    return "passed"


def _bars_svg(runs: list[Run]) -> str:
    """Stacked bars, oldest left: share of checks passed / fixed / waived / failed per run."""
    runs = list(reversed(runs[:CHART_MAX_RUNS]))
    n = max(len(runs), 1)
    W, H, left, top, bottom = 1000, 196, LEFT, 18, 34
    plot_w, plot_h = W - left - 10, H - top - bottom
    slot = plot_w / n
    bw = max(2.0, min(36.0, slot * 0.72))
    out = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="health per run" '
           f'xmlns="http://www.w3.org/2000/svg">']
    for pct in (0, 50, 100):
        y = top + plot_h * (1 - pct / 100)
        out.append(f'<line x1="{left}" x2="{W - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{pct}%</text>')
    label_every = max(1, round(n / 10))
    for i, r in enumerate(runs):
        x = left + i * slot + (slot - bw) / 2
        total = sum(r.totals.get(c, 0) for c in CATEGORIES)
        tip = [f"{r.when:%Y-%m-%d %H:%M}"]
        if r.error or not total:
            out.append(f'<g class="run"><title>{_e(tip[0] + ": " + (r.error or "no checks ran"))}</title>'
                       f'<rect x="{x:.1f}" y="{top}" width="{bw:.1f}" height="{plot_h}" '
                       f'fill="url(#hatch)" stroke="{COLORS["unreachable"]}" stroke-width="0.6"/></g>')
        else:
            tip += [f"{c}: {r.totals.get(c, 0)}" for c in CATEGORIES if r.totals.get(c)]
            if r.unreachable:
                tip.append("unreachable: " + ", ".join(r.unreachable))
            out.append(f'<g class="run"><title>{_e(chr(10).join(tip))}</title>')
            y = top + plot_h
            for c in ("passed", "fixed", "waived", "failed"):
                v = r.totals.get(c, 0)
                if not v:
                    continue
                h = plot_h * v / total
                y -= h
                out.append(f'<rect x="{x:.1f}" y="{y:.2f}" width="{bw:.1f}" height="{h:.2f}" '
                           f'fill="{COLORS[c]}"/>')
            out.append("</g>")
        if r.unreachable:
            cx = x + bw / 2
            out.append(f'<g><title>{_e("unreachable: " + ", ".join(r.unreachable))}</title>'
                       f'<path d="M{cx - 5:.1f},{top - 13} L{cx + 5:.1f},{top - 13} L{cx:.1f},{top - 4}Z" '
                       f'fill="{COLORS["unreachable"]}"/></g>')
        if i % label_every == 0 or i == n - 1:
            out.append(f'<text x="{x + bw / 2:.1f}" y="{H - bottom + 16}" class="axis" '
                       f'text-anchor="middle">{r.when:%m-%d}</text>'
                       f'<text x="{x + bw / 2:.1f}" y="{H - bottom + 29}" class="axis sub" '
                       f'text-anchor="middle">{r.when:%H:%M}</text>')
    out.append('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
               'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3f4f6"/>'
               f'<line x1="0" y1="0" x2="0" y2="6" stroke="{COLORS["unreachable"]}" stroke-width="2"/>'
               '</pattern></defs></svg>')
    return "".join(out)


def _strip_svg(runs: list[Run], areas: list[str]) -> str:
    """Heat strip: one row per area, one cell per run (oldest left), worst state wins."""
    runs = list(reversed(runs[:CHART_MAX_RUNS]))
    n = max(len(runs), 1)
    rows = areas + ["servers"]
    W, left, row_h = 1000, LEFT, 18
    H = len(rows) * row_h + 6
    slot = (W - left - 10) / n
    cw = max(2.0, min(36.0, slot * 0.9))
    out = [f'<svg class="chart strip" viewBox="0 0 {W} {H}" role="img" aria-label="health per area" '
           f'xmlns="http://www.w3.org/2000/svg">']
    for j, area in enumerate(rows):
        y = 3 + j * row_h
        out.append(f'<text x="{left - 8}" y="{y + 12}" class="axis" text-anchor="end">{_e(area)}</text>')
        for i, r in enumerate(runs):
            x = left + i * slot + (slot - cw) / 2
            if area == "servers":
                state = "unreachable" if r.unreachable else ("none" if r.error else "passed")
                tip = ("unreachable: " + ", ".join(r.unreachable)) if r.unreachable else \
                    (r.error or "all servers reached")
            else:
                counts = r.areas.get(area)
                state = _area_state(counts)
                tip = ", ".join(f"{c} {counts[c]}" for c in CATEGORIES + ("skipped",)
                                if counts and counts.get(c)) or "not run"
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{cw:.1f}" height="{row_h - 4}" rx="2" '
                       f'fill="{COLORS[state]}"><title>{_e(f"{r.when:%Y-%m-%d %H:%M} {area}: {tip}")}'
                       f'</title></rect>')
    out.append("</svg>")
    return "".join(out)


def _cell(counts: dict[str, int] | None) -> str:
    if not counts or not any(counts.get(c) for c in CATEGORIES + ("skipped",)):
        return '<td class="area none">–</td>'
    parts = [f'<span class="n {c}" title="{c}">{counts[c]} {sym}</span>'
             for c, sym in (("passed", "✓"), ("failed", "✗"), ("fixed", "fixed"), ("waived", "waived"))
             if counts.get(c)]
    if not parts:
        parts.append(f'<span class="n skipped" title="skipped">{counts.get("skipped", 0)} skipped</span>')
    return f'<td class="area {_area_state(counts)}">{" ".join(parts)}</td>'


def render(runs: list[Run], generated: datetime | None = None, keep_days: int | None = None) -> str:
    generated = generated or datetime.now()
    areas = _ordered_areas(runs)
    sites = sorted({f'{(r.doc or {}).get("site") or "-"} / {(r.doc or {}).get("stage") or "-"}'
                    for r in runs if r.doc})
    latest = runs[0] if runs else None
    if latest is None:
        verdict = '<p class="verdict none">No runs yet.</p>'
    elif latest.error:
        verdict = f'<p class="verdict bad">Latest run: {_e(latest.error)}</p>'
    else:
        t = latest.totals
        what = "healthy" if latest.healthy else "unhealthy"
        bits = [f"{t.get(c, 0)} {c}" for c in CATEGORIES if t.get(c)]
        if latest.unreachable:
            bits.append("unreachable: " + ", ".join(latest.unreachable))
        verdict = (f'<p class="verdict {"ok" if latest.healthy else "bad"}">Latest run '
                   f'{latest.when:%Y-%m-%d %H:%M}: <b>{what}</b> · {_e(" · ".join(bits))}</p>')

    head = "".join(f"<th>{_e(a)}</th>" for a in areas)
    body = []
    for r in runs:
        doc = r.doc or {}
        when = f"{r.when:%Y-%m-%d %H:%M:%S}"
        link = f'<a href="{_e(r.html_name)}">{when}</a>' if r.html_name else _e(when)
        json_link = f' <a class="json" href="{_e(r.json_path.name)}">json</a>'
        if r.error:
            body.append(f'<tr class="run bad"><td class="when">{link}{json_link}</td>'
                        f'<td colspan="{4 + len(areas)}" class="note">{_e(r.error)}</td></tr>')
            continue
        t = r.totals
        status = '<span class="badge ok">healthy</span>' if r.healthy else \
            '<span class="badge bad">unhealthy</span>'
        note = ""
        if r.unreachable:
            names = ", ".join(f'<span class="host">{_e(h)}</span>' for h in r.unreachable)
            note = f'<br><span class="unreach">unreachable: {names}</span>'
        dur = doc.get("duration")
        dur = f"{dur:.0f} s" if isinstance(dur, (int, float)) else ""
        total = (f'<span class="n passed">{t.get("passed", 0)} ✓</span> '
                 + (f'<span class="n failed">{t["failed"]} ✗</span> ' if t.get("failed") else "")
                 + (f'<span class="n fixed">{t["fixed"]} fixed</span> ' if t.get("fixed") else "")
                 + (f'<span class="n waived">{t["waived"]} waived</span>' if t.get("waived") else ""))
        body.append(
            f'<tr class="run {"ok" if r.healthy else "bad"}"><td class="when">{link}{json_link}</td>'
            f'<td>{_e(doc.get("site") or "-")}</td><td>{_e(doc.get("stage") or "-")}</td>'
            f'<td class="result">{status} <span class="dur">{_e(dur)}</span>{note}</td>'
            f'<td class="total">{total}</td>'
            + "".join(_cell(r.areas.get(a)) for a in areas) + '</tr>')

    legend = "".join(f'<span class="key"><i style="background:{COLORS[c]}"></i>{c}</span>'
                     for c in ("passed", "fixed", "waived", "failed"))
    legend += (f'<span class="key"><i style="background:{COLORS["unreachable"]}"></i>'
               f'server unreachable</span>')
    keep = f" Runs older than {keep_days} days are deleted." if keep_days and keep_days > 0 else ""
    title = "hive-health history" + (f": {', '.join(sites)}" if sites else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>
body {{ font: 13.5px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 24px 32px;
       color: #1f2328; background: #fafbfc; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} h2 {{ font-size: 15px; margin: 22px 0 6px; color: #3d444d; }}
.meta {{ color: #656d76; margin: 0 0 12px; }}
.verdict {{ padding: 8px 12px; border-radius: 6px; display: inline-block; margin: 4px 0 8px; }}
.verdict.ok {{ background: #e3f4ea; color: #1a6b3c; }} .verdict.bad {{ background: #fbe6e5; color: #9b2521; }}
.verdict.none {{ background: #eef0f3; }}
.card {{ background: #fff; border: 1px solid #e1e4e8; border-radius: 8px; padding: 10px 14px; }}
svg.chart {{ width: 100%; height: auto; display: block; }}
svg .grid {{ stroke: #e6e8eb; stroke-width: 1; }} svg .axis {{ font-size: 11px; fill: #656d76; }}
svg .sub {{ fill: #8c959f; font-size: 10px; }}
.legend {{ margin: 6px 0 0; color: #3d444d; font-size: 12px; }}
.key {{ margin-right: 16px; white-space: nowrap; }}
.key i {{ display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 5px;
          vertical-align: -1px; }}
table {{ border-collapse: collapse; width: 100%; background: #fff; border: 1px solid #e1e4e8; }}
th, td {{ padding: 6px 8px; border-bottom: 1px solid #eef0f3; text-align: left; vertical-align: top; }}
td.when {{ white-space: nowrap; }}
th {{ background: #f3f4f6; font-weight: 600; font-size: 12px; color: #3d444d; }}
tr.run.bad td.when {{ box-shadow: inset 3px 0 0 #d64541; }} tr.run.ok td.when {{ box-shadow: inset 3px 0 0 #2e9d5b; }}
td.when a {{ color: #0b5cad; text-decoration: none; font-variant-numeric: tabular-nums; }}
a.json {{ font-size: 11px; color: #8c959f !important; margin-left: 4px; }}
.badge {{ white-space: nowrap; font-size: 12px; padding: 1px 7px; border-radius: 10px; }}
.badge.ok {{ background: #e3f4ea; color: #1a6b3c; }} .badge.bad {{ background: #fbe6e5; color: #9b2521; }}
.dur {{ color: #8c959f; font-size: 12px; margin-left: 4px; }}
.n {{ font-variant-numeric: tabular-nums; margin-right: 4px; white-space: nowrap; display: inline-block; }}
.n.passed {{ color: #1a6b3c; }} .n.failed {{ color: #b3261e; font-weight: 600; }}
.n.fixed {{ color: #2a5fa8; }} .n.waived {{ color: #8a6100; }} .n.skipped {{ color: #8c959f; }}
td.area.failed {{ background: #fdf0ef; }} td.area.waived {{ background: #fdf6e3; }}
td.area.fixed {{ background: #eef4fc; }} td.area.none {{ color: #c0c4ca; }}
td.note {{ white-space: normal; color: #9b2521; }}
td.result .unreach {{ display: inline-block; margin-top: 4px; }} .host {{ white-space: nowrap; }}
.scroll {{ overflow-x: auto; }}
.unreach {{ background: #6b6f76; color: #fff; padding: 1px 7px; border-radius: 10px; font-size: 12px; }}
footer {{ color: #8c959f; font-size: 12px; margin-top: 14px; }}
</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">{len(runs)} run{"s" if len(runs) != 1 else ""} · newest first · generated {generated:%Y-%m-%d %H:%M}.{_e(keep)}</p>
{verdict}
<h2>Health over time</h2>
<div class="card" id="chart">{_bars_svg(runs)}
{_strip_svg(runs, areas)}
<p class="legend">{legend}<span class="key">▼ a server could not be reached · hover a bar for counts</span></p></div>
<h2>Runs</h2>
<div class="scroll"><table id="runs"><thead><tr><th>time</th><th>site</th><th>stage</th><th>result</th><th>all checks</th>{head}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table></div>
<footer>Per area: ✓ passed, ✗ failed or error, fixed by --fix, waived (accepted exception). The time links to that run's report.</footer>
</body></html>
"""


def update(report_dir: Path, keep_days: int, now: datetime | None = None) -> Path:
    """Delete runs older than keep_days, then write report_dir/index.html; returns its path."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    prune(report_dir, keep_days, now)
    runs = load_runs(report_dir)
    out = report_dir / "index.html"
    write_atomic(out, render(runs, generated=now, keep_days=keep_days))
    return out


def _ini_value(name: str, ini: Path = Path("pytest.ini")) -> str | None:
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read(ini, encoding="utf-8")
        return cp.get("pytest", name, fallback=None)
    except configparser.Error:
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m hivehealth.history",
                                 description="Prune old runs and write reports/index.html.")
    ap.add_argument("--reports", type=Path, default=None,
                    help="report directory (default: pytest.ini report_dir, else ./reports)")
    ap.add_argument("--keep-days", type=int, default=None,
                    help="delete runs older than this many days; 0 keeps all "
                         "(default: pytest.ini report_keep_days, else 30)")
    args = ap.parse_args(argv)
    reports = args.reports or Path(_ini_value("report_dir") or "reports")
    keep = args.keep_days
    if keep is None:
        try:
            keep = int(_ini_value("report_keep_days") or 30)
        except ValueError:
            keep = 30
    out = update(reports, keep)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
