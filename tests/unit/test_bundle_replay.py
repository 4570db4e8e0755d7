"""A replay reads its recording's own files and nothing else, and says what it is: when, of which
site, by which version the recording was made; it judges ages as they were then, and a section
the recording's version did not ask for is "not in this recording", never a failure."""
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from bundle_run import crashed, hive_health
from test_cli import _unreachable_project
from hivehealth import __version__
from hivehealth.gather import recording
from hivehealth.site.inventory import InventoryError

BUNDLES = Path(__file__).resolve().parents[1] / "data" / "bundles"
LAB = BUNDLES / "lab-three-faults"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A recording this version made (of this machine: a replay needs no server)."""
    d = tmp_path_factory.mktemp("recorded")
    start = time.time()
    rc, out = hive_health("--connection", "local", "-o", f"report_dir={d / 'r'}", "--record", d / "rec",
                          cwd=d)
    assert rc in (0, 1) and not crashed(out), out
    return d / "rec", start


def _copy(rec, tmp_path) -> Path:
    shutil.copytree(rec, tmp_path / "rec")
    return tmp_path / "rec"


def _replay(tmp_path, rec, *args, cwd=None):
    rc, out = hive_health("--replay", rec, "-o", f"report_dir={tmp_path / 'r'}", "-rs", *args,
                          cwd=cwd or tmp_path)
    assert rc in (0, 1) and not crashed(out), out
    stem = "replay-latest" + ("-partial" if "-k" in args else "")    # a replay's reports, apart
    doc = json.loads((tmp_path / "r" / f"{stem}.json").read_text())
    return out, {c["id"]: c for c in doc["checks"]}, (tmp_path / "r" / f"{stem}.html").read_text()


def _host_file(rec) -> Path:
    return next(rec.glob("host-*.json"))


def _edit(path: Path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_a_recording_says_when_and_by_which_version_it_was_made(recorded, tmp_path):
    rec, start = recorded
    doc = json.loads((rec / "site.json").read_text())
    assert doc["recorded"]["by"] == f"hive-health {__version__}"
    assert start - 5 <= doc["recorded"]["at"] <= time.time()
    host = json.loads(_host_file(rec).read_text())
    assert "df_inodes" in host["sections"] and set(host["results"]) - {"clock"} <= set(host["sections"])

    out, checks, page = _replay(tmp_path, rec, "-k", "disk")
    made = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(doc["recorded"]["at"]))
    said = f"replay of a recording made {made} on the local machine by hive-health {__version__}"
    assert f"hive-health: {said}" in out.splitlines(), out          # the terminal's header
    assert f'<div class="hh-replay">{said}</div>' in page               # the verdict band
    assert f"<title>hive-health: {said}</title>" in page or f"hive-health: {said}" in page


def test_a_section_the_recordings_version_did_not_ask_for_is_not_in_this_recording(recorded, tmp_path):
    rec = _copy(recorded[0], tmp_path)
    host = _host_file(rec)
    server = json.loads(host.read_text())["server"]

    def older(doc):           # as made by a version that had no df_inodes section
        del doc["results"]["df_inodes"]
        doc["sections"].remove("df_inodes")
    _edit(host, older)
    out, checks, _ = _replay(tmp_path, rec, "-k", "inodes")
    item = checks[f"checks/test_inodes.py::test_inodes[{server}]"]
    assert item["outcome"] == "skipped", item
    assert item["message"] == (f"`df_inodes` is not in this recording (hive-health {__version__} "
                               f"did not ask for it): not checked"), item


def test_a_section_asked_for_but_not_answered_is_still_unknown(recorded, tmp_path):
    rec = _copy(recorded[0], tmp_path)
    host = _host_file(rec)
    server = json.loads(host.read_text())["server"]
    _edit(host, lambda doc: doc["results"].pop("df_inodes"))
    out, checks, _ = _replay(tmp_path, rec, "-k", "inodes")
    item = checks[f"checks/test_inodes.py::test_inodes[{server}]"]
    assert item["outcome"] == "failed" and "`df_inodes` was not gathered" in item["message"], item


def test_a_recording_made_before_recordings_said_so(tmp_path):
    """lab-three-faults (a real recording of the hive lab) predates `recorded` and `sections`: its
    date is when its servers were asked, its version unknown, its missing sections not checked."""
    out, checks, page = _replay(tmp_path, LAB)
    at = min(json.loads(p.read_text())["gathered_at"] for p in LAB.glob("host-*.json"))
    made = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(at))
    said = (f"replay of a recording made {made} on hive site lab (stage staging) by hive-health "
            f"(unknown version)")
    assert f"hive-health: {said}" in out and said in page, out
    inodes = checks["checks/test_inodes.py::test_inodes[s-hive1.lab]"]
    assert inodes["outcome"] == "skipped" and "`df_inodes` is not in this recording" in inodes["message"]
    failed = sorted(i for i, c in checks.items() if c["outcome"] == "failed")
    assert failed == ["checks/test_backup.py::test_backup[s-hive3.lab]", "checks/test_disk.py::test_disk[s-hive2.lab]",
                      "checks/test_units.py::test_units[s-hive1.lab]"], out


def test_ages_are_judged_at_the_recordings_time(tmp_path):
    """The registry backup was 30 h old when the lab was recorded; days later it still reads 30 h,
    also when the backup section carries no clock reading of its own."""
    rec = _copy(LAB, tmp_path)

    def no_clock(doc):
        r = doc["results"]["backup_files"]
        r["stdout"] = re.sub(r"(?m)^now \d+\n", "", r["stdout"])
    _edit(rec / "host-s-hive3.lab.json", no_clock)
    assert "\nnow " not in json.loads((rec / "host-s-hive3.lab.json").read_text())["results"]["backup_files"]["stdout"]
    out, checks, _ = _replay(tmp_path, rec, "-k", "backup")
    message = checks["checks/test_backup.py::test_backup[s-hive3.lab]"]["message"]
    assert "backup-hive-registry-latest.tar.gz -> backup-hive-registry-20261201062501.tar.gz is 30.0 h old" in message


def test_a_replay_keeps_no_path_the_recording_names(tmp_path):
    site, facts = recording.load(str(LAB))
    assert site.root is None and site.context_dir is None
    assert all(s.ssh_config is None for s in site.servers)
    assert site.describe() == "hive site lab (stage staging)"


def test_a_linked_site_json_is_not_read(tmp_path):
    rec = _copy(LAB, tmp_path)
    outside = tmp_path / "outside.json"
    (rec / "site.json").rename(outside)
    (rec / "site.json").symlink_to(outside)
    with pytest.raises(InventoryError, match=r"site.json: cannot read: it is a symbolic link: a recording's "
                                             r"files are read from the recording itself"):
        recording.load(str(rec))
    rc, out = hive_health("--replay", rec, "-o", f"report_dir={tmp_path / 'r'}", cwd=tmp_path)
    assert rc == 4 and "it is a symbolic link" in out and not crashed(out), out


def test_a_host_file_that_is_a_fifo_a_link_or_too_large_makes_that_server_unreachable(tmp_path):
    rec = _copy(LAB, tmp_path)
    (rec / "host-s-hive0.lab.json").unlink()
    os.mkfifo(rec / "host-s-hive0.lab.json")                  # opened to read, it would block
    (rec / "host-s-hive1.lab.json").rename(tmp_path / "outside.json")
    (rec / "host-s-hive1.lab.json").symlink_to(tmp_path / "outside.json")
    site, facts = recording.load(str(rec), output_max=1024)   # each host file is over 8 x 1 KiB
    assert facts["s-hive0.lab"].unreachable == "recording host-s-hive0.lab.json: cannot read: not a regular file"
    assert facts["s-hive1.lab"].unreachable.startswith(
        "recording host-s-hive1.lab.json: cannot read: it is a symbolic link")
    assert re.fullmatch(r"recording host-s-hive2.lab.json: cannot read: \d+ bytes, more than a recording's "
                        r"file holds \(8192 at most\)", facts["s-hive2.lab"].unreachable)


def test_an_output_over_section_output_max_is_unreadable_as_in_a_live_run(tmp_path):
    site, facts = recording.load(str(LAB), output_max=8192)
    big = [r for f in facts.values() for r in f.results.values() if r.unreadable]
    assert [r.name for r in big] == ["nodes_inspect"] and all(r.stdout == "" and r.unreadable.startswith("output too large (") for r in big)
    site, facts = recording.load(str(LAB))
    assert not any(r.unreadable for f in facts.values() for r in f.results.values())


def test_json_nested_too_deeply_in_a_recordings_file(tmp_path):
    rec = _copy(LAB, tmp_path)
    (rec / "site.json").write_text('{"format": 1, "site": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(InventoryError, match="broken recording: values nested too deeply"):
        recording.load(str(rec))


def test_a_hostname_with_an_empty_or_overlong_label_makes_that_server_unreachable(tmp_path):
    """A HostName in the site's ssh_config such as `s-hive1..pdns` or one with a 70-character label
    are refused by the resolver's IDNA encoding before any lookup; the server is unreachable
    naming the name, the others are checked, and the page is written."""
    site = _unreachable_project(tmp_path / "site")
    cfg = site / ".hive" / "staging" / "ssh_config"
    long = "s-hive2." + "a" * 70 + ".pdns"
    cfg.write_text(cfg.read_text().replace("HostName 127.0.0.11\n", "HostName s-hive1..pdns\n")
                   .replace("HostName 127.0.0.12\n", f"HostName {long}\n"))
    rc, out = hive_health("--hive-root", site, "-o", f"report_dir={tmp_path / 'r'}", "-k", "disk", cwd=tmp_path)
    assert rc == 1 and not crashed(out), out
    doc = json.loads((tmp_path / "r" / "latest-partial.json").read_text())
    message = {c["subject"]: c["message"] for c in doc["checks"]}
    for server, name in (("s-hive1.pdns", "s-hive1..pdns"), ("s-hive2.pdns", long)):
        assert (f"unreachable: HostName '{name}' is not a host name: a part between its dots is empty or "
                f"longer than 63 characters") in message[server], message[server]
    assert "Connection refused" in message["s-hive0.pdns"]
    assert (tmp_path / "r" / "latest-partial.html").is_file()
