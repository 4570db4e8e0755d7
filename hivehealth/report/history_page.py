"""reports/index.html from the history database: one section per site and stage.

Each section: the verdict of its latest run, a chart over the whole retention (runs counted in
hour or day buckets), the latest runs one bar each, the latest runs in a table with every
area, the checks that did not always pass, and every older run in one folded list per day.
Self-contained: no JavaScript, no network, inline SVG, every text escaped.
"""
from __future__ import annotations

import html
import json
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hivehealth.report.history_db import CATEGORIES, COUNTED, STATES, RunFields, stamp_time

AREA_ORDER = ("disk", "units", "drbd", "swarm", "registry", "services", "volumes")
LATEST_ROWS = 30              # runs in full detail in the table
LATEST_BARS = 90              # runs one bar each in the second chart
MAX_BUCKETS = 800
BUCKETS = ((3600, "hour"), (3 * 3600, "3 hours"), (6 * 3600, "6 hours"), (86400, "day"))
TOP_CHECKS = 25
LEFT = 92                     # every chart shares this x axis origin
W = 1000
COLORS = {"passed": "#2e9d5b", "failed": "#d64541", "fixed": "#3a7bd5", "waived": "#e0a106",
          "skipped": "#c9ced6", "none": "#eef0f3", "unreachable": "#6b6f76", "unreadable": "#9aa0a8"}
# bottom to top in a stacked bar
STACK = ("passed", "fixed", "waived", "skipped", "failed", "unreachable", "unreadable")
KIND_ORDER = {"hive": 0, "hosts": 1, "local": 2, "": 3}


@dataclass
class Run(RunFields):
    stamp: str = ""
    when: datetime = datetime.min
    error: str | None = None
    states: dict[str, str] = field(default_factory=dict)    # area -> its worst state

    @property
    def healthy(self) -> bool:
        return self.state in ("passed", "fixed", "waived", "skipped")

    @property
    def full(self) -> bool:
        """A run of the whole suite: only such a run speaks for the site (a partial one is
        listed, marked, and left out of the headline and the charts)."""
        return not self.selection


@dataclass
class Group:
    kind: str
    site: str
    stage: str
    runs: list[Run] = field(default_factory=list)        # oldest first
    checks: list[tuple] = field(default_factory=list)    # checks that did not always pass

    @property
    def key(self):
        return self.kind, self.site, self.stage

    @property
    def title(self) -> str:
        if self.kind == "local":
            return "this machine (local checks)"
        if self.kind == "hosts":
            return "hosts given on the command line" + (f" · {self.stage}" if self.stage else "")
        if not self.kind:
            return "reports that could not be read"
        return f"{self.site or '?'} / {self.stage or '-'}"


def load(db: sqlite3.Connection) -> list[Group]:
    """Every run, by site and stage. A report that could not be read has no site: it goes
    with the run just before it (else just after), so it shows where it happened."""
    runs = []
    parsed: dict[str, tuple] = {}          # most runs have the same counts: read each text once
    for (stamp, kind, site, stage, state, exitstatus, duration, p, f, x, w, s, unreach, areas,
         error, selection) in db.execute(
            "SELECT stamp, kind, site, stage, state, exitstatus, duration, passed, failed, fixed, "
            "waived, skipped, unreachable, areas, error, selection FROM runs ORDER BY stamp, id"):
        try:
            when = stamp_time(stamp)
        except ValueError:
            continue
        if areas not in parsed:
            counts = json.loads(areas)
            parsed[areas] = counts, {a: _area_state(c) for a, c in counts.items()}
        counts, states = parsed[areas]
        runs.append(Run(kind, site, stage, state, exitstatus, duration, dict(zip(COUNTED, (p, f, x, w, s))),
                        counts, json.loads(unreach) if unreach != "[]" else [], selection,
                        stamp=stamp, when=when, error=error, states=states))
    groups: dict[tuple, Group] = {}
    orphans = []
    last = None
    for r in runs:
        if r.error:
            if last is None:
                orphans.append(r)
                continue
            key = last
        else:
            key = last = (r.kind, r.site, r.stage)
            for o in orphans:
                groups.setdefault(key, Group(*key)).runs.append(o)
            orphans = []
        groups.setdefault(key, Group(*key)).runs.append(r)
    for o in orphans:                      # no readable run at all
        groups.setdefault(("", "", ""), Group("", "", "")).runs.append(o)
    for g in groups.values():
        g.runs.sort(key=lambda r: r.stamp)
        if g.kind:
            g.checks = _not_passed(db, g.key)
    return sorted(groups.values(), key=lambda g: (KIND_ORDER.get(g.kind, 3), g.site, g.stage))


def _not_passed(db: sqlite3.Connection, key: tuple) -> list[tuple]:
    """(nodeid, area, category, runs, last stamp, last message) of the checks of one site and
    stage that did not pass, most often first. Walks the outcomes that did not pass (an index
    of them), not every outcome of every run."""
    rows = db.execute(
        "SELECT o.check_id, o.category, count(*), max(r.stamp) FROM outcomes o INDEXED BY outcomes_not_passed "
        "CROSS JOIN runs r ON r.id = o.run WHERE o.category NOT IN ('passed', 'skipped') "
        "AND r.kind = ? AND r.site = ? AND r.stage = ? GROUP BY o.check_id, o.category "
        "ORDER BY count(*) DESC, max(r.stamp) DESC LIMIT ?", (*key, TOP_CHECKS)).fetchall()
    out = []
    for check_id, cat, count, last in rows:
        nodeid, area = db.execute("SELECT nodeid, area FROM check_names WHERE id = ?", (check_id,)).fetchone()
        msg = db.execute("SELECT o.message FROM runs r JOIN outcomes o ON o.run = r.id AND o.check_id = ? "
                         "WHERE r.kind = ? AND r.site = ? AND r.stage = ? AND r.stamp = ? AND o.category = ?",
                         (check_id, *key, last, cat)).fetchone()
        out.append((nodeid, area, cat, count, last, msg[0] if msg else None))
    return out


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _area_state(counts) -> str:
    """Worst state of one area's [passed, failed, fixed, waived, skipped] counts."""
    if not counts:
        return "none"
    passed, failed, fixed, waived, skipped = counts
    return "failed" if failed else "waived" if waived else "fixed" if fixed else \
        "passed" if passed else "skipped" if skipped else "none"


_AREA_RANK = {s: i for i, s in enumerate(("failed", "waived", "fixed", "passed", "skipped", "none"))}
_STATE_RANK = {s: i for i, s in enumerate(STATES + ("none",))}


def ordered_areas(runs: list[Run]) -> list[str]:
    seen = {a for r in runs for a in r.areas}
    return [a for a in AREA_ORDER if a in seen] + sorted(seen - set(AREA_ORDER))


# ------------------------------------------------------------------ columns of a chart
@dataclass
class Column:
    """One bar of a chart: a bucket of runs, or one run."""
    start: datetime
    end: datetime
    runs: list[Run]
    stack: Counter                 # what the bar stacks: runs by state, or one run's checks
    label: str                     # for tooltips


def bucket_size(runs: list[Run], span: timedelta) -> tuple[int, str]:
    """The smallest bucket that holds two runs at the group's usual cadence (so a bucket
    without a run means a missed run) and keeps the chart under MAX_BUCKETS bars."""
    gaps = sorted((b.when - a.when).total_seconds() for a, b in zip(runs, runs[1:]))
    cadence = gaps[len(gaps) // 2] if gaps else 86400
    for seconds, name in BUCKETS:
        if seconds >= 2 * cadence and span.total_seconds() / seconds <= MAX_BUCKETS:
            return seconds, name
    return BUCKETS[-1]


def _floor(when: datetime, seconds: int) -> datetime:
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(seconds=(when - day).total_seconds() // seconds * seconds)


def bucket_columns(runs: list[Run], now: datetime, keep_days: int | None) -> tuple[list[Column], str]:
    first = runs[0].when if runs else now
    start = now - timedelta(days=keep_days) if keep_days and keep_days > 0 else first
    start = min(start, first)
    end = max(now, runs[-1].when if runs else now)
    seconds, name = bucket_size(runs, end - start)
    start = _floor(start, seconds)
    n = int((end - start).total_seconds() // seconds) + 1
    cols = [Column(start + timedelta(seconds=i * seconds), start + timedelta(seconds=(i + 1) * seconds),
                   [], Counter(), "") for i in range(n)]
    for r in runs:
        c = cols[int((r.when - start).total_seconds() // seconds)]
        c.runs.append(r)
        c.stack[r.state] += 1
    fmt = "%Y-%m-%d" if seconds >= 86400 else "%Y-%m-%d %H:%M"
    for c in cols:
        c.label = f"{c.start:{fmt}}" + ("" if seconds >= 86400 else f"–{c.end:%H:%M}")
    return cols, name


def run_columns(runs: list[Run]) -> list[Column]:
    cols = []
    for r in runs:
        stack = Counter({c: r.totals.get(c, 0) for c in CATEGORIES if r.totals.get(c)})
        if r.error or not stack:
            stack = Counter({"unreadable" if r.error else "skipped": 1})
        cols.append(Column(r.when, r.when, [r], stack, f"{r.when:%Y-%m-%d %H:%M:%S}"))
    return cols


def _column_tip(c: Column, per_run: bool) -> str:
    if not c.runs:
        return f"{c.label}: no run"
    if per_run:
        r = c.runs[0]
        if r.error:
            return f"{c.label}: {r.error}"
        bits = [f"{k}: {r.totals[k]}" for k in CATEGORIES if r.totals.get(k)] or ["no checks ran"]
    else:
        n = len(c.runs)
        bits = [f"{n} run{'s' if n != 1 else ''}"] + [f"{c.stack[s]} {s}" for s in STATES if c.stack.get(s)]
    servers = Counter(s for r in c.runs for s in r.unreachable)
    if servers:
        bits.append("unreachable: " + ", ".join(
            s if per_run else f"{s} ({k}×)" for s, k in sorted(servers.items())))
    return f"{c.label}: " + " · ".join(bits)


def _span(a: Column, b: Column) -> str:
    """The label of columns a..b (one column: its own label)."""
    if a is b:
        return a.label
    if a.start == a.end:                                  # one run per column
        return f"{a.label} – {b.label}"
    if (b.end - b.start).total_seconds() >= 86400:
        return f"{a.start:%Y-%m-%d} – {b.start:%Y-%m-%d}"
    same_day = (b.end - timedelta(seconds=1)).date() == a.start.date()
    end = f"{b.end:%H:%M}" if same_day else f"{b.end:%Y-%m-%d %H:%M}"
    return f"{a.start:%Y-%m-%d %H:%M} – {end}"


def _merge(cells: list[tuple]) -> list[tuple[int, int, tuple]]:
    """Runs of equal adjacent cells as (first index, count, cell)."""
    out = []
    for i, cell in enumerate(cells):
        if out and out[-1][2] == cell:
            out[-1] = (out[-1][0], out[-1][1] + 1, cell)
        else:
            out.append((i, 1, cell))
    return out


def chart_svg(cols: list[Column], areas: list[str], per_run: bool, aria: str, cover: str = "") -> str:
    """Stacked bars (one per column), then one strip row per area and one for the servers:
    worst state in the column. Adjacent equal cells are drawn (and titled) as one."""
    n = max(len(cols), 1)
    top, bar_h, row_h, gap = 10, 120, 16, 10
    rows = areas + ["servers"]
    strip_top = top + bar_h + gap
    axis_y = strip_top + len(rows) * row_h + 4
    H = axis_y + 30
    plot_w = W - LEFT - 10
    slot = plot_w / n
    bw = slot * (0.75 if per_run and slot > 3 else 1.0)
    bar_w = bw if per_run else bw + 0.4        # adjacent buckets overlap a little: no seams between them

    def x_of(i):
        return LEFT + i * slot + (slot - bw) / 2

    out = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{_e(aria)}" '
           f'xmlns="http://www.w3.org/2000/svg"{cover}>']
    for pct in (0, 50, 100):
        y = top + bar_h * (1 - pct / 100)
        out.append(f'<line x1="{LEFT}" x2="{W - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{pct}%</text>')
    # bars: one path per state, every column a sub-rectangle
    paths: dict[str, list[str]] = {}
    for i, c in enumerate(cols):
        total = sum(c.stack.values())
        if not total:
            paths.setdefault("none", []).append(f"M{x_of(i):.1f} {top}h{bar_w:.2f}v{bar_h}h{-bar_w:.2f}z")
            continue
        y = top + bar_h
        for s in STACK:
            v = c.stack.get(s, 0)
            if v:
                h = bar_h * v / total
                y -= h
                paths.setdefault(s, []).append(f"M{x_of(i):.1f} {y:.1f}h{bar_w:.2f}v{h:.1f}h{-bar_w:.2f}z")
    for s in ("none",) + STACK:
        if paths.get(s):
            fill = "url(#hatch)" if s == "unreadable" else COLORS[s]
            out.append(f'<path class="bar {s}" fill="{fill}" d="{"".join(paths[s])}"/>')
    # tooltips over the bars: equal quiet columns as one
    keys = []
    for c in cols:
        quiet = c.runs and not per_run and all(r.state == "passed" for r in c.runs)
        keys.append(("quiet",) if quiet else ("none",) if not c.runs else ("col", id(c)))
    for i, k, key in _merge(keys):
        a, b = cols[i], cols[i + k - 1]
        if key == ("quiet",):
            runs = sum(len(c.runs) for c in cols[i:i + k])
            tip = f"{_span(a, b)}: {runs} runs, all passed" if k > 1 else _column_tip(a, per_run)
        elif key == ("none",):
            tip = f"{_span(a, b)}: no run" if k > 1 else _column_tip(a, per_run)
        else:
            tip = _column_tip(a, per_run)
        out.append(f'<rect x="{LEFT + i * slot:.1f}" y="{top}" width="{k * slot:.2f}" height="{bar_h}" '
                   f'fill="transparent"><title>{_e(tip)}</title></rect>')
    # the strip rows. Runs with equal area counts share one states dict (see load): a column
    # is counted per distinct dict, not per run
    kinds = []
    for c in cols:
        same: dict[int, list] = {}
        for r in c.runs:
            if not r.error:
                same.setdefault(id(r.states), [r.states, 0])[1] += 1
        kinds.append(list(same.values()))
    for j, area in enumerate(rows):
        y = strip_top + j * row_h
        out.append(f'<text x="{LEFT - 8}" y="{y + 11}" class="axis" text-anchor="end">{_e(area)}</text>')
        cells, hits = [], []
        for c, kind in zip(cols, kinds):
            hit = 0
            if area == "servers":
                names = tuple(sorted({s for r in c.runs for s in r.unreachable}))
                state = "unreachable" if names else "none" if not c.runs else \
                    "passed" if kind else "unreadable"
            else:
                names = ()
                state = min((st.get(area, "none") for st, _ in kind), key=_AREA_RANK.get, default="none")
                hit = sum(k for st, k in kind if st.get(area, "none") == state)
            cells.append((state, names))
            hits.append(hit)
        for i, k, (state, names) in _merge(cells):
            span = _span(cols[i], cols[i + k - 1])
            runs = sum(len(c.runs) for c in cols[i:i + k])
            if area == "servers":
                what = ("unreachable: " + ", ".join(names)) if names else \
                    {"none": "no run", "unreadable": "report not readable"}.get(state, "all servers reached")
            else:
                what = "no run" if not runs else ("not run" if state == "none" else
                                                  f"{state}" + ("" if per_run else f" in {sum(hits[i:i + k])} of {runs} runs"))
            fill = "url(#hatch)" if state == "unreadable" else COLORS[state]
            out.append(f'<rect x="{LEFT + i * slot + (slot - bw) / 2:.1f}" y="{y}" '
                       f'width="{(k - 1) * slot + bw:.2f}" height="{row_h - 4}" fill="{fill}">'
                       f'<title>{_e(f"{span} {area}: {what}")}</title></rect>')
    # x axis: about ten labels
    every = max(1, round(n / 10))
    for i, c in enumerate(cols):
        x = LEFT + i * slot + slot / 2
        if i % every == 0 and x < W - 30:
            out.append(f'<text x="{x:.1f}" y="{axis_y + 12}" class="axis" text-anchor="middle">'
                       f'{c.start:%m-%d}</text>')
            if per_run or (cols[-1].start - cols[0].start) < timedelta(days=3):
                out.append(f'<text x="{x:.1f}" y="{axis_y + 25}" class="axis sub" text-anchor="middle">'
                           f'{c.start:%H:%M}</text>')
    out.append('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
               'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3f4f6"/>'
               f'<line x1="0" y1="0" x2="0" y2="6" stroke="{COLORS["unreachable"]}" stroke-width="2"/>'
               '</pattern></defs></svg>')
    return "".join(out)


# ------------------------------------------------------------------ tables
def _counts(t: dict) -> str:
    return (f'<span class="n passed">{t.get("passed", 0)} ✓</span> '
            + (f'<span class="n failed">{t["failed"]} ✗</span> ' if t.get("failed") else "")
            + (f'<span class="n fixed">{t["fixed"]} fixed</span> ' if t.get("fixed") else "")
            + (f'<span class="n waived">{t["waived"]} waived</span>' if t.get("waived") else ""))


def _cell(counts) -> str:
    c = dict(zip(COUNTED, counts or []))
    if not any(c.values()):
        return '<td class="area none">–</td>'
    parts = [f'<span class="n {k}" title="{k}">{c[k]} {sym}</span>'
             for k, sym in (("passed", "✓"), ("failed", "✗"), ("fixed", "fixed"), ("waived", "waived"))
             if c.get(k)]
    if not parts:
        parts.append(f'<span class="n skipped" title="skipped">{c.get("skipped", 0)} skipped</span>')
    return f'<td class="area {_area_state(counts)}">{" ".join(parts)}</td>'


def _links(r: Run, files: dict[str, set[str]], text: str) -> str:
    have = files.get(r.stamp, set())
    link = f'<a href="run-{r.stamp}.html">{text}</a>' if "html" in have else _e(text)
    if "json" in have:
        link += f' <a class="json" href="run-{r.stamp}.json">json</a>'
    return link


def _status(r: Run) -> str:
    if r.error:
        return '<span class="badge bad">not readable</span>'
    word = {"passed": "healthy", "fixed": "fixed", "waived": "healthy (waived)",
            "skipped": "nothing checked"}.get(r.state, "unhealthy")
    if not r.full:
        return (f'<span class="badge partial" title="{_e(r.selection)}">PARTIAL</span> '
                f'<span class="badge {"ok" if r.healthy else "bad"}">{_e(word)}</span> '
                f'<span class="dur">{_e(r.selection)}</span>')
    return f'<span class="badge {"ok" if r.healthy else "bad"}">{_e(word)}</span>'


def _nav_status(g: Group) -> str:
    latest, _ = latest_full(g)
    return _status(latest) if latest is not None else '<span class="badge partial">no full run</span>'


def _unreach(r: Run) -> str:
    if not r.unreachable:
        return ""
    names = ", ".join(f'<span class="host">{_e(h)}</span>' for h in r.unreachable)
    return f' <span class="unreach">unreachable: {names}</span>'


def runs_table(g: Group, areas: list[str], files, gid: str) -> str:
    head = "".join(f"<th>{_e(a)}</th>" for a in areas)
    body = []
    for r in reversed(g.runs[-LATEST_ROWS:]):
        when = _links(r, files, f"{r.when:%Y-%m-%d %H:%M:%S}")
        if r.error:
            body.append(f'<tr class="run bad"><td class="when">{when}</td>'
                        f'<td colspan="{2 + len(areas)}" class="note">{_e(r.error)}</td></tr>')
            continue
        dur = f"{r.duration:.0f} s" if r.duration is not None else ""
        body.append(f'<tr class="run {"ok" if r.healthy else "bad"}"><td class="when">{when}</td>'
                    f'<td class="result">{_status(r)} <span class="dur">{_e(dur)}</span>{_unreach(r)}</td>'
                    f'<td class="total">{_counts(r.totals)}</td>'
                    + "".join(_cell(r.areas.get(a)) for a in areas) + "</tr>")
    return (f'<div class="scroll"><table class="runs" id="runs-{gid}"><thead><tr><th>time</th><th>result</th>'
            f'<th>all checks</th>{head}</tr></thead><tbody>\n' + "\n".join(body) + "\n</tbody></table></div>")


def checks_table(g: Group) -> str:
    if not g.checks:
        return '<p class="meta">Every check passed (or was skipped) in every run kept.</p>'
    rows = []
    for nodeid, area, cat, count, last, message in g.checks:
        name = nodeid.split("::", 1)[-1]
        msg = (message or "").splitlines()[0][:200] if message else ""
        rows.append(f'<tr><td class="check"><span class="area-tag">{_e(area)}</span> {_e(name)}</td>'
                    f'<td><span class="n {_e(cat)}">{_e(cat)}</span></td><td class="num">{count}</td>'
                    f'<td class="when">{stamp_time(last):%Y-%m-%d %H:%M}</td><td class="msg">{_e(msg)}</td></tr>')
    return ('<div class="scroll"><table class="checks"><thead><tr><th>check</th><th>outcome</th><th>runs</th>'
            '<th>last</th><th>last message</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></div>")


def _note(r: Run) -> str:
    bad = [f"{a} {st}" for a, st in r.states.items() if st in ("failed", "fixed", "waived")]
    return (_unreach(r) + " " + _e(", ".join(bad))).strip()


def _day_counts(t: dict) -> str:
    return f"{t.get('passed', 0)} ✓" + "".join(
        f" {t[k]} {sym}" for k, sym in (("failed", "✗"), ("fixed", "fixed"), ("waived", "waived")) if t.get(k))


def _day_row(r: Run, files) -> str:
    when = _links(r, files, f"{r.when:%H:%M:%S}")
    if r.error:
        return f'<tr class="bad"><td class="when">{when}<td colspan="3" class="note">{_e(r.error)}'
    return (f'<tr class="{"ok" if r.healthy else "bad"}"><td class="when">{when}<td>{_status(r)}'
            f'<td>{_day_counts(r.totals)}<td>{_note(r)}')


def _stretch_row(runs: list[Run], files) -> str:
    """Runs in a row with the same outcome: one line, every run still a link to its report."""
    r = runs[0]
    links = " ".join(f'<a href="run-{x.stamp}.html">{x.when:%H:%M}</a>' if "html" in files.get(x.stamp, ())
                     else f"{x.when:%H:%M}" for x in runs)
    return (f'<tr class="{"ok" if r.healthy else "bad"} stretch"><td class="when">{runs[0].when:%H:%M} – '
            f'{runs[-1].when:%H:%M}<td>{_status(r)} ×{len(runs)}<td>{_day_counts(r.totals)}<td>{_note(r)}'
            f' <span class="times">{links}</span>')


def _signature(r: Run):
    return None if r.error else (r.state, tuple(r.totals.values()), id(r.states), tuple(r.unreachable),
                                 r.selection)


def days_section(g: Group, files) -> str:
    """Every run, one folded list per day (newest day first, each day in time order); runs
    in a row with the same outcome share one line that links each of them."""
    days: dict[str, list[Run]] = {}
    for r in g.runs:
        days.setdefault(f"{r.when:%Y-%m-%d}", []).append(r)
    out = []
    for day in sorted(days, reverse=True):
        runs = days[day]
        states = Counter(r.state for r in runs)
        servers = Counter(s for r in runs for s in r.unreachable)
        bits = [f"{len(runs)} run{'s' if len(runs) != 1 else ''}"]
        bits += [f"{states[s]} {s}" for s in STATES if states.get(s)]
        if servers:
            bits.append("unreachable: " + ", ".join(f"{s} ({k}×)" for s, k in sorted(servers.items())))
        rows, stretch = [], []
        for r in runs + [None]:
            if stretch and (r is None or _signature(r) is None or _signature(r) != _signature(stretch[0])):
                rows.append(_day_row(stretch[0], files) if len(stretch) == 1 else _stretch_row(stretch, files))
                stretch = []
            if r is not None:
                stretch.append(r)
        bad = any(not r.healthy for r in runs)
        out.append(f'<details class="day"><summary><b>{day}</b> <span class="{"bad" if bad else "ok"}">'
                   f'{_e(" · ".join(bits))}</span></summary><table class="day">'
                   + "\n".join(rows) + "</table></details>")
    return "\n".join(out)


def _verdict(r: Run | None, partial_since: int = 0) -> str:
    since = (f" · {partial_since} partial run{'s' if partial_since != 1 else ''} since, not counted here"
             if partial_since else "")
    if r is None:
        return f'<p class="verdict none">No full run yet{_e(since)}.</p>' if partial_since else \
            '<p class="verdict none">No runs yet.</p>'
    if r.error:
        return f'<p class="verdict bad">Latest run {r.when:%Y-%m-%d %H:%M}: {_e(r.error)}</p>'
    what = "healthy" if r.healthy else "unhealthy"
    bits = [f"{r.totals.get(c, 0)} {c}" for c in CATEGORIES if r.totals.get(c)]
    if r.unreachable:
        bits.append("unreachable: " + ", ".join(r.unreachable))
    return (f'<p class="verdict {"ok" if r.healthy else "bad"}">Latest run {r.when:%Y-%m-%d %H:%M}: '
            f'<b>{what}</b> · {_e(" · ".join(bits))}{_e(since)}</p>')


def legend() -> str:
    keys = "".join(f'<span class="key"><i style="background:{COLORS[c]}"></i>{c}</span>'
                   for c in ("passed", "fixed", "waived", "failed"))
    keys += (f'<span class="key"><i style="background:{COLORS["unreachable"]}"></i>server unreachable</span>'
             '<span class="key"><i class="hatch"></i>report not readable</span>'
             f'<span class="key"><i style="background:{COLORS["none"]};border:1px solid #d0d4da"></i>no run</span>')
    return f'<p class="legend">{keys}<span class="key">hover for counts</span></p>'


def latest_full(g: Group) -> tuple[Run | None, int]:
    """The group's latest run of the whole suite, and how many partial runs came after it."""
    later = 0
    for r in reversed(g.runs):
        if r.full:
            return r, later
        later += 1
    return None, later


def section(g: Group, gid: str, files, now: datetime, keep_days: int | None) -> str:
    charted = [r for r in g.runs if r.full]       # a partial run never stands for the site
    areas = ordered_areas(charted)
    cols, size = bucket_columns(charted, now, keep_days)
    cover = (f' data-from="{cols[0].start:%Y-%m-%dT%H:%M}" data-to="{cols[-1].end:%Y-%m-%dT%H:%M}" '
             f'data-buckets="{len(cols)}" data-bucket="{size}" '
             f'data-runs="{sum(len(c.runs) for c in cols)}"')
    days = (cols[-1].end - cols[0].start).total_seconds() / 86400
    recent = charted[-LATEST_BARS:]
    latest, partial_since = latest_full(g)
    older = (f'<h3 id="{gid}-days">Every run, per day</h3>\n{days_section(g, files)}' if g.runs else "")
    return f"""<section class="group" id="{gid}">
<h2>{_e(g.title)}</h2>
{_verdict(latest, partial_since)}
<h3>{days:.0f} days: share of runs per {_e(size)} by outcome, and the worst outcome of each area</h3>
<div class="card chartbox">{chart_svg(cols, areas, False, f"runs per {size}", cover)}</div>
<h3>Latest {len(recent)} run{"s" if len(recent) != 1 else ""}: share of checks per run by outcome</h3>
<div class="card chartbox">{chart_svg(run_columns(recent), areas, True, "checks per run")}</div>
{legend()}
<h3 id="{gid}-latest">Latest runs</h3>
{runs_table(g, areas, files, gid)}
<h3 id="{gid}-checks">Checks that did not always pass</h3>
{checks_table(g)}
{older}
</section>"""


CSS = """
body { font: 13.5px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 24px 32px;
       color: #1f2328; background: #fafbfc; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 26px 0 4px; }
h3 { font-size: 14px; margin: 18px 0 6px; color: #3d444d; }
section.group { border-top: 2px solid #d8dde3; margin-top: 18px; }
nav a { margin: 0 4px 0 0; white-space: nowrap; } nav .badge { margin-right: 18px; }
.meta { color: #656d76; margin: 0 0 12px; }
.verdict { padding: 8px 12px; border-radius: 6px; display: inline-block; margin: 4px 0 8px; }
.verdict.ok { background: #e3f4ea; color: #1a6b3c; } .verdict.bad { background: #fbe6e5; color: #9b2521; }
.verdict.none { background: #eef0f3; }
.card { background: #fff; border: 1px solid #e1e4e8; border-radius: 8px; padding: 8px 12px; }
/* narrower than the chart's minimum width (a phone): it keeps a legible size and scrolls sideways */
.chartbox { overflow-x: auto; margin-bottom: 8px; }
svg.chart { width: 100%; min-width: 760px; height: auto; display: block; }
svg .grid { stroke: #e6e8eb; stroke-width: 1; } svg .axis { font-size: 12px; fill: #656d76; }
svg .sub { fill: #8c959f; font-size: 10px; }
.legend { margin: 2px 0 0; color: #3d444d; font-size: 12px; }
.key { margin-right: 16px; white-space: nowrap; display: inline-block; }
.key i { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
.key i.hatch { background: repeating-linear-gradient(45deg, #6b6f76 0 2px, #f3f4f6 2px 5px); }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid #e1e4e8; }
th, td { padding: 5px 8px; border-bottom: 1px solid #eef0f3; text-align: left; vertical-align: top; }
td.when { white-space: nowrap; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f4f6; font-weight: 600; font-size: 12px; color: #3d444d; }
tr.run.bad td.when { box-shadow: inset 3px 0 0 #d64541; } tr.run.ok td.when { box-shadow: inset 3px 0 0 #2e9d5b; }
a { color: #0b5cad; text-decoration: none; font-variant-numeric: tabular-nums; }
a.json { font-size: 11px; color: #8c959f; margin-left: 4px; }
.badge { white-space: nowrap; font-size: 12px; padding: 1px 7px; border-radius: 10px; }
.badge.ok { background: #e3f4ea; color: #1a6b3c; } .badge.bad { background: #fbe6e5; color: #9b2521; }
.badge.partial { background: #eef0f3; color: #3d444d; border: 1px dashed #8c959f; }
.dur { color: #8c959f; font-size: 12px; margin-left: 4px; }
.n { font-variant-numeric: tabular-nums; margin-right: 4px; white-space: nowrap; display: inline-block; }
.n.passed { color: #1a6b3c; } .n.failed { color: #b3261e; font-weight: 600; }
.n.fixed { color: #2a5fa8; } .n.waived { color: #8a6100; } .n.skipped { color: #8c959f; }
td.area.failed { background: #fdf0ef; } td.area.waived { background: #fdf6e3; }
td.area.fixed { background: #eef4fc; } td.area.none { color: #c0c4ca; }
td.note { white-space: normal; color: #9b2521; } td.msg { color: #57606a; font-size: 12px; }
.area-tag { color: #656d76; font-size: 12px; }
.host { white-space: nowrap; } .scroll { overflow-x: auto; }
.unreach { background: #6b6f76; color: #fff; padding: 1px 7px; border-radius: 10px; font-size: 12px;
           display: inline-block; }
details.day { background: #fff; border: 1px solid #e1e4e8; border-radius: 6px; margin: 3px 0; }
details.day summary { padding: 5px 10px; cursor: pointer; }
details.day summary .bad { color: #9b2521; } details.day summary .ok { color: #1a6b3c; }
table.day { border: 0; border-top: 1px solid #e1e4e8; } table.day td { padding: 2px 10px; font-size: 12.5px; }
table.day td:nth-child(-n+3) { white-space: nowrap; width: 1%; }
table.day tr.bad td:first-child { box-shadow: inset 3px 0 0 #d64541; }
table.day tr.ok td:first-child { box-shadow: inset 3px 0 0 #2e9d5b; }
.times { display: block; color: #656d76; font-size: 12px; } .times a { margin-right: 2px; }
footer { color: #8c959f; font-size: 12px; margin-top: 14px; }
@media (max-width: 600px) {
  body { margin: 12px 10px; font-size: 14px; }
  .verdict { display: block; }
}
"""


def render(groups: list[Group], files: dict[str, set[str]], generated: datetime,
           keep_days: int | None) -> str:
    total = sum(len(g.runs) for g in groups)
    ids = [f"g{i + 1}" for i in range(len(groups))]
    nav = ""
    if len(groups) > 1:
        nav = "<nav>" + "".join(
            f'<a href="#{gid}">{_e(g.title)}</a> {_nav_status(g)} ' for g, gid in zip(groups, ids)) + "</nav>"
    keep = f" Runs older than {keep_days} days are deleted." if keep_days and keep_days > 0 else ""
    sites = [g.title for g in groups]
    title = "hive-health history" + (f": {', '.join(sites)}" if sites else "")
    body = "\n".join(section(g, gid, files, generated, keep_days) for g, gid in zip(groups, ids)) \
        or _verdict(None)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">{total} run{"s" if total != 1 else ""} · newest first · generated {generated:%Y-%m-%d %H:%M}.{_e(keep)}</p>
{nav}
{body}
<footer>Per area: ✓ passed, ✗ failed or error, fixed by --fix, waived (accepted exception). The time links to that run's report.</footer>
</body></html>
"""
