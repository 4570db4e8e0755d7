"""The operator's block at the top of latest.html: verdict, grid, failures with the command
that fixes them, what --fix did, skips and waivers in one line each.

pytest-html writes the page; this module only makes the HTML it is given through
pytest_html_results_summary (hivehealth.report.json_report). Input is the run's JSON entries (already
redacted) and the site; every piece of site text goes through `_t` (redact, then escape) and
nothing here loads anything from outside the page: a mail attachment opened offline reads the
same. Remedies are looked up in hivehealth.remedy.plan's registry, never described here.
"""
from __future__ import annotations

import hashlib
import html
import re
from collections import defaultdict
from pathlib import Path

from hivehealth.ids import from_id
from hivehealth.redact import redact
from hivehealth.shell import command

DOCS = "https://hive-builder.readthedocs.io/ja/latest/"
# The runbook's chapter 7: 7.1-7.9 are hive-builder's repair page, 7.10 on its FAQ page.
REPAIR, FAQ = DOCS + "repair.html", DOCS + "faq.html"

# worst first: a cell shows the worst outcome of its items
RANK = ["error", "failed", "warn", "waived", "fixed", "skipped", "passed"]
LABEL = {"error": "error", "failed": "FAIL", "warn": "warn", "waived": "waived", "fixed": "fixed",
         "skipped": "skip", "passed": "ok"}
FAILING = ("error", "failed")
_K_IDENT = re.compile(r"[\w:+\-.\[\]\\/]+")    # what pytest's -k grammar takes as one word
_REF = re.compile(r"\b(runbook|FAQ)\s+(7\.\d+)(?:\s*/\s*(?:(FAQ)\s+)?(7\.\d+))?", re.I)


def _t(value) -> str:
    return html.escape(redact(str(value)))


def anchor(nodeid: str) -> str:
    """A DOM id for an item: made from a digest, so no site text is ever an attribute."""
    return "hh-" + hashlib.sha1(nodeid.encode()).hexdigest()[:12]


def status_of(entry: dict) -> str:
    """One word per item for the page: the JSON outcome, refined by what the check said."""
    o = entry.get("outcome", "passed")
    if o in FAILING or o in ("waived", "skipped"):
        return o
    if entry.get("fixed"):
        return "fixed"
    if entry.get("status") == "warn":
        return "warn"
    return "passed"


def runbook_refs(doc: str | None) -> list[str]:
    """The runbook sections a check's module docstring cites on its first line:
    "Runbook 7.1 / 7.5" -> ["7.1", "7.5"], "FAQ 7.18" -> ["FAQ 7.18"]."""
    first = (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""
    refs = []
    for m in _REF.finditer(first):
        faq = m.group(1).upper() == "FAQ"
        refs.append(("FAQ " if faq else "") + m.group(2))
        if m.group(4):
            refs.append(("FAQ " if (m.group(3) or faq) else "") + m.group(4))
    return refs


def ref_link(ref: str) -> str:
    number = ref.removeprefix("FAQ ").strip()
    page = FAQ if ref.startswith("FAQ") or int(number.split(".")[1]) >= 10 else REPAIR
    return f'<a href="{page}">{"" if ref.startswith("FAQ") else "runbook "}{_t(ref)}</a>'


def split_id(nodeid: str) -> tuple[str, str, str | None]:
    """checks/test_drbd.py::test_drbd[ldap_data] -> ("test_drbd.py", "test_drbd", "ldap_data")"""
    path, _, name = nodeid.partition("::")
    name = name.rsplit("::", 1)[-1]
    func, bracket, param = name.partition("[")
    return path.rsplit("/", 1)[-1], func, (param[:-1] if bracket else None)


def k_expression(entry: dict, entries: list[dict]) -> str | None:
    """A -k expression that selects this item and no other item of the run, or None when its
    name holds characters -k cannot take."""
    module, func, param = split_id(entry["id"])
    name = func + (f"[{param}]" if param is not None else "")
    if not _K_IDENT.fullmatch(name):
        return None

    def words(e):
        m, f, p = split_id(e["id"])
        return [m, f + (f"[{p}]" if p is not None else ""), e["id"].split("/", 1)[0]]

    others = [e for e in entries if e["id"] != entry["id"] and any(name.lower() in w.lower() for w in words(e))]
    terms = [name] + [f"not {words(e)[1]}" for e in others if _K_IDENT.fullmatch(words(e)[1])]
    if len(terms) != 1 + len(others):
        return None
    return " and ".join(terms)


def fix_command(site, suite_root: str | None, entry: dict, entries: list[dict], tier: str) -> str | None:
    k = k_expression(entry, entries)
    if k is None:
        return None
    # the checkout's own command when the run came from one, else the installed package's
    argv = [str(Path(suite_root) / "bin" / "hive-health") if suite_root else "hive-health"]
    root = site.root or (getattr(site, "recorded", None) or {}).get("site_root")   # a replay: its site's
    if root:
        argv += ["--hive-root", root]
    if site.stage:
        argv += ["--stage", site.stage]
    argv.append("--fix")
    if tier == "risky":
        argv.append("--allow-risky")
    elif tier == "destructive":
        argv.append("--allow-destructive=production" if site.stage == "production" else "--allow-destructive")
    argv += ["-k", k]
    return command(*argv)


def remedies_for(entry: dict) -> list:
    from hivehealth.remedy.plan import remedies_named
    return remedies_named(entry.get("check") or "")


def grid_position(entry: dict, server_names: set[str]) -> tuple[str, str, str]:
    """(table, row, column): servers x areas, or cluster objects x checks."""
    _, func, param = split_id(entry["id"])
    obj = from_id(param) if param is not None else None
    if obj is not None and obj in server_names:
        return "servers", obj, entry.get("area") or func
    check = func.removeprefix("test_")
    if obj is None or obj == "none":
        return "cluster", "(site)", check
    return "cluster", obj, check


def _grid(entries, site) -> str:
    names = {s.name for s in site.servers}
    cells: dict[str, dict[tuple[str, str], list[dict]]] = {"servers": defaultdict(list), "cluster": defaultdict(list)}
    rows: dict[str, list[str]] = {"servers": [s.name for s in site.servers], "cluster": []}
    cols: dict[str, list[str]] = {"servers": [], "cluster": []}
    for e in entries:
        table, row, col = grid_position(e, names)
        cells[table][(row, col)].append(e)
        if row not in rows[table]:
            rows[table].append(row)
        if col not in cols[table]:
            cols[table].append(col)
    out = []
    for table, title in (("servers", "Servers"), ("cluster", "Cluster objects")):
        if not cols[table]:
            continue
        head = "".join(f"<th><span>{_t(c)}</span></th>" for c in cols[table])
        body = []
        for row in rows[table]:
            tds = []
            for col in cols[table]:
                items = cells[table].get((row, col))
                if not items:
                    tds.append('<td class="hh-none"></td>')
                    continue
                worst = min(items, key=lambda e: RANK.index(status_of(e)))
                st = status_of(worst)
                tip = "; ".join(f"{status_of(e)}: {e.get('subject') or e['id']}" for e in items)
                tds.append(f'<td class="hh-{st}"><a href="#{anchor(worst["id"])}" title="{_t(tip)}">'
                           f'{LABEL[st]}</a></td>')
            body.append(f"<tr><th>{_t(row)}</th>{''.join(tds)}</tr>")
        out.append(f'<div class="hh-gridwrap"><table class="hh-grid" id="hh-grid-{table}"><caption>{title}</caption>'
                   f"<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
    return "".join(out)


def verdict_of(entries) -> str:
    statuses = {status_of(e) for e in entries}
    if statuses & set(FAILING):
        return "unhealthy"
    if not entries:
        return "unknown"
    if "fixed" in statuses:
        return "fixed"
    if "waived" in statuses:
        return "waived"
    return "healthy"


def _lines(text: str) -> str:
    return "<br>".join(_t(line) for line in str(text).splitlines())


def _card(entry, site, suite_root, entries) -> str:
    st = status_of(entry)
    subject = entry.get("subject") or entry["id"]
    problems = entry.get("problems") or [entry.get("message", "").split("\n\nevidence:")[0]]
    parts = [f'<div class="hh-card hh-b-{st}" id="{anchor(entry["id"])}">',
             f'<h3><span class="hh-tag hh-{st}">{LABEL[st]}</span> {_t(entry.get("area", ""))} · {_t(subject)}</h3>',
             "<ul class=\"hh-problems\">" + "".join(f"<li>{_lines(p)}</li>" for p in problems) + "</ul>",
             '<dl class="hh-facts">']
    alert = entry.get("alert")
    if alert:
        shown = alert if alert.startswith("(") else f"Problem: {alert}"
        parts.append(f"<dt>zabbix alert</dt><dd><code>{_t(shown)}</code></dd>")
    refs = entry.get("runbook") or []
    if refs:
        parts.append("<dt>runbook</dt><dd>" + ", ".join(ref_link(r) for r in refs) + "</dd>")
    parts += _remedy_rows(entry, site, suite_root, entries, st)
    parts.append("</dl>")
    notes = entry.get("notes") or []
    if notes:
        parts.append('<ul class="hh-notes">' + "".join(f"<li>{_lines(n)}</li>" for n in notes) + "</ul>")
    evidence = entry.get("evidence") or []
    if evidence:
        parts.append(f"<details><summary>evidence ({len(evidence)} command{'s' if len(evidence) != 1 else ''})"
                     "</summary>" + "".join(f"<pre>{_t(ev)}</pre>" for ev in evidence) + "</details>")
    parts.append(f'<p class="hh-id">{_t(entry["id"])}</p></div>')
    return "".join(parts)


def _remedy_rows(entry, site, suite_root, entries, st) -> list[str]:
    """The remedies the suite has for the check; with what the run planned (entry["remedies"]),
    only those whose planner takes this state, each with its plan and the command that runs it."""
    known = {r.name: r for r in remedies_for(entry)}
    planned = entry.get("remedies")
    if entry.get("status") == "unknown":
        return ["<dt>remedy</dt><dd>none while the state is unknown: nothing is changed on a state "
                "the suite could not read</dd>"]
    if not known:
        return ["<dt>remedy</dt><dd>none in the suite: follow the runbook section by hand</dd>"] if st in FAILING else []
    if planned is not None and not planned:
        return ["<dt>remedy</dt><dd>none of the suite's remedies (" + _t(", ".join(known)) +
                ") fits this state: follow the runbook section by hand</dd>"]
    rows = []
    for item in planned if planned is not None else [{"name": n, "tier": r.tier} for n, r in known.items()]:
        rem = known.get(item["name"])
        doc = " ".join(((rem.doc if rem else "") or "").strip().split("\n\n")[0].split())
        rows.append(f"<dt>remedy</dt><dd><b>{_t(item['name'])}</b> <span class=\"hh-tier hh-tier-{_t(item['tier'])}\">"
                    f"{_t(item['tier'])}</span> {_t(doc)}</dd>")
        if item.get("refused"):
            rows.append(f"<dt>not now</dt><dd>{_t(item['refused'])}</dd>")
            continue
        if item.get("plan"):
            rows.append(f"<dt>plan</dt><dd><details><summary>steps</summary><pre>{_t(item['plan'])}</pre></details></dd>")
        cmd = fix_command(site, suite_root, entry, entries, item["tier"])
        if cmd:
            rows.append(f'<dt>to run it</dt><dd><code class="hh-cmd">{_t(cmd)}</code></dd>')
        else:
            rows.append("<dt>to run it</dt><dd>this item's name cannot be selected with -k: run --fix with -k "
                        f"{_t(split_id(entry['id'])[1])}</dd>")
    return rows


def _fixes(entries) -> str:
    ran = [e for e in entries if e.get("fix")]
    if not ran:
        return ""
    out = ['<section class="hh-section"><h2>What --fix did</h2>']
    for e in ran:
        fx = e["fix"]
        cmds = "".join(f"<li><code>[{_t(c.get('host'))}] $ {_t(str(c.get('command')).replace('$SUDO ', 'sudo '))}"
                       f"</code> (exit {_t(c.get('rc'))})</li>" for c in fx.get("commands", [])) or "<li>(none run)</li>"
        held = [n for n in e.get("notes") or [] if str(n).startswith("--fix")]
        cmds += "".join(f"<li>{_lines(n)}</li>" for n in held)
        out.append(f'<div class="hh-card hh-b-{"fixed" if fx.get("fixed") else "failed"}">'
                   f"<h3>{_t(e.get('subject') or e['id'])}: {'fixed' if fx.get('fixed') else 'not fixed'}</h3>"
                   f"<dl class=\"hh-facts\"><dt>before</dt><dd>{_lines(fx.get('before', ''))}</dd>"
                   f"<dt>plan</dt><dd>" + "".join(f"<pre>{_t(p)}</pre>" for p in fx.get("plans", [])) + "</dd>"
                   f"<dt>commands</dt><dd><ul>{cmds}</ul></dd>"
                   f"<dt>after</dt><dd>{_lines(fx.get('after', ''))}</dd></dl></div>")
    out.append("</section>")
    return "".join(out)


def skip_line(entry: dict) -> str:
    """One line: check, object, why."""
    _, func, _ = split_id(entry["id"])
    text = " ".join(str(entry.get("message", "")).removeprefix("Skipped: ").split("\n")[0].split())
    subject = entry.get("subject")
    if subject and text.startswith(f"{subject}: "):
        text = text[len(subject) + 2:]
    return f"{func.removeprefix('test_')} {subject or ''}".strip() + f": {text}"


def _quiet(entries) -> str:
    skipped = [e for e in entries if status_of(e) == "skipped"]
    waived = [e for e in entries if status_of(e) == "waived"]
    expired = [(e, w) for e in entries for w in e.get("expired_waivers", [])]
    if not (skipped or waived or expired):
        return ""
    out = ['<section class="hh-section"><h2>Skipped and waived</h2><ul class="hh-quiet">']
    for e in waived:
        w = e.get("waived") or {}
        who = f" ({w['owner']})" if w.get("owner") else ""
        out.append(f'<li id="{anchor(e["id"])}"><span class="hh-tag hh-waived">waived</span> '
                   f"{_t(e.get('subject') or e['id'])}: until {_t(w.get('expires', '?'))}{_t(who)}: "
                   f"{_t(w.get('reason', ''))}</li>")
    for e, w in expired:
        out.append(f"<li><span class=\"hh-tag hh-failed\">expired</span> waiver for {_t(e.get('subject') or e['id'])}"
                   f" expired on {_t(w.get('expires', '?'))}: {_t(w.get('reason', ''))}</li>")
    for e in skipped:
        out.append(f'<li id="{anchor(e["id"])}"><span class="hh-tag hh-skipped">skip</span> {_t(skip_line(e))}</li>')
    out.append("</ul></section>")
    return "".join(out)


VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'


def with_viewport(page: str) -> str:
    """pytest-html's <head> has no viewport: a phone would lay the page out 980 px wide."""
    return page.replace("<head>", "<head>\n    " + VIEWPORT, 1) if VIEWPORT not in page else page


def _only_unreachable(failing, unreachable: dict[str, str], servers: set[str]) -> dict:
    """Items of an unreachable server that fail for that reason alone: one card says it once."""
    out: dict[str, tuple[str, list[dict]]] = {}
    for e in failing:
        _, _, param = split_id(e["id"])
        name = from_id(param) if param is not None else None
        problems = e.get("problems") or []
        if name in unreachable and name in servers and problems and \
                all(p.startswith("unreachable:") for p in problems):
            out.setdefault(name, (unreachable[name], []))[1].append(e)
    return out


def _down_card(name: str, why: str, items: list[dict]) -> str:
    """Anchors for each item inside, so the grid's links land here."""
    marks = "".join(f'<span id="{anchor(e["id"])}"></span>' for e in items)
    checks = ", ".join(split_id(e["id"])[1].removeprefix("test_") for e in items)
    return (f'<div class="hh-card hh-b-failed">{marks}<h3><span class="hh-tag hh-failed">FAIL</span> '
            f"{_t(name)} is unreachable</h3><ul class=\"hh-problems\"><li>{_t(why)}</li></ul>"
            f'<dl class="hh-facts"><dt>not checked</dt><dd>{_t(checks)}</dd>'
            "<dt>first</dt><dd>reach it (network, sshd, its host key): no check can judge it and no "
            "remedy runs until then</dd></dl></div>")


def band_words(verdict: str, site, partial: str | None) -> tuple[str, str, str]:
    """(the band's word, its colour class, where): a partial run that failed nothing is PARTIAL,
    never a site's green; a run on this machine says so, never a site's name."""
    where = f"{site.name or site.describe()}" + (f" · stage {site.stage}" if site.stage else "")
    if site.kind == "local":
        host = site.servers[0].name if site.servers else "?"
        where = f"this machine ({host}), not a hive site"
    word, colour = verdict.upper(), verdict
    if partial and verdict != "unhealthy":
        word, colour = f"PARTIAL · {verdict.upper()}", "partial"
    elif partial:
        word = f"{verdict.upper()} · PARTIAL"
    if site.kind == "local":
        word = f"THIS MACHINE · {word}"
    return word, colour, where


def render(entries: list[dict], site, *, started: str, duration: float, suite_root: str,
           unreachable: dict[str, str] | None = None, partial: str | None = None,
           settings: str | None = None) -> str:
    """The whole block, with its own style (pytest-html's page keeps its own below it).
    `partial`: what a partial run selected (`4 of 55 checks, selected by -k time`); `settings`:
    the site's pytest.ini whose settings applied."""
    verdict = verdict_of(entries)
    counts: dict[str, int] = defaultdict(int)
    for e in entries:
        counts[status_of(e)] += 1
    tally = ", ".join(f"{counts[s]} {LABEL[s] if s != 'failed' else 'failed'}" for s in RANK if counts[s])
    failing = sorted((e for e in entries if status_of(e) in FAILING + ("warn",)),
                     key=lambda e: (RANK.index(status_of(e)), e["id"]))
    word, colour, where = band_words(verdict, site, partial)
    head = (f'<section class="hh-verdict hh-v-{colour}" id="hh-verdict"><div class="hh-word">{_t(word)}</div>'
            f'<div class="hh-where">{_t(where)}</div>'
            + (f'<div class="hh-replay">{_t(site.headline())}</div>' if getattr(site, "recorded", None) else "")
            + (f'<div class="hh-partial">partial run: {_t(partial)}; the other checks were not run, '
               f'and this page does not stand for the site</div>' if partial else "")
            + f'<div class="hh-when">{_t(started)} · {duration:.1f} s · {_t(tally or "no checks ran")}</div>'
            + (f'<div class="hh-when">settings: {_t(settings)}</div>' if settings else "")
            + "".join(f'<div class="hh-unreachable">unreachable: {_t(n)} ({_t(why)})</div>'
                      for n, why in sorted((unreachable or {}).items())) + "</section>")
    down = _only_unreachable(failing, unreachable or {}, {s.name for s in site.servers})
    cards = "".join(_down_card(name, why, items) for name, (why, items) in sorted(down.items()))
    grouped = {e["id"] for _, items in down.values() for e in items}
    # within each outcome, the items a command can fix come first: what to type is on top
    runnable = lambda e: any(not r.get("refused") for r in e.get("remedies") or [])   # noqa: E731
    rest = sorted((e for e in failing if e["id"] not in grouped),
                  key=lambda e: (RANK.index(status_of(e)), not runnable(e), e["id"]))
    cards += "".join(_card(e, site, suite_root, entries) for e in rest)
    problems = (f'<section class="hh-section"><h2>To act on ({len(failing)})</h2>{cards}</section>' if failing else "")
    return (f"<style>{CSS}</style><div id=\"hh-page\">{head}"
            f'<section class="hh-section"><h2>Overview</h2><div class="hh-grids">{_grid(entries, site)}</div></section>'
            f"{problems}{_fixes(entries)}{_quiet(entries)}</div>")


CSS = """
body{display:flex;flex-direction:column;max-width:1400px;min-width:0;margin:0 auto;padding:0 12px;box-sizing:border-box}
#hh-page,.summary{min-width:0;max-width:100%}
body>h1#title{order:-3;font-size:20px;margin:12px 0 4px}
body>.summary{order:-2}
body>#results-table{order:1}
body>#environment-header{order:2}
body>table#environment{order:3}
body>p{order:4;font-size:12px;color:#666}
body>footer{order:5}
.summary__data>h2{display:none}
#hh-page{font-family:Helvetica,Arial,sans-serif;font-size:14px;color:#222}
.hh-verdict{border-radius:8px;padding:12px 16px;margin:8px 0 12px;color:#fff}
.hh-word{font-size:28px;font-weight:bold;letter-spacing:1px}
.hh-where{font-size:18px}.hh-replay{font-size:15px;font-weight:bold}.hh-when{font-size:13px;opacity:.9}
.hh-v-healthy{background:#2e7d32}.hh-v-unhealthy,.hh-v-unknown{background:#c62828}
.hh-v-fixed{background:#1565c0}.hh-v-waived{background:#6a1b9a}
.hh-v-partial{background:#546e7a}.hh-partial{font-size:14px;font-weight:bold;margin-top:2px}
.hh-section h2{font-size:17px;margin:14px 0 6px;border-bottom:1px solid #ddd}
.hh-grids{display:flex;flex-wrap:wrap;gap:0 32px;align-items:flex-start}
.hh-gridwrap{overflow-x:auto;margin-bottom:10px;max-width:100%}
#hh-page a{color:#1565c0}#hh-page .hh-grid td a{color:inherit}
.hh-unreachable{font-size:14px;font-weight:bold;margin-top:2px}
.hh-grid{border-collapse:collapse;font-size:12px}
.hh-grid caption{text-align:left;font-weight:bold;padding:2px 0}
.hh-grid th{font-weight:normal;text-align:left;padding:2px 6px;white-space:nowrap}
.hh-grid thead th{vertical-align:bottom}
.hh-grid td{min-width:38px;height:22px;text-align:center;border:2px solid #fff;padding:0}
.hh-grid td a{display:block;color:inherit;text-decoration:none;font-weight:bold;line-height:22px}
.hh-passed{background:#c8e6c9;color:#1b5e20}.hh-failed,.hh-error{background:#e53935;color:#fff}
.hh-warn{background:#ffb300;color:#222}.hh-waived{background:#ce93d8;color:#222}
.hh-fixed{background:#64b5f6;color:#0d2b4d}.hh-skipped{background:#e0e0e0;color:#555}.hh-none{background:#fafafa}
.hh-card{border:1px solid #ddd;border-left:6px solid #999;border-radius:4px;padding:6px 10px;margin:8px 0;overflow-wrap:anywhere}
.hh-b-failed,.hh-b-error{border-left-color:#e53935}.hh-b-warn{border-left-color:#ffb300}.hh-b-fixed{border-left-color:#1e88e5}
.hh-card h3{font-size:15px;margin:2px 0 4px}
.hh-tag{display:inline-block;border-radius:3px;padding:0 5px;font-size:11px;font-weight:bold;vertical-align:middle}
.hh-problems{margin:2px 0 4px 18px;padding:0}
.hh-facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:4px 0}
.hh-facts dt{color:#666}.hh-facts dd{margin:0;min-width:0}
.hh-cmd{display:block;background:#263238;color:#e0f2f1;padding:4px 6px;border-radius:3px;white-space:pre-wrap;overflow-wrap:anywhere;user-select:all}
.hh-tier{border-radius:3px;padding:0 4px;font-size:11px;border:1px solid #999}
.hh-tier-risky{border-color:#ef6c00;color:#ef6c00}.hh-tier-destructive{border-color:#c62828;color:#c62828}
.hh-notes{margin:2px 0 4px 18px;padding:0;color:#444;font-size:13px}
.hh-card pre{white-space:pre-wrap;word-break:break-all;background:#f5f5f5;padding:4px;font-size:12px;margin:4px 0}
.hh-id{font-size:11px;color:#888;margin:2px 0}
.hh-quiet{list-style:none;padding:0;margin:0;font-size:13px}.hh-quiet li{margin:2px 0;overflow-wrap:anywhere}
@media (max-width:600px){body{padding:0 6px}.hh-word{font-size:22px}.hh-facts{grid-template-columns:1fr}
 .hh-facts dt{font-weight:bold;margin-top:4px}.hh-grid{font-size:11px}.hh-grid td{min-width:30px}
 .hh-grid thead th span{writing-mode:vertical-rl;transform:rotate(180deg)}
 #results-table{font-size:12px;display:block;overflow-x:auto}
 .summary .controls{flex-wrap:wrap;gap:4px}.summary .filters,.summary .collapse{font-size:12px;flex-wrap:wrap;min-width:0}}
"""
