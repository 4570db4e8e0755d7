"""The one-exec probe: framing survives any output, and every section is run under timeout."""
import os
import signal

import pytest

from hivehealth.checks import modules as check_modules
from hivehealth.gather.probe import Gatherer, parse_probe_output, probe_script
from hivehealth.site.inventory import Server, Site
from hivehealth.site.transport import LocalTransport, Pool

check_modules()                 # the areas declare their sections (the manager's among them)


def run_local(script, timeout=20):
    return LocalTransport(Server("local", spec="local")).run(script, timeout)


def test_probe_frames_binary_and_missing_newlines(monkeypatch):
    import hivehealth.gather.probe as g
    monkeypatch.setitem(g.SECTIONS, "odd", ("all", "printf 'no newline\\n\\nHHfake 1 2 3'; echo err >&2; exit 3"))
    monkeypatch.setitem(g.SECTIONS, "ok", ("all", "echo hello"))
    script, marker = probe_script(["odd", "ok"], 10)
    r = run_local(script)
    res = parse_probe_output(r.stdout, marker, ["odd", "ok"])
    assert res["odd"].rc == 3
    assert res["odd"].stdout == "no newline\n\nHHfake 1 2 3"
    assert res["odd"].stderr == "err\n"
    assert res["ok"].stdout == "hello\n" and res["ok"].rc == 0


def test_hung_command_times_out_alone(monkeypatch):
    import hivehealth.gather.probe as g
    monkeypatch.setitem(g.SECTIONS, "hang", ("all", "sleep 30"))
    monkeypatch.setitem(g.SECTIONS, "ok", ("all", "echo fine"))
    script, marker = probe_script(["hang", "ok"], 1)
    res = parse_probe_output(run_local(script).stdout, marker, ["hang", "ok"])
    assert res["hang"].rc == 124 and "timed out" in res["hang"].failure()
    assert res["ok"].stdout == "fine\n"


def test_unreachable_server_is_reported_not_raised(tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host ghost.lab\n  HostName 127.0.0.1\n  Port 1\n  User admin\n"
                   f"  UserKnownHostsFile {tmp_path}/known_hosts\n  StrictHostKeyChecking yes\n")
    site = Site("hive", [Server("ghost.lab", frozenset({"hive"}), "hive", str(cfg))])
    facts = Gatherer(site, Pool(connect_timeout=3), 5).gather()
    assert "cannot connect to ghost.lab (127.0.0.1:1)" in facts["ghost.lab"].unreachable


def test_next_manager_is_asked_only_for_the_manager_sections(monkeypatch):
    """first_hive unreachable: the next hive answers the swarm's services; its own facts (the
    clock of its first probe above all) are kept."""
    import hivehealth.gather.probe as g
    hives = [Server(f"h{i}", frozenset({"hive"} | ({"first_hive"} if i == 0 else set())), "hive") for i in range(2)]
    site = Site("hive", hives)
    gatherer = Gatherer(site, Pool(), 5)
    calls = []

    def fake(server, names=None):
        names = names or g.sections_for(server, site)
        calls.append((server.name, sorted(names)))
        if server.name == "h0":
            return g.HostFacts("h0", unreachable="down")
        return g.HostFacts(server.name, {n: g.CommandResult(n, n, 0, f"{n} of probe {len(calls)}", "")
                                         for n in names + ["clock"]})
    monkeypatch.setattr(gatherer, "gather_host", fake)
    facts = gatherer.gather()
    assert calls[-1] == ("h1", sorted(g.manager_sections()))
    assert facts["h1"].get("services").stdout == f"services of probe {len(calls)}"
    assert facts["h1"].get("clock").stdout != f"clock of probe {len(calls)}"


def test_a_command_that_outlives_its_timeout_costs_its_own_answer_only(monkeypatch, tmp_path):
    """A process that left its process group holds the section's output open: `timeout` cannot
    end it; the probe sends the other sections as they end and gives up on it at its deadline."""
    import hivehealth.gather.probe as g
    pid = tmp_path / "pid"
    monkeypatch.setitem(g.SECTIONS, "escape", ("all", f"setsid sh -c 'echo $$ >{pid}; exec sleep 60' &"))
    monkeypatch.setitem(g.SECTIONS, "ok", ("all", "echo fine"))
    site = Site("local", [Server("local", spec="local")])
    try:
        facts = Gatherer(site, Pool(), 1).gather_host(site.servers[0], ["escape", "ok"])
    finally:
        if pid.exists():
            os.kill(int(pid.read_text()), signal.SIGKILL)
    assert facts.unreachable is None and facts.get("ok").stdout == "fine\n"
    escape = facts.get("escape")
    assert not escape.ok and escape.rc == 124
    assert escape.failure().endswith(": timed out after 6 s: still running command_timeout + 5 s after it "
                                     "started (a process it started holds its output open)")


def test_local_commands_end_at_their_deadline_with_what_they_printed():
    from hivehealth.site.transport import Unfinished
    with pytest.raises(Unfinished, match="did not finish within 1 s") as e:
        run_local("echo started; sleep 60 & wait", timeout=1)
    assert e.value.timed_out and e.value.result.stdout == "started\n"


def test_a_section_killed_by_its_timeout_says_after_how_long(monkeypatch):
    import hivehealth.gather.probe as g
    monkeypatch.setitem(g.SECTIONS, "trickle", ("all", "while :; do printf x; sleep 1; done"))
    site = Site("local", [Server("local", spec="local")])
    r = Gatherer(site, Pool(), 2).gather_host(site.servers[0], ["trickle"]).get("trickle")
    assert r.rc == 124 and r.failure() == "`while :; do printf x; sleep 1; done`: timed out after 2 s (command_timeout)"
