"""What leaves the process is safe: the HTML report runs no script from site text, secrets are
redacted in every output, and output files are private and replaced atomically.

The report tests run the whole suite on a replay bundle (hivehealth.gather.recording) whose names are
hostile, as a support bundle from another site could be, and render latest.html in headless
Chromium (Debian's `chromium`).
"""
import html
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hivehealth.gather import recording
from hivehealth.gather.probe import CommandResult, HostFacts
from hivehealth.ids import from_id, safe_id
from hivehealth.report import prometheus
from hivehealth.site.inventory import Server, Site

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-quic"]


def payload(tag: str) -> str:
    """Markup that, if the page ever parses it, marks <body> with the place it came from."""
    return f"<img src=x{tag} onerror=\"document.body.setAttribute('data-pwned','{tag}')\">"


SERVER, DRBD, SERVICE, NODE = payload("server"), payload("drbd"), payload("service"), payload("node")


def hostile_bundle(directory: Path) -> Path:
    """A recording of a one-hive site whose server, DRBD resource, service and swarm node are
    named with markup."""
    site = Site("hive", [Server(SERVER, frozenset({"hive", "first_hive", "repository"}), "hive", None)],
                name="xss", stage="staging", root="/nonexistent", drbd_device_map={DRBD: 1})
    services = json.dumps({"ID": "abc", "Image": "img", "Mode": "replicated", "Name": SERVICE,
                           "Ports": "", "Replicas": "0/1"})
    nodes = json.dumps({"Availability": "Active", "EngineVersion": "26.1.5", "Hostname": NODE,
                        "ID": "n1", "ManagerStatus": "Leader", "Self": True, "Status": "Down",
                        "TLSStatus": "Ready"})
    results = {name: CommandResult(name, name, 0, out, "") for name, out in
               (("services", services + "\n"), ("nodes", nodes + "\n"), ("uname", "x\n"))}
    recording.save(str(directory), site, {SERVER: HostFacts(SERVER, results)})
    return directory


def suite(*args):
    p = subprocess.run([sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(REPO),
                        "-p", "no:randomly", *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout + p.stderr


def dump_dom(tmp_path, page: Path) -> str:
    r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                        "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def test_safe_id_keeps_names_readable_and_is_reversible():
    for name in ("s-hive0.lab", "ldap_data", "pdnsdb_data", "(no-manager-answered)", "web.1"):
        assert safe_id(name) == name
    for name in (SERVER, "a b", "x[1]", "a::b", "%41", "%", "é", "\U0001f600", "\x1b[31m", ""):
        ident = safe_id(name)
        assert from_id(ident) == name
        assert re.fullmatch(r"[A-Za-z0-9_.()%-]+", ident), ident
    assert safe_id("<img>") == "%3Cimg%3E"
    assert safe_id("%41") != safe_id("A")


@pytest.mark.skipif(not CHROMIUM, reason="chromium not installed (Debian: apt-get install -y chromium)")
def test_hostile_names_run_no_script_in_the_html_report(tmp_path):
    bundle = hostile_bundle(tmp_path / "bundle")
    reports = tmp_path / "reports"
    rc, out = suite("--replay", str(bundle), "-o", f"report_dir={reports}")
    assert rc == 1, out[-3000:]
    page = reports / "replay-latest.html"
    dom = dump_dom(tmp_path, page)
    assert 'id="results-table"' in dom and "results-table-row" in dom   # the page's JS has run
    assert re.findall(r"<body[^>]*>", dom) == ["<body>"]     # no payload marked it
    assert "<img src=x" not in dom        # no element made from site text
    # every name is still there to read: escaped as an id, or as text in messages
    for name in (SERVER, DRBD, SERVICE, NODE):
        assert safe_id(name) in dom or html.escape(name, quote=False) in dom, name
    doc = json.loads((reports / "replay-latest.json").read_text())
    ids = [c["id"] for c in doc["checks"]]
    for name in (SERVER, DRBD, SERVICE, NODE):
        assert any(i.endswith(f"[{safe_id(name)}]") for i in ids), (name, ids)


# --- secrets: one redaction for every output ---------------------------------------------------

# (text as a server or a command could print it, the secret in it, what must stay readable)
FORMS = {
    "docker login -p": ("docker login -u admin -p Zq1loginP registry:5000", "Zq1loginP", "docker login -u admin -p"),
    "--password X": ("hive-tool --password Zq2passSp --verbose", "Zq2passSp", "--verbose"),
    "--password=X": ("hive-tool --password=Zq3passEq --verbose", "Zq3passEq", "--password="),
    "Authorization: Basic": ("curl -H 'Authorization: Basic WnE0YmFzaWM6eA==' https://r/v2/",
                             "WnE0YmFzaWM6eA==", "Authorization: Basic"),
    "Authorization: Bearer": ('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.Zq5bearer.sig', "Zq5bearer", "Bearer"),
    "curl -u user:pass": ("curl -sS -u admin:Zq6curlU https://r/v2/", "Zq6curlU", "-u admin:"),
    "curl -u quoted": ("curl -u 'admin:Zq7 curlq charlie' https://r/v2/", "Zq7 curlq charlie", "https://r/v2/"),
    "netrc password line": ("machine r\n  login admin\n  password Zq8netrc\n", "Zq8netrc", "login admin"),
    "netrc one line": ("machine r login admin password Zq9netrc", "Zq9netrc", "machine r login admin"),
    "docker config auth": ('{"auths": {"r:5000": {"auth": "WnExMGRvY2tlcjp4"}}}', "WnExMGRvY2tlcjp4", '"auths"'),
    "PEM whole": ("key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEZq11wholeAAKCAQEA\n"
                  "-----END RSA PRIVATE KEY-----\nafter", "MIIEZq11whole", "after"),
    "PEM cut after BEGIN": ("cat id_rsa\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaZq12begin\nAAAAB3Nz",
                            "Zq12begin", "cat id_rsa"),
    "PEM cut before END": ("...output cut\nAAAAB3NzZq13endonlyxyz0123\nQyNTUxOQAAACD\n"
                           "-----END OPENSSH PRIVATE KEY-----\nlast line", "Zq13endonly", "last line"),
    "PEM cut before END in JSON": ('{"key": "IBAAKCAQEAZq14json\\nAAAA\\n-----END RSA PRIVATE KEY-----\\n"}',
                                   "Zq14json", '"key"'),
    "quoted with spaces": ('export PASSWORD="Zq15 alpha bravo" && run', "Zq15 alpha bravo", "&& run"),
    "single quoted with spaces": ("password: 'Zq16 delta echo'", "Zq16 delta echo", "password"),
    "env entry in JSON": ('{"Env": ["DB_PASSWORD=Zq17 foxtrot golf", "API_KEY=Zq18apikey", "LANG=C"]}',
                          "Zq17 foxtrot golf", "LANG=C"),
    "env KEY name": ('"Env": ["API_KEY=Zq18apikey"]', "Zq18apikey", "API_KEY="),
    "swarm join token": ("docker swarm join --token SWMTKN-1-Zq19swarm-abc 10.0.0.1:2377", "Zq19swarm",
                         "docker swarm join"),
    "URL credentials": ("pull https://admin:Zq20url@r:5000/v2/", "Zq20url", "@r:5000/v2/"),
}
ORDINARY = ["keyboard-setup.service failed", "monkey", "the monkey ate a banana",
            "Failed password for root from 192.0.2.1 port 22 ssh2",
            "password authentication failed for user admin", "SecretName: db_pass",
            "dnf-makecache.timer", "docker login registry:5000", "/etc/ssh/ssh_host_ed25519_key",
            "ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null", "look_for_keys=False"]


@pytest.mark.parametrize("form", FORMS)
def test_each_secret_form_is_redacted(form):
    from hivehealth.redact import Redactor
    redact = Redactor()
    text, secret, kept = FORMS[form]
    out = redact(text)
    assert not any(word in out for word in secret.split()) and ("***" in out or "<private key redacted>" in out), out
    assert kept in out, out
    assert redact(out) == out


@pytest.mark.parametrize("form", FORMS)
def test_json_outputs_stay_json(form):
    from hivehealth.redact import redact_output
    text, secret, kept = FORMS[form]
    out = redact_output(text)
    assert not any(word in out for word in secret.split()) and kept in out, out
    if text.startswith("{"):
        json.loads(out)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_words_stay_readable(text):
    from hivehealth.redact import Redactor
    assert Redactor()(text) == text


def test_site_registry_password_is_redacted_anywhere(tmp_path):
    from hivehealth import redact as r
    (tmp_path / "registry_password").write_text("Zq21literal-pw\n")
    r.use_site(Site("hive", [], context_dir=str(tmp_path)))
    assert "Zq21literal-pw" not in r.redact("login said: Zq21literal-pw is wrong")


SPEC = (Path(__file__).resolve().parents[1] / "data/captured/lab/service_specs-hive0.jsonl").read_text()


def test_record_masks_service_environment_and_still_replays(tmp_path):
    """docker service inspect's Env values named like a secret are masked; the rest of the JSON
    is unchanged, and the recording replays."""
    specs = []
    for line in SPEC.splitlines():
        doc = json.loads(line)
        doc["TaskTemplate"]["ContainerSpec"]["Env"] = ["DB_PASSWORD=Zq22 hotel india", "api_key=Zq23", "LANG=C",
                                                       "SECRET_TOKEN=Zq24", "HOME=/data"]
        specs.append(doc)
    server = Server("s-hive0.lab", frozenset({"hive", "first_hive"}), "hive", None)
    site = Site("hive", [server], name="lab", stage="staging")
    text = "\n".join(json.dumps(d) for d in specs) + "\n"
    facts = {server.name: HostFacts(server.name, {"service_specs": CommandResult(
        "service_specs", "docker service inspect", 0, text, "")})}
    recording.save(str(tmp_path / "rec"), site, facts)
    saved = (tmp_path / "rec" / "host-s-hive0.lab.json").read_text()
    assert not re.search(r"Zq2[234]", saved)
    out = json.loads(saved)["results"]["service_specs"]["stdout"]
    got = [json.loads(line) for line in out.splitlines()]
    for d in specs:
        d["TaskTemplate"]["ContainerSpec"]["Env"] = ["DB_PASSWORD=***", "api_key=***", "LANG=C",
                                                     "SECRET_TOKEN=***", "HOME=/data"]
    assert got == specs
    rc, log = suite("--replay", str(tmp_path / "rec"), "-o", f"report_dir={tmp_path / 'r'}", "-k", "services")
    assert rc in (0, 1) and "broken recording" not in log and "cannot read" not in log, log[-2000:]


def unredacted_bundle(directory: Path) -> Path:
    """A bundle as another site's tool could have written it, secrets in clear: every form
    above is in the output of a command that failed, so it is a check's message and evidence."""
    server = Server("s-hive0.lab", frozenset({"hive", "first_hive"}), "hive", None)
    site = Site("hive", [server], name="lab", stage="staging", root="/nonexistent")
    secrets = "\n".join(text for text, _, _ in FORMS.values())
    last = FORMS["curl -u user:pass"][0]              # the line a failure message quotes
    results = {"df": CommandResult("df", "df -P", 1, "", secrets + "\n" + last + "\n")}
    directory.mkdir(parents=True)
    (directory / "site.json").write_text(json.dumps({"format": recording.FORMAT, "site": site.to_dict()}))
    (directory / "host-s-hive0.lab.json").write_text(json.dumps(HostFacts(server.name, results).to_dict()))
    return directory


def test_no_output_of_a_run_holds_a_secret(tmp_path):
    bundle = unredacted_bundle(tmp_path / "bundle")
    reports = tmp_path / "reports"
    rc, out = suite("--replay", str(bundle), "-o", f"report_dir={reports}", "--tb=long", "-rA",
                    "--junitxml", str(tmp_path / "junit.xml"), "-k", "disk")
    assert rc == 1, out[-3000:]
    # a replay writes no textfile of its own (node_exporter's is the site's): made from its report
    assert prometheus.main([str(reports / "replay-latest-partial.json"), str(tmp_path / "hh.prom")]) == 0
    assert "cannot read state" in out and "Zq6curlU" not in out     # the failing check's message
    outputs = {"terminal": out, "prometheus": (tmp_path / "hh.prom").read_text(),
               "junit": (tmp_path / "junit.xml").read_text()}
    # every file, the history database too (read as bytes: a secret must not be in it either)
    outputs.update({p.name: p.read_bytes().decode("utf-8", "replace") for p in reports.iterdir() if p.is_file()})
    assert {"replay-latest-partial.json", "replay-latest-partial.html"} <= set(outputs)
    doc = json.loads(outputs["replay-latest-partial.json"])
    assert any("Authorization: Basic ***" in c["message"] for c in doc["checks"])   # evidence kept
    for name, text in outputs.items():
        for form, (_, secret, _) in FORMS.items():
            for word in secret.split():
                assert word not in text and html.escape(word) not in text, (name, form)


def test_fix_log_and_test_reports_are_redacted_before_any_output():
    """The fix section of latest.html comes from the fix log through pytest's test report; both
    are redacted (the report in pytest_runtest_logreport, before terminal, pytest-html, JUnit
    and the JSON report read it)."""
    from _pytest.reports import TestReport

    from hivehealth.plugin import Redaction
    from hivehealth.remedy.runner import FixLog
    log = FixLog(before="s-hive0.lab: unit failed")
    log.plans.append("restart [risky]:\n  1. [s-hive0.lab] docker login -u admin -p Zq30plan r")
    log.commands.append(("s-hive0.lab", "curl -u admin:Zq31cmd https://r/v2/", 0, "Authorization: Bearer Zq32out"))
    text, data = log.render(), json.dumps(log.to_dict(False))
    for secret in ("Zq30plan", "Zq31cmd", "Zq32out"):
        assert secret not in text
    assert "Zq30plan" not in data and "Zq31cmd" not in data
    report = TestReport("checks/test_units.py::test_units[s-hive0.lab]", ("checks/test_units.py", 1, "x"), {},
                        "failed", "s-hive0.lab: machine r login a password Zq33long", "call",
                        [("Captured hive-health fix call", "machine r login a password Zq34section")],
                        user_properties=[("hivehealth", {"problems": ["PASSWORD='Zq35 kilo lima'"]})])
    Redaction().pytest_runtest_logreport(report)
    seen = report.longreprtext + repr(report.sections) + repr(report.user_properties)
    assert not re.search(r"Zq3[345]|kilo|lima", seen) and "password ***" in seen


class _Config:
    def __init__(self, root):
        self.inipath = root / "pytest.ini"
        self.stash = {}             # as pytest's: no site pytest.ini applied

    def getini(self, name):
        return {"report_dir": "reports"}[name]


def test_audit_is_private_appended_and_redacted(tmp_path):
    from types import SimpleNamespace as NS

    from hivehealth.remedy.audit import Audit
    audit = Audit(_Config(tmp_path), "tester")
    audit.path.parent.mkdir()
    audit.path.write_text("")
    os.chmod(audit.path, 0o644)          # from an older version: narrowed on the next record
    plan, step = NS(remedy="login", tier="safe"), NS(host="s-hive0.lab", command="docker login -p Zq40 r")
    for _ in range(2):
        audit.record("checks/test_x.py::test_x", plan, step, NS(rc=0, output="token: Zq41"))
    lines = audit.path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["command"] == "docker login -p *** r" for line in lines)
    assert "Zq4" not in audit.path.read_text()
    assert stat.S_IMODE(audit.path.stat().st_mode) == 0o640
    # the audit keeps an output's tail: the secret is masked before the cut parts it from its name
    audit.record("checks/test_x.py::test_x", plan, step, NS(rc=0, output="DB_PASSWORD=Zq42cutvalue " + "y" * 1990))
    assert "cutvalue" not in audit.path.read_text()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_output_files_are_private_and_replaced_atomically(tmp_path):
    """A replay's reports (the JSON and pytest-html's page) are replaced, not rewritten in place:
    a reader holding the old file (here a hard link to it) still reads the whole old one."""
    bundle = hostile_bundle(tmp_path / "bundle")
    assert {mode(p) for p in bundle.iterdir()} == {0o640} and mode(bundle) == 0o750
    reports = tmp_path / "reports"
    reports.mkdir()
    for name in ("replay-latest.json", "replay-latest.html"):
        (reports / name).write_text("previous run\n")
        os.chmod(reports / name, 0o644)
        os.link(reports / name, tmp_path / f"held-{name}")
    rc, out = suite("--replay", str(bundle), "-o", f"report_dir={reports}")
    assert rc == 1, out[-2000:]
    assert prometheus.main([str(reports / "replay-latest.json"), str(tmp_path / "hh.prom")]) == 0
    for name in ("replay-latest.json", "replay-latest.html"):
        assert (tmp_path / f"held-{name}").read_text() == "previous run\n", name
        assert (reports / name).read_text() != "previous run\n"
    written = sorted(p.name for p in reports.iterdir())
    assert [n for n in written if n.endswith(".tmp")] == []          # no temp file left
    assert [n for n in written if n.startswith("run-")] == []       # a replay is no run of this site's
    for p in reports.iterdir():
        if p.is_file():
            assert mode(p) == 0o640, p.name
    assert mode(tmp_path / "hh.prom") == 0o644      # node_exporter reads it; no outputs in it


@pytest.mark.skipif(not CHROMIUM, reason="chromium not installed (Debian: apt-get install -y chromium)")
def test_markup_in_any_test_id_or_environment_value_is_escaped(tmp_path):
    """Second line of defence: an id that did not come through safe_id (a site's own check in
    its conftest) and an environment value (pytest-metadata's --metadata) are escaped by the
    report hooks."""
    extra = tmp_path / "site_checks" / "test_own.py"
    extra.parent.mkdir()
    extra.write_text("import pytest\n\n"
                     f"@pytest.mark.parametrize('x', [1], ids=[{payload('ownid')!r}])\n"
                     "def test_own(x):\n    assert x == 2\n")
    bundle = hostile_bundle(tmp_path / "bundle")
    reports = tmp_path / "reports"
    rc, out = suite("--replay", str(bundle), "-o", f"report_dir={reports}", "--metadata", "site",
                    payload("env"), "-k", "own or disk", str(extra), str(REPO / "hivehealth" / "checks"))
    assert rc == 1 and "test_own" in out, out[-2000:]
    dom = dump_dom(tmp_path, reports / "replay-latest-partial.html")
    assert "results-table-row" in dom and "test_own" in dom
    assert re.findall(r"<body[^>]*>", dom) == ["<body>"]
    assert "<img src=x" not in dom
    assert html.escape(payload("ownid"), quote=False) in dom and html.escape(payload("env"), quote=False) in dom


def test_prometheus_finds_the_server_of_an_escaped_id():
    from hivehealth.report.prometheus import render
    from hivehealth.redact import redact_tree
    name = "odd host<1>"
    doc = {"site": "lab", "servers": [{"name": name}],
           "checks": [{"id": f"checks/test_disk.py::test_disk[{safe_id(name)}]", "area": "disk",
                       "outcome": "failed", "subject": "token=Zq60label"}]}
    text = render(redact_tree(doc))
    assert 'server="odd host<1>"' in text and "Zq60label" not in text
