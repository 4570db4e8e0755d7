"""Commands printed for an operator to paste are built like the ones the suite runs: a name from
a server, the site or a bundle stays one argument, whatever it holds. Each printed command is
pasted into a real shell (sh) with stub programs that print their argv: the hostile name arrives
as one argument and nothing it holds runs."""
import json
import shlex
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from hivehealth.gather.probe import CommandResult, HostFacts
from hivehealth.judge.context import Context
from hivehealth.shell import command, pipeline, sequence
from hivehealth.site.inventory import Server, Site
from test_cli import newest_report, suite

DATA = Path(__file__).resolve().parents[1] / "data"
LAB = DATA / "bundles" / "lab-three-faults"
# tests/data/captured/zabbix/df_inodes-hive2-lab-healthy.txt: df -P -T -i on the lab (REAL)
DF_INODES = (DATA / "captured" / "zabbix" / "df_inodes-hive2-lab-healthy.txt").read_text()


def hostile(marker: Path) -> str:
    """A name that, pasted unquoted, runs `touch <marker>` (as it could fetch and run a script)."""
    return f"/home/bob/$(touch${{IFS}}{marker})`touch {marker}`;touch {marker};x"


STUB = """#!{python}
import json, os, sys
with open(os.environ["HH_PASTED"], "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0])] + sys.argv[1:]) + "\\n")
"""


def paste(tmp_path, line: str, programs) -> list[list[str]]:
    """Run `line` in sh as an operator's paste would, in tmp_path; `programs` are stubs that
    print their argv, every other program (touch) the real one."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "pasted.jsonl"
    log.write_text("")
    for name in programs:
        (bin_dir / name).write_text(STUB.format(python=sys.executable))
        (bin_dir / name).chmod(0o755)
    subprocess.run(["/bin/sh", "-c", line], env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HH_PASTED": str(log)},
                   cwd=tmp_path, timeout=30, capture_output=True)
    # the programs of a pipeline run at once: their order in the log is not theirs on the line
    return sorted(json.loads(x) for x in log.read_text().splitlines())


def test_the_helper_keeps_every_argument_one_word(tmp_path):
    marker = tmp_path / "ran"
    name = hostile(marker)
    line = sequence(pipeline(command("du", "-s", name, sudo=True), command("sort", "-n")),
                    command("journalctl", "-u", name))
    assert paste(tmp_path, line, ["sudo", "sort", "journalctl"]) == sorted([
        ["sudo", "du", "-s", name], ["sort", "-n"], ["journalctl", "-u", name]])
    assert not marker.exists()


def _replay_bundle(tmp_path, target: str) -> Path:
    """The lab's recording with one more real df -i row: a FUSE mount named `target`, 99 % of
    its inodes in use (and in findmnt's table)."""
    bundle = tmp_path / "bundle"
    shutil.copytree(LAB, bundle)
    host = bundle / "host-s-hive1.lab.json"
    d = json.loads(host.read_text())
    rows = DF_INODES + f"bob@x:/      fuse.sshfs 1000000 990000 10000 99% {target}\n"
    d["results"]["df_inodes"] = CommandResult("df_inodes", "$SUDO df -P -T -i", 0, rows, "").to_dict()
    table = json.loads(d["results"]["findmnt"]["stdout"])
    table["filesystems"].append({"target": target, "source": "bob@x:/", "fstype": "fuse.sshfs", "fsroot": "/"})
    d["results"]["findmnt"]["stdout"] = json.dumps(table) + "\n"
    host.write_text(json.dumps(d))
    return bundle


def test_a_replayed_mount_name_reaches_the_look_command_as_one_argument(tmp_path):
    marker = tmp_path / "ran"
    target = hostile(marker)
    bundle = _replay_bundle(tmp_path, target)
    rc, out = suite("--replay", str(bundle), "-k", "inodes", "-o", f"report_dir={tmp_path / 'r'}")
    doc = newest_report(tmp_path / "r")
    [entry] = [c for c in doc["checks"] if c["id"].endswith("test_inodes[s-hive1.lab]")]
    [look] = [n for n in entry["notes"] if n.startswith("look: ")]
    line = look.removeprefix("look: ").split(" (the directories")[0]
    assert paste(tmp_path, line, ["sudo", "sort", "tail"]) == sorted([
        ["sudo", "du", "--inodes", "-x", "-d", "2", target], ["sort", "-n"], ["tail"]]), line
    assert not marker.exists()


def _site():
    return Site("hive", [Server(f"s-hive{i}.lab", frozenset({"hive"} | ({"first_hive"} if i == 0 else set())),
                                "hive") for i in range(3)], name="lab", stage="staging",
                context_dir="/home/admin/site/.hive/$(touch x)", drbd_device_map={})


def _ctx(results, ini=None):
    site = _site()
    facts = {s.name: HostFacts(s.name, dict(results)) for s in site.servers}
    values = {"units_ignore": [], "unit_restart_window": "180", "volume_usage_max": "90", **(ini or {})}
    return Context(site, facts, lambda n: values[n])


def _messages(v) -> str:
    return v.message() + "\n" + "\n".join(v.notes)


def test_hostkeys_recovery_quotes_the_bundles_context_dir():
    from hivehealth.checks.test_hostkeys import recovery
    text = recovery(types.SimpleNamespace(site=_site()), _site().servers[1])
    assert "rm '/home/admin/site/.hive/$(touch x)/known_hosts'" in text, text


@pytest.mark.parametrize("unit", ["a$(touch X).service", "b;touch X.service", "c`touch X`.service"])
def test_unit_names_in_look_commands_are_quoted(tmp_path, unit):
    from hivehealth.checks.test_units import failed_units
    listed = json.dumps([{"unit": unit, "load": "not-found", "active": "failed", "sub": "failed"},
                         {"unit": "r" + unit, "load": "loaded", "active": "activating", "sub": "auto-restart"}])
    show = (f"Id={unit}\nResult=exit-code\n\nId=r{unit}\nResult=exit-code\nNRestarts=5\n")
    v = failed_units(_ctx({"units_failed": CommandResult("units_failed", "x", 0, listed, ""),
                           "units_show": CommandResult("units_show", "x", 0, show, "")}), _site().servers[0])
    text = _messages(v)
    assert command("systemctl", "reset-failed", "--", unit, sudo=True) in text, text
    assert command("journalctl", "-u", "r" + unit) in text, text
    line = command("journalctl", "-u", "r" + unit)
    assert paste(tmp_path, line, ["journalctl"]) == [["journalctl", "-u", "r" + unit]]
    assert not (tmp_path / "X").exists()


def test_stale_node_removal_command_quotes_the_node_id():
    from hivehealth.checks.test_swarm import node_state
    rows = [{"ID": "id0", "Hostname": "s-hive0", "Status": "Ready", "Availability": "Active",
             "ManagerStatus": "Leader", "Self": True, "EngineVersion": "26"},
            {"ID": "x;reboot", "Hostname": "s-hive0", "Status": "Down", "Availability": "Active",
             "ManagerStatus": "Unreachable", "Self": False, "EngineVersion": "26"}]
    c = _ctx({"nodes": CommandResult("nodes", "docker node ls", 0, "\n".join(map(json.dumps, rows)) + "\n", "")})
    text = _messages(node_state(c, "s-hive0"))
    assert "docker node demote 'x;reboot'; docker node rm 'x;reboot'" in text, text


def test_fix_commands_in_the_report_are_built_by_the_same_helper():
    from hivehealth.report.page import fix_command
    site = types.SimpleNamespace(root="/home/admin/my site", stage="staging")
    entry = {"id": "checks/test_disk.py::test_disk[s-hive0.lab]", "check": "disk_usage"}
    line = fix_command(site, "/opt/hive health", entry, [entry], "risky")
    assert shlex.split(line) == ["/opt/hive health/bin/hive-health", "--hive-root", "/home/admin/my site",
                                 "--stage", "staging", "--fix", "--allow-risky", "-k", "test_disk[s-hive0.lab]"]
