"""The real-world states corpus: tests/data/states/<area>/<case>.yaml, each checked through the
whole suite exactly as a support bundle is (`--replay`), then compared with what a careful
operator expects.

A case file:
  state:   one line: the state a real site is in
  source:  where this exact output format comes from (tool, version, source file or doc page)
  site:    optional overrides of the default site (Site.to_dict keys)
  ini:     optional pytest.ini overrides {name: value} (-o name=value)
  servers: {full server name: {section: {rc, stdout, stderr[, command]}, ...}
            or {unreachable: "why"}}; beside the sections a server may give the HostFacts
            timing of its probe: gathered_at, clock_window, seconds (the time check needs them)
  expect:  [{item: substring selecting exactly one test id, status: ok|warn|fail|unknown|skip,
             words: [each must appear in the item's message, case-insensitive]}]

Sections a case does not give are absent from the bundle; a server a case does not name has
answered nothing (every section "not gathered"). Only the expected items are compared.

The suite runs in this process (pytest.main per case: one interpreter start for the whole
corpus instead of one per case); its JSON report is read from a per-case report_dir.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hivehealth.checks import modules as check_modules
from hivehealth.gather import recording
from hivehealth.gather.probe import CommandResult, HostFacts
from hivehealth.gather.sections import SECTIONS, shown
from hivehealth.site.inventory import Site

REPO = Path(__file__).resolve().parents[2]
STATES = REPO / "tests" / "data" / "states"
BUNDLES = REPO / "tests" / "data" / "bundles"
STATUSES = ("ok", "warn", "fail", "unknown", "skip")
check_modules()                     # each area declares its sections
SECTION_NAMES = set(SECTIONS) | {"clock"}
HOST_TIMING = ("gathered_at", "clock_window", "seconds")
TOP_KEYS = {"state", "source", "site", "ini", "servers", "expect"}

DEFAULT_SITE = {
    "kind": "hive", "name": "example", "stage": "staging", "root": "/home/admin/example",
    "context_dir": "/home/admin/example/.hive/staging", "first_hive": 0,
    "separate_repository": True, "drbd_device_map": {"ldap_data": 1}, "no_format": False,
    "servers": [
        {"name": "s-hive0.example", "roles": ["first_hive", "hive"], "spec": "hive", "ssh_config": None},
        {"name": "s-hive1.example", "roles": ["hive"], "spec": "hive", "ssh_config": None},
        {"name": "s-hive2.example", "roles": ["hive"], "spec": "hive", "ssh_config": None},
        {"name": "s-hive3.example", "roles": ["repository"], "spec": "hive", "ssh_config": None},
    ],
}


class CaseError(Exception):
    """A malformed case file: names the file and the key."""

    def __init__(self, path: Path, key: str, problem: str):
        super().__init__(f"{_rel(path)}: {key}: {problem}")


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


@dataclass
class Case:
    path: Path
    site: Site
    facts: dict[str, HostFacts]
    ini: dict[str, str]
    expect: list[dict]


def load_case(path: Path) -> Case:
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(top)"
        raise CaseError(path, where, f"not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(doc, dict):
        raise CaseError(path, "(top)", f"expected a mapping, found {type(doc).__name__}")
    unknown = sorted(set(doc) - TOP_KEYS)
    if unknown:
        raise CaseError(path, unknown[0], f"unknown key (known: {', '.join(sorted(TOP_KEYS))})")
    for key in ("state", "source"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise CaseError(path, key, "missing: a non-empty line of text is required")
    site = _site(path, doc.get("site") or {})
    ini = doc.get("ini") or {}
    if not isinstance(ini, dict) or not all(isinstance(k, str) for k in ini):
        raise CaseError(path, "ini", "expected a mapping of pytest.ini option names to values")
    servers = doc.get("servers")
    if not isinstance(servers, dict) or not servers:
        raise CaseError(path, "servers", "missing: a mapping of server names to their sections")
    names = {s.name for s in site.servers}
    facts = {n: HostFacts(n) for n in names}
    for name, sections in servers.items():
        if name not in names:
            raise CaseError(path, f"servers.{name}", f"not a server of the site ({', '.join(sorted(names))})")
        facts[name] = _host(path, name, sections)
    expect = doc.get("expect")
    if not isinstance(expect, list) or not expect:
        raise CaseError(path, "expect", "missing: a list of {item, status, words}")
    for n, e in enumerate(expect):
        key = f"expect[{n}]"
        if not isinstance(e, dict) or set(e) - {"item", "status", "words"}:
            raise CaseError(path, key, "expected a mapping with keys item, status, words")
        if not isinstance(e.get("item"), str) or not e["item"]:
            raise CaseError(path, f"{key}.item", "missing: a substring of one test id")
        if e.get("status") not in STATUSES:
            raise CaseError(path, f"{key}.status", f"{e.get('status')!r} is not one of {', '.join(STATUSES)}")
        words = e.get("words", [])
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise CaseError(path, f"{key}.words", "expected a list of non-empty strings")
    return Case(path, site, facts, {k: str(v) for k, v in ini.items()}, expect)


def _site(path: Path, overrides) -> Site:
    if not isinstance(overrides, dict):
        raise CaseError(path, "site", "expected a mapping of Site.to_dict keys")
    bad = sorted(set(overrides) - set(DEFAULT_SITE))
    if bad:
        raise CaseError(path, f"site.{bad[0]}", f"not a site key ({', '.join(sorted(DEFAULT_SITE))})")
    try:
        return Site.from_dict({**DEFAULT_SITE, **overrides})
    except (KeyError, TypeError, AttributeError) as e:
        raise CaseError(path, "site", f"not a valid site: {e}") from None


def _host(path: Path, name: str, sections) -> HostFacts:
    key = f"servers.{name}"
    if not isinstance(sections, dict):
        raise CaseError(path, key, "expected a mapping of section names (or unreachable)")
    if "unreachable" in sections:
        if set(sections) != {"unreachable"} or not isinstance(sections["unreachable"], str):
            raise CaseError(path, f"{key}.unreachable", "an unreachable server has only `unreachable: why`")
        return HostFacts(name, unreachable=sections["unreachable"])
    host = HostFacts(name)
    for section, r in sections.items():
        where = f"{key}.{section}"
        if section in HOST_TIMING:
            if not isinstance(r, (int, float)) or isinstance(r, bool):
                raise CaseError(path, where, "expected a number of seconds")
            setattr(host, section, float(r))
            continue
        if section not in SECTION_NAMES:
            raise CaseError(path, where, "not a section any area declares (hivehealth/checks)")
        if not isinstance(r, dict) or set(r) - {"rc", "stdout", "stderr", "command"}:
            raise CaseError(path, where, "expected {rc, stdout, stderr[, command]}")
        if not isinstance(r.get("rc"), int) or isinstance(r.get("rc"), bool):
            raise CaseError(path, f"{where}.rc", "missing: the exit code, an integer")
        for k in ("stdout", "stderr"):
            if not isinstance(r.get(k, ""), str):
                raise CaseError(path, f"{where}.{k}", "expected a string")
        command = r.get("command") or ("date +%s.%N" if section == "clock" else shown(SECTIONS[section][1]))
        host.results[section] = CommandResult(section, command, r["rc"], r.get("stdout", ""), r.get("stderr", ""))
    return host


def run_suite(bundle: Path, reports: Path, ini: dict[str, str] | None = None) -> dict:
    """The whole suite on a recording, as `pytest --replay DIR` runs it; its report
    (replay-latest.json: a replay never stands for a site's own latest run)."""
    args = ["-c", str(REPO / "pytest.ini"), "--rootdir", str(REPO), str(REPO / "hivehealth" / "checks"),
            "--replay", str(bundle), "-o", f"report_dir={reports}", "-q", "--no-header",
            "-p", "no:randomly", "-p", "no:xdist", "-p", "no:html",
            # each of these costs a full garbage collection per run, of the outer session too
            "-p", "no:unraisableexception", "-p", "no:threadexception", "-p", "no:faulthandler"]
    for k, v in (ini or {}).items():
        args += ["-o", f"{k}={v}"]
    # the suite's conftest.py imports as `conftest`: another one the outer session loaded (tests/lab)
    # must not stand in for it, nor it for that one afterwards
    outer_conftest = sys.modules.pop("conftest", None)
    saved_path = list(sys.path)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            rc = pytest.main(args)
    finally:
        sys.path[:] = saved_path        # the checks' modules stay imported: they are pure
        sys.modules.pop("conftest", None)
        if outer_conftest is not None:
            sys.modules["conftest"] = outer_conftest
    latest = reports / "replay-latest.json"
    if not latest.exists():
        pytest.fail(f"the suite wrote no report (pytest exit {int(rc)}):\n{out.getvalue()[-3000:]}",
                    pytrace=False)
    return json.loads(latest.read_text())


def _status(entry: dict) -> str:
    if entry.get("status"):
        return entry["status"]
    return {"skipped": "skip", "passed": "ok"}.get(entry["outcome"], entry["outcome"])


def _text(entry: dict) -> str:
    parts = [entry.get("message") or "", *(entry.get("problems") or []), *(entry.get("notes") or []),
             entry.get("alert") or ""]
    return "\n".join(parts)


def compare(case_name: str, expect: list[dict], report: dict) -> list[str]:
    """What differs between the expectation and the report, one line per difference."""
    wrong = []
    for e in expect:
        matches = [c for c in report["checks"] if e["item"] in c["id"]]
        if len(matches) != 1:
            ids = [c["id"] for c in matches] or sorted(c["id"] for c in report["checks"])
            wrong.append(f"{case_name}: item {e['item']!r} selects {len(matches)} test ids, "
                         f"not one: {', '.join(ids)[:600]}")
            continue
        c = matches[0]
        status, text = _status(c), _text(c)
        missing = [w for w in e.get("words", []) if w.lower() not in text.lower()]
        if status != e["status"] or missing:
            wrong.append(f"{case_name}: {c['id']}: expected {e['status']}"
                         + (f" with {missing}" if missing else "")
                         + f", got {status}: {text.strip()[:700]}")
    return wrong


CASES = sorted(STATES.glob("*/*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=[str(p.relative_to(STATES)) for p in CASES])
def test_state(path, tmp_path):
    try:
        case = load_case(path)
    except CaseError as e:
        pytest.fail(str(e), pytrace=False)
    bundle = tmp_path / "bundle"
    recording.save(str(bundle), case.site, case.facts)
    report = run_suite(bundle, tmp_path / "reports", case.ini)
    wrong = compare(_rel(path), case.expect, report)
    assert not wrong, "\n".join(wrong)


def test_corpus_is_there():
    assert len(CASES) >= 1 and all(p.parent.parent == STATES for p in CASES)


# ---------------------------------------------------------------- the harness itself

def _write(tmp_path, text: str) -> Path:
    area = tmp_path / "disk"
    area.mkdir(exist_ok=True)
    p = area / "case.yaml"
    p.write_text(text)
    return p


GOOD = """state: s
source: s
servers:
  s-hive0.example:
    df: {rc: 0, stdout: "x\\n", stderr: ""}
expect:
  - {item: "test_disk[s-hive0", status: ok}
"""


@pytest.mark.parametrize("change, where", [
    (lambda t: t.replace("state: s\n", ""), "state: missing"),
    (lambda t: t.replace("df: {rc: 0,", "df: {rc: zero,"), "servers.s-hive0.example.df.rc: missing"),
    (lambda t: t.replace("    df:", "    dff:"), "servers.s-hive0.example.dff: not a section"),
    (lambda t: t.replace("s-hive0.example:", "s-hive9.example:"), "servers.s-hive9.example: not a server"),
    (lambda t: t.replace("status: ok", "status: good"), "expect[0].status: 'good' is not one of"),
    (lambda t: t.replace("status: ok}", "status: ok, words: oops}"), "expect[0].words: expected a list"),
    (lambda t: t + "color: red\n", "color: unknown key"),
    (lambda t: t.replace("expect:", "expect: [oops"), "not valid YAML"),
    (lambda t: t + "site: {kind2: hive}\n", "site.kind2: not a site key"),
])
def test_malformed_case_names_file_and_key(tmp_path, change, where):
    p = _write(tmp_path, change(GOOD))
    with pytest.raises(CaseError) as e:
        load_case(p)
    assert str(p) in str(e.value) and where in str(e.value)


def test_good_case_loads_with_defaults(tmp_path):
    case = load_case(_write(tmp_path, GOOD))
    assert [s.name for s in case.site.hives] == ["s-hive0.example", "s-hive1.example", "s-hive2.example"]
    assert case.site.repository.name == "s-hive3.example"
    assert case.facts["s-hive0.example"].get("df").command == "sudo df -P -T -k"
    assert case.facts["s-hive1.example"].results == {} and not case.facts["s-hive1.example"].unreachable


def test_compare_reports_wrong_status_missing_words_and_ambiguous_items():
    report = {"checks": [
        {"id": "checks/test_disk.py::test_disk[s-hive0.example]", "outcome": "failed", "status": "fail",
         "message": "/ is 97 % full", "problems": ["/ is 97 % full"]},
        {"id": "checks/test_disk.py::test_disk[s-hive1.example]", "outcome": "passed", "status": "ok",
         "message": "", "problems": [], "notes": ["df exited 1: Stale file handle"]},
    ]}
    assert compare("c", [{"item": "test_disk[s-hive0", "status": "fail", "words": ["97 %"]}], report) == []
    assert compare("c", [{"item": "test_disk[s-hive1", "status": "ok", "words": ["stale"]}], report) == []
    assert "expected warn" in compare("c", [{"item": "test_disk[s-hive0", "status": "warn"}], report)[0]
    assert "['nfs']" in compare("c", [{"item": "test_disk[s-hive0", "status": "fail", "words": ["nfs"]}], report)[0]
    assert "selects 2 test ids" in compare("c", [{"item": "test_disk[", "status": "ok"}], report)[0]


# A bundle recorded by this version (hivehealth.gather.recording.save, format 1) and committed: every
# later version must still replay it and reach the same verdicts.
FORMAT1_BUNDLE = BUNDLES / "format1-example"
FORMAT1_EXPECT = [
    {"item": "test_disk[s-hive0.example]", "status": "fail", "words": ["/ is 97 % full"]},
    {"item": "test_disk[s-hive1.example]", "status": "ok"},
    {"item": "test_units[s-hive0.example]", "status": "fail", "words": ["dnf-makecache.service"]},
    {"item": "test_disk[s-hive2.example]", "status": "fail", "words": ["unreachable", "connect timeout"]},
    {"item": "test_registry[s-hive3.example]", "status": "ok"},
]


def test_a_bundle_recorded_by_format_1_still_replays(tmp_path):
    doc = json.loads((FORMAT1_BUNDLE / "site.json").read_text())
    assert doc["format"] == 1
    report = run_suite(FORMAT1_BUNDLE, tmp_path / "reports")
    assert compare("format1-example", FORMAT1_EXPECT, report) == []
