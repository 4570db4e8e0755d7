"""One command's huge output never fills the mother's memory: the probe keeps at most
section_output_max of each section on the server, the channel reader keeps no more than that
whatever the server sends, and the section is unknown with "output too large"."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hivehealth.checks import modules as check_modules
from hivehealth.gather.probe import CommandResult, line_limits, parse_probe_output, probe_script
from hivehealth.site.transport import Budget, Kept, OutputFull
from loopback_sshd import needs_sshd, sshds  # noqa: F401  (fixture)
from test_cli import suite

REPO = Path(__file__).resolve().parents[2]
check_modules()                 # the areas declare their sections (df, ...)

# Run in a fresh interpreter so that its peak RSS is this gathering's alone. VmHWM, not
# ru_maxrss: Linux carries the parent's high-water mark into ru_maxrss across fork and exec, so
# under a large pytest process it would measure pytest.
MEASURE = r"""
import json, re, sys
sys.path.insert(0, sys.argv[1])
import hivehealth.gather.probe as g
from hivehealth.site.inventory import Server, Site
from hivehealth.site.transport import Pool
g.SECTIONS["big"] = ("all", "head -c 200M /dev/zero")
g.SECTIONS["small"] = ("all", "echo fine")
server = Server(sys.argv[3], frozenset({"hive"}), sys.argv[2], sys.argv[4] or None)
facts = g.Gatherer(Site("hive", [server]), Pool(10), 120).gather_host(server, ["big", "small"])
big, small = facts.get("big"), facts.get("small")
hwm_kib = int(re.search(r"^VmHWM:\s+(\d+) kB", open("/proc/self/status").read(), re.M).group(1))
print(json.dumps({"peak_rss_mib": hwm_kib / 1024,
                  "unreachable": facts.unreachable, "big_ok": big.ok, "big_kept": len(big.stdout),
                  "big_why": big.failure(), "small": small.stdout}))
"""


def measure(spec, name, cfg=""):
    p = subprocess.run([sys.executable, "-c", MEASURE, str(REPO), spec, name, cfg],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _assert_capped(m):
    assert m["unreachable"] is None and m["small"] == "fine\n"
    assert not m["big_ok"] and m["big_kept"] == 0
    assert "output too large (200 MiB; section_output_max is 8 MiB)" in m["big_why"]
    # a bare interpreter with paramiko is ~40 MiB; the output alone would be 200 MiB
    assert m["peak_rss_mib"] < 120, m


@needs_sshd
def test_200_mib_section_over_ssh_keeps_memory_flat(tmp_path, sshds):
    d = sshds("big")
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{d.port} ssh-ed25519 {d.public_key()}\n")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host big.lab\n  HostName 127.0.0.1\n  Port {d.port}\n  User {d.user}\n"
                   f"  IdentityFile {sshds.client_key}\n  UserKnownHostsFile {kh}\n  StrictHostKeyChecking yes\n")
    m = measure("hive", "big.lab", str(cfg))
    print("peak RSS over SSH with a 200 MiB section:", m["peak_rss_mib"], "MiB")
    _assert_capped(m)


def test_200_mib_section_locally_keeps_memory_flat():
    m = measure("local", "local")
    print("peak RSS locally with a 200 MiB section:", m["peak_rss_mib"], "MiB")
    _assert_capped(m)


def flood(marker, size, chunk=65536):
    """A server that ignores the probe's cap: one frame line of `size` bytes, then a good one,
    in the pieces a channel delivers."""
    yield f"{marker} df 0 {size} ".encode()
    for _ in range(size // chunk):
        yield b"A" * chunk
    yield f" \n{marker} uname 0 3 {'b2sK'}\n".encode()


def test_channel_keeps_no_more_than_the_limit_whatever_the_server_sends():
    names, cap = ["df", "uname"], 1024 * 1024
    line_max, total_max = line_limits(cap, 4 * cap)
    budget = Budget(total_max)
    kept = Kept(line_max, budget)
    for piece in flood("HHx", 50 * cap):
        kept.feed(piece)
    out = kept.text()
    assert len(out) <= line_max + 200 and budget.used <= total_max
    res = parse_probe_output(out, "HHx", names, cap)
    assert res["df"].unreadable == "output too large (50 MiB; section_output_max is 1 MiB)"
    assert res["uname"].ok and res["uname"].stdout == "ok\n"


def test_whole_answer_past_its_cap_stops_at_the_cap():
    budget = Budget(10_000)
    out, err = Kept(4096, budget), Kept(None, budget)
    with pytest.raises(OutputFull):
        for _ in range(100):
            out.feed(b"x" * 100 + b"\n")
            err.feed(b"e" * 100)
    assert budget.used <= 10_000 and len(out.text()) + len(err.text()) <= 10_000


def test_cut_or_garbled_frame_is_unknown_not_a_crash():
    res = parse_probe_output("HHx df 0 100 AAAA \nHHx uname 0 3 !!!! \n", "HHx", ["df", "uname"])
    assert not res["df"].ok and "incomplete or garbled" in res["df"].failure()
    assert not res["uname"].ok and "incomplete or garbled" in res["uname"].failure()


def test_probe_cap_counts_the_whole_output_and_sends_none_of_it(monkeypatch):
    import hivehealth.gather.probe as g
    from test_gather import run_local
    monkeypatch.setitem(g.SECTIONS, "big", ("all", "head -c 5000 /dev/zero; echo oops >&2; exit 3"))
    monkeypatch.setitem(g.SECTIONS, "edge", ("all", "head -c 4096 /dev/zero"))
    script, marker = probe_script(["big", "edge"], 10, output_max=4096)
    r = run_local(script)
    res = parse_probe_output(r.stdout, marker, ["big", "edge"], 4096)
    assert res["big"].rc == 3 and res["big"].stderr == "oops\n" and res["big"].stdout == ""
    assert res["big"].unreadable == "output too large (5000 bytes; section_output_max is 4096 bytes)"
    assert res["edge"].ok and res["edge"].stdout == "\0" * 4096
    assert len(r.stdout) < 4096 * 2


def test_ini_cap_makes_the_check_unknown(tmp_path):
    # df padded to 3000 bytes (a plugin of this test, loaded by the suite run with -p)
    (tmp_path / "bigdf.py").write_text(
        "import hivehealth.checks.test_disk\n"     # the area that declares df
        "import hivehealth.gather.probe as g\n"
        "g.SECTIONS['df'] = ('all', g.SECTIONS['df'][1] + '; head -c 3000 /dev/zero')\n")
    rc, out = suite("-p", "bigdf", "--connection", "local", "-k", "disk", "-o", "section_output_max=2K",
                    "-o", f"report_dir={tmp_path}", str(REPO / "hivehealth" / "checks"), cwd=tmp_path)
    doc = json.loads((tmp_path / "latest-partial.json").read_text())
    assert rc == 1, out
    assert "output too large (" in doc["checks"][0]["message"] and "section_output_max is 2048 bytes" in out


def test_bad_ini_cap_is_a_usage_error(tmp_path):
    rc, out = suite("--connection", "local", "-o", "section_output_max=lots", "-o", f"report_dir={tmp_path}")
    assert rc == 4 and "section_output_max = 'lots' is not a size" in out and "Traceback" not in out


def test_recorded_result_without_the_field_still_loads():
    assert CommandResult(**{"name": "df", "command": "df", "rc": 0, "stdout": "", "stderr": ""}).ok


def _ssh_server(tmp_path, d, key, name="big.lab"):
    from hivehealth.site.inventory import Server
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{d.port} ssh-ed25519 {d.public_key()}\n")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host {name}\n  HostName 127.0.0.1\n  Port {d.port}\n  User {d.user}\n"
                   f"  IdentityFile {key}\n  UserKnownHostsFile {kh}\n  StrictHostKeyChecking yes\n")
    return Server(name, frozenset({"hive"}), "hive", str(cfg))


def _spy_budgets(monkeypatch, module):
    """Every Budget `module` makes, recorded: what was kept is what they handed out."""
    budgets = []

    class Spy(module.Budget):
        def __init__(self, limit):
            super().__init__(limit)
            budgets.append(self)
    monkeypatch.setattr(module, "Budget", Spy)
    return budgets


@needs_sshd
def test_a_servers_whole_answer_is_kept_to_server_output_max(tmp_path, sshds, monkeypatch):
    import hivehealth.gather.probe as g
    import hivehealth.site.transport as transport
    from hivehealth.site.inventory import Site
    from hivehealth.site.transport import Pool
    names = ["uname"] + [f"big{i}" for i in range(4)]
    for n in names[1:]:      # each well under section_output_max, together well over the answer's cap
        monkeypatch.setitem(g.SECTIONS, n, ("all", "head -c 700000 /dev/zero | tr '\\0' a"))
    budgets = _spy_budgets(monkeypatch, transport)
    server = _ssh_server(tmp_path, sshds("answer"), sshds.client_key)
    facts = g.Gatherer(Site("hive", [server]), Pool(10), 30, output_max=2 ** 20,
                       answer_max=2 * 2 ** 20).gather_host(server, names)
    assert facts.unreachable is None
    # frames come as their sections end, in any order: those before the cap are whole, the rest not read
    results = [facts.get(n) for n in names]
    kept, cut = [r for r in results if r.ok], [r for r in results if not r.ok]
    assert any(r.name != "uname" for r in kept) and cut, [r.failure() for r in cut]
    assert all(r.stdout == "a" * 700000 for r in kept if r.name != "uname")
    assert all(r.unreadable == "not read: big.lab's whole answer went over server_output_max (2 MiB)" for r in cut)
    assert [b.limit for b in budgets] == [2 * 2 ** 20] and budgets[0].used <= 2 * 2 ** 20


@needs_sshd
def test_host_run_keeps_at_most_section_output_max(tmp_path, sshds, monkeypatch):
    from types import SimpleNamespace

    import hivehealth.site.testinfra_backend as th
    from hivehealth.site.transport import Pool
    budgets = _spy_budgets(monkeypatch, th)
    server = _ssh_server(tmp_path, sshds("hostrun"), sshds.client_key)
    backend = th.SuiteParamiko(server, Pool(10).transport(server), 120,
                               SimpleNamespace(output_max=2 ** 20, lost={}))
    r = backend.run("head -c 1000 /dev/zero; echo oops >&2")
    assert r.rc == 0 and r.stdout_bytes == b"\0" * 1000 and r.stderr_bytes == b"oops\n"
    with pytest.raises(th.NoAnswer, match=r"`head -c 300M /dev/zero` printed more than 1048576 bytes"):
        backend.run("head -c 300M /dev/zero")
    assert budgets and all(b.limit == 2 ** 20 and b.used <= 2 ** 20 for b in budgets)
    assert max(b.used for b in budgets) > 2 ** 20 - 65536      # it did fill up to the cap
    # the connection is opened again for the next command
    assert backend.run("echo after").stdout == "after\n"
