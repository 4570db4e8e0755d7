"""One command's huge output never fills the mother's memory: the probe keeps at most
section_output_max of each section on the server, the channel reader keeps no more than that
whatever the server sends, and the section is unknown with "output too large"."""
import json
import subprocess
import sys
from pathlib import Path

from hivehealth.checks import modules as check_modules
from hivehealth.gather.probe import CommandResult, line_limits, parse_probe_output, probe_script
from hivehealth.site.transport import _drain
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


class FloodChannel:
    """A server that ignores the probe's cap: one frame line of `size` bytes, then a good one."""

    def __init__(self, marker, size):
        self.parts = [f"{marker} df 0 {size} ".encode(), size, f" \n{marker} uname 0 3 {'b2sK'}\n".encode()]

    def recv(self, n):
        while self.parts:
            p = self.parts[0]
            if isinstance(p, int):
                if p <= 0:
                    self.parts.pop(0)
                    continue
                self.parts[0] = p - n
                return b"A" * min(n, p)
            return self.parts.pop(0)
        return b""

    def makefile_stderr(self, mode):
        import io
        return io.BytesIO(b"")


def test_channel_keeps_no_more_than_the_limit_whatever_the_server_sends():
    names, cap = ["df", "uname"], 1024 * 1024
    line_max, total_max = line_limits(names, cap)
    out, _, _ = _drain(FloodChannel("HHx", 50 * cap), line_max, total_max)
    assert len(out) <= line_max + 200
    res = parse_probe_output(out, "HHx", names, cap)
    assert res["df"].unreadable == "output too large (50 MiB; section_output_max is 1 MiB)"
    assert res["uname"].ok and res["uname"].stdout == "ok\n"


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
