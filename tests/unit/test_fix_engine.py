"""The --fix engine end to end on one machine: the real planner, lock, fix count, audit and step
scripts, run by a real shell; only the servers are a directory (a stub systemctl and sudo that
log their argv and keep each server's failed units in a JSON file).

Two fixers in sequence, an unknown state, a lock the run cannot use, a step run by a shell."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest

import hivehealth.plugin  # noqa: F401  (imported before a test drops root: nobody cannot read every path)
from hivehealth.checks.test_units import failed_units
from hivehealth.fixes import units as unit_fixes
from hivehealth.judge.context import Context
from hivehealth.gather.probe import CommandResult, HostFacts
from hivehealth.site.inventory import Server, Site
from hivehealth.remedy.lock import SEQ_NAME, read_sequence
from hivehealth.remedy.audit import operator
from hivehealth.remedy.runner import RemedyPlugin
from hivehealth.judge.verdict import UNKNOWN
from test_remedies import units_show

STUB_SYSTEMCTL = """#!{python}
import json, os, sys
world, host = os.environ["HH_WORLD"], os.environ["HH_HOST"]
with open(os.environ["HH_ARGV_LOG"], "a") as log:
    log.write(json.dumps([host] + sys.argv[1:]) + "\\n")
args = [a for a in sys.argv[1:] if a != "--"]
if args and args[0] in ("restart", "reset-failed"):
    with open(world) as f:
        state = json.load(f)
    state[host] = [u for u in state.get(host, []) if u not in args[1:]]
    with open(world, "w") as f:
        json.dump(state, f)
"""
STUB_SUDO = '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n'
INI = {"disk_usage_max": "80", "command_timeout": "10", "fix_lock_wait": "5", "report_dir": "reports",
       "service_stable_seconds": "30", "units_ignore": [], "units_not_needed": ["dnf-makecache.timer"]}


class Servers:
    """The site's servers as files: which units are failed on each, and every argv the stubs saw."""

    def __init__(self, tmp_path, failed: dict):
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for name, text in (("systemctl", STUB_SYSTEMCTL.format(python=sys.executable)), ("sudo", STUB_SUDO)):
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        self.world = tmp_path / "world.json"
        self.world.write_text(json.dumps(failed))
        self.argv_log = tmp_path / "argv.log"
        self.argv_log.touch()

    def failed(self, host) -> list:
        return json.loads(self.world.read_text()).get(host, [])

    def calls(self) -> list:
        return [json.loads(line) for line in self.argv_log.read_text().splitlines()]

    def run(self, server, script, timeout):
        """What the SSH pool does: the step's script in a shell on that server."""
        env = dict(os.environ, PATH=f"{self.bin}:{os.environ['PATH']}", HH_WORLD=str(self.world),
                   HH_HOST=server.name, HH_ARGV_LOG=str(self.argv_log))
        p = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, timeout=timeout)
        return types.SimpleNamespace(rc=p.returncode, stdout=p.stdout, stderr=p.stderr)


class Run:
    """One hive-health --fix process: its own facts, gathered when it starts."""

    def __init__(self, servers: Servers, site: Site, tmp_path, allow_risky=True, unknown=()):
        self.servers, self.site, self.unknown = servers, site, set(unknown)
        self.gathers = 0
        self.config = types.SimpleNamespace(
            option=types.SimpleNamespace(fix_plan=False, allow_risky=allow_risky, allow_destructive=None),
            getini=lambda n: INI[n], inipath=tmp_path / "pytest.ini", stash={},
            pluginmanager=types.SimpleNamespace(hasplugin=lambda name: False))
        self.plugin = RemedyPlugin(self.config, self, operator())
        self.plugin.facts_seq = read_sequence(tmp_path / "ctx")      # what pytest_sessionstart reads
        self.pool = servers
        self.facts = {}
        self.regather(site.servers)
        self.gathers = 0

    # the parts of hivehealth.run.state.State the engine uses
    def context(self):
        return Context(self.site, self.facts, self.config.getini)

    def regather(self, servers):
        self.gathers += 1
        for s in servers:
            if s.name in self.unknown:
                r = CommandResult("units_failed", "systemctl list-units", 124, "", "timed out")
            else:
                units = [{"unit": u, "load": "loaded", "active": "failed", "sub": "failed"}
                         for u in self.servers.failed(s.name)]
                r = CommandResult("units_failed", "systemctl list-units", 0, json.dumps(units), "")
            # what the restart remedy's guard reads: what each failed unit pulls in
            shown = units_show(*self.servers.failed(s.name))
            self.facts[s.name] = HostFacts(s.name, {"units_failed": r, "units_show": shown})

    def fix(self, server):
        request = types.SimpleNamespace(
            node=types.SimpleNamespace(nodeid=f"checks/test_units.py::test_units[{server.name}]",
                                       add_report_section=lambda *a: None, user_properties=[]),
            getfixturevalue=lambda name: getattr(unit_fixes, name).remedy)
        verdict = self.context().judge(failed_units, server)
        return self.plugin.remedy(request, self, failed_units, server, verdict)


def _site(tmp_path):
    s = Site("hive", [Server("s-hive0.lab", frozenset({"hive", "first_hive"}), "hive"),
                      Server("s-hive1.lab", frozenset({"hive"}), "hive")], name="lab", stage="staging",
             context_dir=str(tmp_path / "ctx"), drbd_device_map={"ldap_data": 1})
    (tmp_path / "ctx").mkdir(exist_ok=True)
    return s


ESCAPED = r"systemd-fsck@dev-disk-by\x2duuid-1234.service"


def test_escaped_unit_name_reaches_systemctl_exactly(tmp_path):
    servers = Servers(tmp_path, {"s-hive1.lab": [ESCAPED]})
    site = _site(tmp_path)
    run = Run(servers, site, tmp_path)
    after = run.fix(site.servers[1])
    assert after.ok, after.message()
    assert servers.calls() == [["s-hive1.lab", "restart", "--", ESCAPED]]
    audit = [json.loads(line) for line in (tmp_path / "reports" / "audit.jsonl").read_text().splitlines()]
    assert audit[0]["command"] == "sudo systemctl restart -- 'systemd-fsck@dev-disk-by\\x2duuid-1234.service'"


def test_hostile_unit_name_is_refused_and_nothing_runs(tmp_path):
    hostile = "foo$(touch /tmp/x).service"
    mark = tmp_path / "x"
    hostile = hostile.replace("/tmp/x", str(mark))
    servers = Servers(tmp_path, {"s-hive1.lab": [hostile]})
    site = _site(tmp_path)
    after = Run(servers, site, tmp_path).fix(site.servers[1])
    assert not after.ok
    assert f"restart_failed_units refused: systemd unit {hostile!r} is not a valid name" in after.message()
    assert servers.calls() == [] and not mark.exists()
    assert read_sequence(tmp_path / "ctx") == 0, "a refused remedy is not a fix"


def test_second_fixer_regathers_when_another_fixed_since_its_facts(tmp_path):
    servers = Servers(tmp_path, {"s-hive1.lab": ["app.service"]})
    site = _site(tmp_path)
    first = Run(servers, site, tmp_path)
    second = Run(servers, site, tmp_path)          # gathered at the same time: it sees app.service failed
    assert not second.context().judge(failed_units, site.servers[1]).ok
    assert first.fix(site.servers[1]).ok
    assert read_sequence(tmp_path / "ctx") == 1
    after = second.fix(site.servers[1])
    assert second.gathers == 1, "the second fixer planned on facts from before the first fix"
    assert after.ok and "healthy once the other fixer was done" in after.message()
    assert servers.calls() == [["s-hive1.lab", "restart", "--", "app.service"]], "restarted twice"
    # a run that gathered after the fix has nothing to look again at
    third = Run(servers, site, tmp_path)
    servers.world.write_text(json.dumps({"s-hive1.lab": ["other.service"]}))
    third.regather(site.servers)
    third.gathers = 0
    assert third.fix(site.servers[1]).ok
    assert third.gathers == 1, "only the re-check after its own fix"
    assert read_sequence(tmp_path / "ctx") == 2


def test_own_fix_moves_the_count_so_the_next_check_regathers(tmp_path):
    servers = Servers(tmp_path, {"s-hive0.lab": ["a.service"], "s-hive1.lab": ["b.service"]})
    site = _site(tmp_path)
    run = Run(servers, site, tmp_path)
    assert run.fix(site.servers[0]).ok
    gathers = run.gathers
    assert run.fix(site.servers[1]).ok
    assert run.gathers == gathers + 2, "look again (all servers), then the re-check after the fix"


def test_unknown_state_gets_no_change(tmp_path):
    servers = Servers(tmp_path, {"s-hive1.lab": ["app.service"]})
    site = _site(tmp_path)
    run = Run(servers, site, tmp_path, unknown={"s-hive1.lab"})
    before = run.context().judge(failed_units, site.servers[1])
    assert before.status == UNKNOWN
    after = run.fix(site.servers[1])
    assert after.status == UNKNOWN
    assert "nothing was changed: the state is unknown" in after.message()
    assert servers.calls() == [] and read_sequence(tmp_path / "ctx") == 0


def test_disk_unknown_runs_only_the_read_only_diagnosis(tmp_path):
    from hivehealth.checks.test_disk import disk_usage
    from hivehealth.fixes import disk as disk_fixes
    servers = Servers(tmp_path, {})
    site = _site(tmp_path)
    run = Run(servers, site, tmp_path)
    run.facts["s-hive0.lab"] = HostFacts("s-hive0.lab", {"df": CommandResult("df", "df -P", 124, "", "timed out")})
    scripts = []
    real = servers.run
    servers.run = lambda server, script, timeout: scripts.append(script) or real(server, script, timeout)
    request = types.SimpleNamespace(
        node=types.SimpleNamespace(nodeid="checks/test_disk.py::test_disk[s-hive0.lab]",
                                   add_report_section=lambda *a: None, user_properties=[]),
        getfixturevalue=lambda name: getattr(disk_fixes, name).remedy)
    verdict = run.context().judge(disk_usage, site.servers[0])
    assert verdict.status == UNKNOWN
    run.regather = lambda servers_: None        # the df still times out when looked at again
    after = run.plugin.remedy(request, run, disk_usage, site.servers[0], verdict)
    assert after.status == UNKNOWN and "nothing was changed: the state is unknown" in after.message()
    assert scripts and not any("prune" in s for s in scripts), scripts
    assert all(disk_fixes.BIGGEST_CONSUMERS.shell() in s for s in scripts)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX only")
def test_lock_owned_by_another_user_is_a_clear_message(tmp_path):
    if os.geteuid() == 0:
        # root opens any file: the run is nobody's, the lock root's (in a directory nobody can reach)
        tmp_path = Path(tempfile.mkdtemp(prefix="hh-lock-"))
        os.chmod(tmp_path, 0o755)
    servers = Servers(tmp_path, {"s-hive1.lab": ["app.service"]})
    site = _site(tmp_path)
    lock = tmp_path / "ctx" / "hive-health.lock"
    lock.write_text("")
    if os.geteuid() == 0:
        (tmp_path / "reports").mkdir()
        for p in [tmp_path, *tmp_path.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        os.chmod(servers.world, 0o666)
        os.chmod(servers.argv_log, 0o666)
        for name in ("systemctl", "sudo"):
            os.chmod(servers.bin / name, 0o755)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:                                            # pragma: no cover (child)
            os.close(r)
            try:
                os.setgid(65534)
                os.setuid(65534)
                for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
                    os.environ[var] = "nobody"
                msg = Run(servers, site, tmp_path).fix(site.servers[1]).message()
            except BaseException as e:                          # noqa: BLE001
                import traceback
                msg = "crashed: " + traceback.format_exc()
            os.write(w, msg.encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            message = f.read()
        os.waitpid(pid, 0)
        owner = "root (uid 0)"
    else:
        lock.chmod(0o444)
        message = Run(servers, site, tmp_path).fix(site.servers[1]).message()
        import pwd
        owner = f"{pwd.getpwuid(os.getuid()).pw_name} (uid {os.getuid()})"
    assert f"--fix: not run: cannot use the fix lock {lock}" in message, message
    assert f"owned by {owner}" in message and "Permission denied" in message
    assert servers.failed("s-hive1.lab") == ["app.service"] and servers.calls() == []
    if os.geteuid() == 0:
        shutil.rmtree(tmp_path)


def test_fix_count_file_that_cannot_be_read_means_look_again(tmp_path):
    (tmp_path / SEQ_NAME).write_text("garbage")
    assert read_sequence(tmp_path) is None
    (tmp_path / SEQ_NAME).write_text('{"seq": 7}')
    assert read_sequence(tmp_path) == 7
    assert read_sequence(tmp_path / "missing") == 0
