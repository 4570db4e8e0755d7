"""Broken site files never crash the suite: a problem of the whole site is one usage error
(exit 4) naming the file and line; a problem with one server's entry makes that server
unreachable with the reason, and the others are checked."""
import json
import shutil

import pytest

from hivehealth.gather import recording

from hivehealth.site import ssh_config
from hivehealth.site.inventory import InventoryError, load_hive_project
from test_cli import _unreachable_project, suite
from test_inventory import make_project


def _config(root):
    return root / ".hive" / "staging" / "ssh_config"


def _line_of(path, text):
    return path.read_text().splitlines().index(text) + 1


def _report(tmp_path, *args):
    rc, out = suite("--hive-root", str(tmp_path), "-o", f"report_dir={tmp_path / 'r'}", "-k", "disk", *args)
    assert "Traceback" not in out and "INTERNALERROR" not in out, out
    doc = json.loads((tmp_path / "r" / "latest-partial.json").read_text())
    return rc, {c["id"].split("[")[1].rstrip("]"): c["message"] for c in doc["checks"]}


@pytest.mark.parametrize("bad, ssh_says", [
    ("  Port abc", "Bad port 'abc'"),
    ("  ConnectTimeout soon", "invalid time value"),
    ("  HostName", 'no argument after keyword "hostname"'),
])
def test_bad_line_in_one_servers_block_makes_only_that_server_unreachable(tmp_path, bad, ssh_says):
    _unreachable_project(tmp_path)
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text().replace("  HostName 127.0.0.11\n", f"  HostName 127.0.0.11\n{bad}\n"))
    line = _line_of(cfg, bad)
    rc, checks = _report(tmp_path)
    assert rc == 1
    assert f"unreachable: {cfg}, line {line}: {ssh_says}" in checks["s-hive1.pdns"]
    for other in ("s-hive0.pdns", "s-hive2.pdns", "s-hive3.pdns"):    # checked: their port 1 refused
        assert "cannot connect to" in checks[other] and ":1)" in checks[other]


def test_bad_line_for_every_server_is_a_usage_error_naming_file_and_line(tmp_path):
    _unreachable_project(tmp_path)
    cfg = _config(tmp_path)
    cfg.write_text("ConnectTimeout soon\n" + cfg.read_text())
    rc, out = suite("--hive-root", str(tmp_path), "-o", f"report_dir={tmp_path / 'r'}")
    assert rc == 4 and f"{cfg}, line 1: invalid time value" in out and "Traceback" not in out


def test_match_exec_is_evaluated_as_ssh_does(tmp_path):
    """Port 1 only through `Match exec`: the suite connects where ssh would (port 1, refused)."""
    _unreachable_project(tmp_path)
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text().replace("  Port 1\n", "") + 'Match exec "test -n %h"\n  Port 1\n')
    if not ssh_config.openssh():
        pytest.skip("OpenSSH's ssh is not installed")
    rc, checks = _report(tmp_path)
    assert rc == 1 and all("cannot connect to" in m and ":1)" in m for m in checks.values()), checks


def test_without_openssh_match_exec_is_refused_naming_the_line(tmp_path, monkeypatch):
    make_project(tmp_path)
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text() + "Match exec true\n  User x\n")
    monkeypatch.setattr(ssh_config, "openssh", lambda: None)
    with pytest.raises(InventoryError, match=f"ssh_config, line {_line_of(cfg, 'Match exec true')}: Match exec"):
        load_hive_project(tmp_path)


def test_without_openssh_include_and_bad_values(tmp_path, monkeypatch):
    """paramiko's reader, the fallback: Include inlined; a bad Port is that server's problem."""
    monkeypatch.setattr(ssh_config, "openssh", lambda: None)
    inc = tmp_path / "inc.conf"
    inc.write_text("Host a\n  Port 2222\n  HostName 127.0.0.9\nHost b\n  Port abc\n")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Include {inc}\nHost a b\n  User admin\n")
    o = ssh_config.resolve(str(cfg), "a")
    assert (o.hostname, o.port, o.user) == ("127.0.0.9", 2222, "admin")
    with pytest.raises(ssh_config.HostError, match="port 'abc' for b is not a number"):
        ssh_config.resolve(str(cfg), "b")


def test_latin1_comment_in_ssh_config_is_read_as_ssh_reads_it(tmp_path):
    _unreachable_project(tmp_path)
    cfg = _config(tmp_path)
    cfg.write_bytes(b"# gepr\xfcft von M\xfcller\n" + cfg.read_bytes())
    rc, checks = _report(tmp_path)
    assert rc == 1 and len(checks) == 4 and all("cannot connect to" in m for m in checks.values())


@pytest.mark.parametrize("breakage, message", [
    (lambda r: _config(r).write_bytes(_config(r).read_bytes().replace(b"Host s-hive1.pdns", b"Host s-hive1.p\xe9ns")),
     "ssh_config, line 13: a Host name that is not UTF-8 text"),
    (lambda r: (r / ".hive" / "persistents.yml").write_bytes(b"# M\xfcller\nstage: {global: staging}\n"),
     "persistents.yml, line 1: not UTF-8 text (byte 0xfc)"),
    (lambda r: (r / "inventory" / "hive.yml").write_bytes(b"name: pdns\nstages:\n  staging: {x: \xff}\n"),
     "hive.yml, line 3: not UTF-8 text (byte 0xff)"),
    (lambda r: (r / ".hive" / "persistents.yml").write_text("stage: {global: staging}\ncontext_dir: {staging: [a]}\n"),
     "persistents.yml, line 2: context_dir should be a directory path, found ['a']"),
    (lambda r: (r / ".hive" / "persistents.yml").write_text("stage: {global: staging}\ncontext_dir: {staging: 7}\n"),
     "persistents.yml, line 2: context_dir should be a directory path, found 7"),
    (lambda r: (r / ".hive" / "persistents.yml").write_text(
        "stage: {global: staging}\ndrbd_device_map:\n  staging:\n    ldap_data: 1\n    2: 3\n"),
     "persistents.yml, line 5: drbd_device_map key 2 should be a volume name, found int"),
    (lambda r: (r / ".hive" / "persistents.yml").write_text(
        "stage: {global: staging}\ndrbd_device_map:\n  staging:\n    ldap_data: one\n"),
     "persistents.yml, line 4: drbd_device_map: minor of ldap_data should be a number, found 'one'"),
    (lambda root: (root / ".hive" / "persistents.yml").write_text("stage: [oops\n"),
     "persistents.yml: not valid YAML at line 2: expected ',' or ']'"),
    (lambda root: (root / ".hive" / "staging" / "ssh_config").unlink(), "ssh_config: file not found"),
    (lambda root: (root / ".hive" / "staging" / "ssh_config").write_text("\n"), "no 'Host' entries"),
    (lambda root: (root / "inventory" / "hive.yml").write_text("stages: {production: {}}\n"),
     "stage 'staging' is not defined"),
])
def test_broken_site_file_is_one_usage_error_with_file_and_line(tmp_path, breakage, message):
    make_project(tmp_path)
    breakage(tmp_path)
    rc, out = suite("--hive-root", str(tmp_path), "-o", f"report_dir={tmp_path / 'r'}")
    assert rc == 4, out
    assert message in out and "Traceback" not in out and "INTERNALERROR" not in out
    assert len([line for line in out.splitlines() if "hive-health:" in line]) == 1, out


# --- replay bundles ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A real recording of this machine, with a second server (a copy of the first) added."""
    d = tmp_path_factory.mktemp("bundle")
    rc, out = suite("--connection", "local", "-o", f"report_dir={d / 'r'}", "--record", str(d / "rec"), "-k", "disk")
    assert rc in (0, 1), out
    rec = d / "rec"
    site = json.loads((rec / "site.json").read_text())
    first = site["site"]["servers"][0]
    site["site"]["servers"].append(dict(first, name="second"))
    (rec / "site.json").write_text(json.dumps(site))
    host = json.loads((rec / f"host-{first['name']}.json").read_text())
    (rec / "host-second.json").write_text(json.dumps(dict(host, server="second")))
    return rec


def _broken(bundle, tmp_path, name, data):
    rec = tmp_path / "rec"
    shutil.copytree(bundle, rec)
    (rec / name).write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return rec


def _site_doc(bundle):
    return json.loads((bundle / "site.json").read_text())


SITE_BREAKAGES = {
    "a list": ([], "recording format None"),
    "truncated": (lambda b: (b / "site.json").read_bytes()[:60], "not valid JSON"),
    "not UTF-8": (b'{"format": 1,\n "site": "\xfc"}', "line 2: not UTF-8 text"),
    "no servers": (lambda b: {"format": 1, "site": {"kind": "local"}}, "site.servers should be a list, found null"),
    "site not an object": ({"format": 1, "site": "x"}, "'site' should be an object"),
    "server name a number": (lambda b: _with_server(b, name=3), "site.servers[0].name should be text, found 3"),
    "roles text": (lambda b: _with_server(b, roles="hive"), "site.servers[0].roles should be a list"),
    "name leaves the directory": (lambda b: _with_server(b, name="../../etc/x"), "is not a server name"),
    "first_hive text": (lambda b: _with_site(b, first_hive="1"), "site.first_hive should be a number"),
    "kind unknown": (lambda b: _with_site(b, kind="cloud"), "site.kind should be hive, hosts or local"),
    "device map minor": (lambda b: _with_site(b, drbd_device_map={"v": "x"}), "site.drbd_device_map.v should be a number"),
    "unknown key": (lambda b: _with_site(b, color="red"), "keys this version does not know: color"),
}


def _with_site(bundle, **change):
    doc = _site_doc(bundle)
    doc["site"].update(change)
    return doc


def _with_server(bundle, **change):
    doc = _site_doc(bundle)
    doc["site"]["servers"][0].update(change)
    return doc


@pytest.mark.parametrize("case", SITE_BREAKAGES)
def test_broken_site_json_is_a_usage_error(bundle, tmp_path, case):
    data, message = SITE_BREAKAGES[case]
    rec = _broken(bundle, tmp_path, "site.json", data(bundle) if callable(data) else data)
    with pytest.raises(InventoryError, match=".*") as e:
        recording.load(str(rec))
    assert str(e.value).startswith(str(rec / "site.json")) and message in str(e.value)


HOST_BREAKAGES = {
    "a list": ([1], "the file should be an object"),
    "truncated": (lambda h: h.read_bytes()[:80], "not valid JSON"),
    "not UTF-8": (b'{"server":\n "\xfc"}', "line 2: not UTF-8 text"),
    "another server": (lambda h: dict(json.loads(h.read_text()), server="elsewhere"), "expected \"second\""),
    "no results": (lambda h: {"server": "second"}, "'results' should be an object"),
    "rc text": (lambda h: _with_result(h, rc="0"), ".rc should be a number"),
    "stdout a number": (lambda h: _with_result(h, stdout=5), ".stdout should be text"),
    "result a list": (lambda h: _with_result(h, replace=[]), "should be an object"),
    "clock text": (lambda h: dict(json.loads(h.read_text()), clock_window="soon"), "'clock_window' should be a number"),
}


def _with_result(path, replace=None, **change):
    doc = json.loads(path.read_text())
    name = next(iter(doc["results"]))
    if replace is not None:
        doc["results"][name] = replace
    else:
        doc["results"][name].update(change)
    return doc


@pytest.mark.parametrize("case", HOST_BREAKAGES)
def test_broken_host_json_makes_that_server_unreachable(bundle, tmp_path, case):
    data, message = HOST_BREAKAGES[case]
    host = bundle / "host-second.json"
    rec = _broken(bundle, tmp_path, "host-second.json", data(host) if callable(data) else data)
    site, facts = recording.load(str(rec))
    assert facts["second"].unreachable.startswith("recording host-second.json is broken")
    assert message in facts["second"].unreachable
    first = site.servers[0].name
    assert facts[first].unreachable is None and facts[first].results


def test_broken_bundle_through_the_suite(bundle, tmp_path):
    rec = _broken(bundle, tmp_path / "a", "host-second.json", b"{")
    rc, out = suite("--replay", str(rec), "-o", f"report_dir={tmp_path / 'r'}", "-k", "disk")
    doc = json.loads((tmp_path / "r" / "replay-latest-partial.json").read_text())
    by_server = {c["id"].split("[")[1].rstrip("]"): c for c in doc["checks"]}
    assert rc == 1 and "Traceback" not in out
    assert "unreachable: recording host-second.json is broken: line 1: not valid JSON" in by_server["second"]["message"]
    assert "unreachable" not in json.dumps(by_server[_site_doc(bundle)["site"]["servers"][0]["name"]])
    rec2 = _broken(bundle, tmp_path / "b", "site.json", {"format": 1, "site": []})
    rc, out = suite("--replay", str(rec2), "-o", f"report_dir={tmp_path / 'r2'}")
    assert rc == 4 and f"{rec2 / 'site.json'}: broken recording: 'site' should be an object" in out


def test_bad_line_in_a_block_for_every_server_is_a_usage_error(tmp_path):
    _unreachable_project(tmp_path)
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text() + "Host *\n  Port abc\n")
    rc, out = suite("--hive-root", str(tmp_path), "-o", f"report_dir={tmp_path / 'r'}")
    assert rc == 4 and f"{cfg}, line {_line_of(cfg, '  Port abc')}: Bad port 'abc'" in out, out


def test_every_check_reads_the_bad_entry_the_same_way(tmp_path):
    """The whole suite, not only the transport: no check errors on the broken entry."""
    _unreachable_project(tmp_path)
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text().replace("  HostName 127.0.0.11\n", "  HostName\n"))
    rc, out = suite("--hive-root", str(tmp_path), "-o", f"report_dir={tmp_path / 'r'}")
    doc = json.loads((tmp_path / "r" / "latest.json").read_text())
    assert rc == 1 and "Traceback" not in out and "INTERNALERROR" not in out
    assert {c["outcome"] for c in doc["checks"]} <= {"failed", "skipped"}, out
    hostkeys = next(c for c in doc["checks"] if c["id"].endswith("test_hostkeys[s-hive1.pdns]"))
    assert f"{cfg}, line {_line_of(cfg, '  HostName')}: no argument" in hostkeys["message"]


def test_replay_reads_no_local_file_a_bundle_names(bundle, tmp_path):
    """A bundle naming a file of this machine as a server's ssh_config: nothing of that file
    reaches the report (OpenSSH's errors about a file quote its lines)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-token-4711 value\n")
    doc = _site_doc(bundle)
    doc["site"]["kind"] = "hive"
    for s in doc["site"]["servers"]:
        s.update(spec="hive", ssh_config=str(secret), roles=["hive", "repository"])
    rec = _broken(bundle, tmp_path, "site.json", doc)
    rc, out = suite("--replay", str(rec), "-o", f"report_dir={tmp_path / 'r'}", "-rs")
    assert rc in (0, 1) and "Traceback" not in out, out
    for text in (out, (tmp_path / "r" / "replay-latest.json").read_text(),
                 (tmp_path / "r" / "replay-latest.html").read_text()):
        assert "topsecret" not in text.lower()
    assert "a replayed recording holds none" in out
