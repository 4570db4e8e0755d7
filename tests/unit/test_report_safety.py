"""What leaves the process is safe: the HTML report runs no script from site text, secrets are
redacted in every output, and output files are private and replaced atomically.

The report tests run the whole suite on a replay bundle (hivehealth.recording) whose names are
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

from hivehealth import recording
from hivehealth.gather import CommandResult, HostFacts
from hivehealth.ids import from_id, safe_id
from hivehealth.inventory import Server, Site

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
    page = reports / "latest.html"
    dom = dump_dom(tmp_path, page)
    assert 'id="results-table"' in dom and "results-table-row" in dom   # the page's JS has run
    assert re.findall(r"<body[^>]*>", dom) == ["<body>"]     # no payload marked it
    assert "<img src=x" not in dom        # no element made from site text
    # every name is still there to read: escaped as an id, or as text in messages
    for name in (SERVER, DRBD, SERVICE, NODE):
        assert safe_id(name) in dom or html.escape(name, quote=False) in dom, name
    doc = json.loads((reports / "latest.json").read_text())
    ids = [c["id"] for c in doc["checks"]]
    for name in (SERVER, DRBD, SERVICE, NODE):
        assert any(i.endswith(f"[{safe_id(name)}]") for i in ids), (name, ids)
