"""What a server sends can neither crash the run nor act on the operator's terminal.

Through the real command line, on a real bundle (tests/data/bundles/lab-three-faults, recorded
on the hive lab) with one answer made hostile: JSON nested 100 000 deep is that section's
unknown and every other check still runs; a site.json nested that deep is a usage error naming
the file; --record saves such an answer and it replays. Terminal control sequences a server
sent (clear screen, cursor up and erase line, which could overwrite a FAIL line; window title;
OSC 52, which writes the operator's clipboard) reach neither the terminal nor latest.html:
they are shown as text (`\\x1b[2J`).
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hivehealth.gather import recording
from hivehealth.gather.probe import CommandResult, HostFacts
from hivehealth.judge.verdict import Evidence, Verdict
from hivehealth.redact import redact_output, visible

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "tests" / "data" / "bundles" / "lab-three-faults"
DEEP = "[" * 100_000 + "]" * 100_000 + "\n"      # 200 KB

CLEAR = "\x1b[2J\x1b[H"                         # erase the screen, cursor home
OVERWRITE = "\x1b[1A\x1b[2K"                    # cursor up one line, erase it: hides a FAIL line
TITLE = "\x1b]0;all checks passed\x07"          # OSC 0: the terminal window's title
CLIPBOARD = "\x1b]52;c;Y3VybCBodHRwOi8veC5leGFtcGxlL2F8c2g=\x07"   # OSC 52: sets the clipboard
C1_CSI = "\x9b2J"                               # the one-byte CSI of C1
HOSTILE = CLEAR + OVERWRITE + TITLE + CLIPBOARD + C1_CSI


def replay(bundle: Path, tmp_path: Path, *args, command=None):
    command = command or [sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(REPO)]
    # wide, so that -ra's lines show their whole first line, as on an operator's wide terminal
    p = subprocess.run([*command, "-p", "no:randomly", "--color=no", "--replay", str(bundle),
                        "-o", f"report_dir={tmp_path / 'reports'}", *args],
                       cwd=REPO, capture_output=True, timeout=600, env={**os.environ, "COLUMNS": "400"})
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def copy_of_real(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(REAL, bundle)
    return bundle


def edit_host(bundle: Path, server: str, change):
    path = bundle / f"host-{server}.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def report(tmp_path: Path, ext: str) -> Path:
    """The report the replay wrote (a replay's are apart: replay-latest[-partial].*)."""
    found = sorted((tmp_path / "reports").glob(f"replay-latest*.{ext}"))
    assert len(found) == 1, found
    return found[0]


def outcomes(tmp_path: Path) -> dict[str, str]:
    doc = json.loads(report(tmp_path, "json").read_text())
    return {c["id"]: c["outcome"] for c in doc["checks"]}


def messages(tmp_path: Path) -> str:
    doc = json.loads(report(tmp_path, "json").read_text())
    return "\n".join(c["message"] for c in doc["checks"])


# --- JSON nested too deep -------------------------------------------------------------------

def _json_sections(doc) -> list[str]:
    return [name for name, r in doc["results"].items() if r["rc"] == 0 and r["stdout"].lstrip()[:1] in ("[", "{")]


@pytest.fixture(scope="module")
def real_outcomes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real")
    rc, out = replay(REAL, tmp)
    assert rc == 1 and "INTERNALERROR" not in out, out[-3000:]
    return outcomes(tmp)


def test_deep_json_in_every_json_answer_is_each_sections_unknown_only(tmp_path, real_outcomes):
    """Every JSON answer of s-hive0.lab nested 100 000 deep: the same checks run as on the real
    bundle, on every server (a cluster object listed by such an answer is the item that says no
    manager answered); those that read such an answer are not passed, naming the nesting; the
    per-server checks of the other servers keep their outcome."""
    bundle = copy_of_real(tmp_path)
    sections = []

    def deepen(doc):
        sections.extend(_json_sections(doc))
        for name in sections:
            doc["results"][name]["stdout"] = DEEP
    edit_host(bundle, "s-hive0.lab", deepen)
    assert {"drbd_json", "nodes", "services", "findmnt"} <= set(sections), sections
    rc, out = replay(bundle, tmp_path)
    assert rc == 1, out[-3000:]
    assert "INTERNALERROR" not in out and "RecursionError" not in out and "Traceback" not in out, out[-3000:]
    got = outcomes(tmp_path)
    assert {i.split("[")[0] for i in got} == {i.split("[")[0] for i in real_outcomes}
    per_server = {i for i in real_outcomes if re.search(r"\[s-hive\d\.lab\]$", i)}
    assert per_server <= set(got)
    checks = json.loads(report(tmp_path, "json").read_text())["checks"]
    nested = [c for c in checks if "nested deeper than 100 levels" in c["message"]]
    assert len(nested) >= 3 and all(c["outcome"] == "failed" for c in nested), [c["id"] for c in nested]
    assert all(got[i] != "passed" for i in got if "(no-manager-answered)" in i)
    for ident in per_server - {i for i in per_server if "s-hive0" in i}:
        if "disk" in ident or "units" in ident or "time" in ident:
            assert got[ident] == real_outcomes[ident], ident


def test_deeply_nested_site_json_is_a_usage_error_naming_the_file(tmp_path):
    for name, doc, why in (
            ("deep", '{"format": 1, "site": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
            # nested nearly as deep as the decoder follows, in a value that is checked
            ("nearly", json.dumps({"format": 1, "site": {"kind": "hive", "servers": [], "name": _nested(900)}}),
             "site.name should be text")):
        bundle = tmp_path / name
        bundle.mkdir()
        (bundle / "site.json").write_text(doc)
        rc, out = replay(bundle, tmp_path)
        assert rc == 4, out[-2000:]
        assert f"{bundle / 'site.json'}: broken recording: " in out and why in out, out[-2000:]
        assert "INTERNALERROR" not in out and "Traceback" not in out, out[-2000:]


def _nested(depth: int):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def test_record_saves_a_deeply_nested_answer_and_it_replays(tmp_path):
    """What --record does with the facts it gathered (recording.save): an answer nested 100 000
    deep is saved as it came (redacted as text), and its replay is that section's unknown
    (s-hive0.lab's drbdadm status taken away: the DRBD check cannot read that server another way)."""
    site, facts = recording.load(str(REAL))
    facts["s-hive0.lab"].results["drbd_json"] = CommandResult("drbd_json", "drbdsetup status --json", 0, DEEP, "")
    del facts["s-hive0.lab"].results["drbd_text"]
    recording.save(str(tmp_path / "rec"), site, facts)
    saved = json.loads((tmp_path / "rec" / "host-s-hive0.lab.json").read_text())
    assert saved["results"]["drbd_json"]["stdout"] == DEEP
    rc, out = replay(tmp_path / "rec", tmp_path, "-k", "drbd")
    assert rc == 1 and "Traceback" not in out and "INTERNALERROR" not in out, out[-3000:]
    assert "nested deeper than 100 levels" in messages(tmp_path)


def test_redaction_of_deep_json_falls_back_to_text():
    deep_secret = "[" * 5000 + '"--password", "Zq60deep"' + "]" * 5000
    assert "Zq60deep" not in redact_output(deep_secret)
    nearly = json.dumps(_nested(900)) + "\n"
    assert redact_output(nearly) == nearly


# --- control characters ---------------------------------------------------------------------

def test_visible_shows_every_control_character_and_keeps_layout():
    controls = [chr(c) for c in [*range(0x20), *range(0x7f, 0xa0)] if chr(c) not in "\t\n"]
    controls += ["\u202e", "\u2066", "\u200f", "\u2028", "\ufeff"]
    shown = visible("a\tb\nc" + "".join(controls) + "\r\n")
    assert shown.startswith("a\tb\nc") and shown.endswith("\n")
    assert not any(c in shown for c in controls), repr(shown)
    assert "\\x1b" in shown and "\\x9b" in shown and "\\u202e" in shown and "\\x0d" in shown
    assert visible(shown) == shown
    assert visible("grüße, ユーザー") == "grüße, ユーザー"


def test_a_verdict_shows_control_characters_as_text():
    v = Verdict("s-hive0.lab" + TITLE)
    v.fail(f"unit {CLEAR}x.service failed{OVERWRITE}")
    v.notes.append(CLIPBOARD)
    v.cite("s-hive0.lab", CommandResult("units", "systemctl --failed", 1, "", f"boom{C1_CSI}\n"))
    for text in (v.message(), v.full_report(), v.evidence[0].render()):
        assert "\x1b" not in text and "\x9b" not in text, repr(text)
    assert "\\x1b[2J" in v.full_report() and "\\x1b]52;c;" in v.full_report() and "\\x9b2J" in v.full_report()
    assert Evidence.of("h", CommandResult("x", "x", 0, CLEAR, "")).output == "\\x1b[2J\\x1b[H"


def hostile_bundle(tmp_path: Path) -> Path:
    """The real bundle with escape sequences in the site's name (the header), one server's
    unreachable reason (a failure line and -ra's line) and a failed unit (a check's message and
    its evidence), in its captured stderr too."""
    bundle = copy_of_real(tmp_path)
    site = json.loads((bundle / "site.json").read_text())
    site["site"]["name"] = f"lab{TITLE}"
    (bundle / "site.json").write_text(json.dumps(site))

    def unreachable(doc):
        doc["unreachable"] = f"ssh: banner {CLEAR}{OVERWRITE}{CLIPBOARD}{C1_CSI}"
    edit_host(bundle, "s-hive2.lab", unreachable)

    def failed_unit(doc):
        for name in ("units_failed", "units_failed_plain"):
            r = doc["results"][name]
            r["stdout"] = r["stdout"].replace("hh-lab-broken.service", f"hh-lab-broken{OVERWRITE}.service")
            r["stderr"] = HOSTILE + "\n"
        doc["results"]["units_show"]["stdout"] += f"\nDescription={HOSTILE}\n"
    edit_host(bundle, "s-hive1.lab", failed_unit)
    return bundle


@pytest.mark.parametrize("command", ["pytest", "hive-health"])
def test_no_control_sequence_from_a_bundle_reaches_the_terminal(tmp_path, command):
    bundle = hostile_bundle(tmp_path)
    argv = [str(REPO / "bin" / "hive-health")] if command == "hive-health" else None
    if argv and not Path(argv[0]).exists():
        pytest.skip("bin/hive-health is made by `make venv`")
    rc, out = replay(bundle, tmp_path, "-ra", "--tb=long", "-k", "units or unreachable or disk", command=argv)
    assert rc == 1, out[-3000:]
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out, \
        [line for line in out.splitlines() if re.search("[\x1b\x9b\x07]", line)][:5]
    assert re.search(r"^hive-health: .*hive site lab\\x1b\]0;all checks passed\\x07 \(stage", out, re.M)  # header
    assert "\\x1b[2J\\x1b[H\\x1b[1A\\x1b[2K\\x1b]52;c;" in out                      # the failure
    assert re.search(r"^FAILED .*test_unreachable.*s-hive2.*\\x1b\[2J", out, re.M)  # -ra's line
    assert "hh-lab-broken\\x1b[1A\\x1b[2K.service" in out
    assert "hive-health by area" in out


def test_latest_html_and_json_show_control_characters_as_text(tmp_path):
    bundle = hostile_bundle(tmp_path)
    rc, out = replay(bundle, tmp_path, "-k", "units or unreachable")
    assert rc == 1, out[-3000:]
    for name in ("html", "json"):
        text = report(tmp_path, name).read_text()
        for raw in ("\x1b", "\x9b", "\x07", "\\u001b", "\\u009b", "\\u0007"):
            assert raw not in text, (name, repr(raw))
        assert "x1b[2J" in text and "x1b]52;c;" in text, name
