"""The lab's DRBD stand-in answers as the real module did (tests/data/real-drbd-9.2).

The stand-in (lab/files/drbdsim.py) runs in-process on a state file in a temp dir, on a clock
the test moves (DRBD_SIM_NOW), and is driven through its CLI with the same commands, in the
same order, that made each recorded state on the real DRBD 9.2.18 / drbd-utils 9.22 cluster
(README.md there). At each capture its output is compared with the real one: line layout,
80-column wrapping with its continuation lines, JSON keys, order, layout and value types,
events2 lines, error texts on stdout and stderr, exit codes.

What must differ is normalised, and only that (see normalise()): byte and request counters
(read, written, sent, ...: they count the I/O of the test, not of the QEMU guests), rates and
times of a resync, percentages of a resync in flight, and the in-flight figures of a connection
(congested / ap-in-flight / rs-in-flight: on the real module they flip within a second, the
captures of one state show both values; the congested line itself is checked separately).
"""
import contextlib
import io
import json
import os
import re
import sys
from pathlib import Path

import pytest

from lab.faults import drbd as drbd_faults

REPO = Path(__file__).resolve().parents[2]
SIM = REPO / "lab" / "files" / "drbdsim.py"
DATA = REPO / "tests" / "data" / "real-drbd-9.2"
NODES = ["s-hive0.lab", "s-hive1.lab", "s-hive2.lab"]
SHORT = {n: n.split(".")[0] for n in NODES}
RES = "ldap_data"
SIZE = 524220                 # KiB, the real LV
MiB = 1024

sys.path.insert(0, str(SIM.parent))
import drbdsim  # noqa: E402

CAPTURES = {                  # file name part -> the command, as in commands.tsv
    "drbdadm-status": ("drbdadm", "status"),
    "drbdadm-status-ldap_data": ("drbdadm", "status", RES),
    "drbdsetup-status-verbose-statistics": ("drbdsetup", "status", "--verbose", "--statistics"),
    "drbdsetup-status-json": ("drbdsetup", "status", "--json"),
    "drbdsetup-status-json-verbose-statistics": ("drbdsetup", "status", "--json", "--verbose",
                                                 "--statistics"),
    "drbdsetup-events2-now-statistics": ("drbdsetup", "events2", "--now", "--statistics"),
}


# ---------------------------------------------------------------- the real records
def real_capture(state, node, what):
    d = DATA / state
    out = (d / f"{SHORT[node]}-{what}.txt").read_text()
    err_file = d / f"{SHORT[node]}-{what}.stderr.txt"
    err = err_file.read_text() if err_file.exists() else ""
    cmd = " ".join(CAPTURES[what])
    rcs = [line.split("\t")[3] for line in (d / "commands.tsv").read_text().splitlines()
           if line.split("\t")[1] == SHORT[node] and line.split("\t")[2] == cmd]
    assert rcs, f"{state}: no {cmd} of {node} in commands.tsv"
    return out, err, int(rcs[-1].removeprefix("rc="))


def real_step(state, node, label):
    """A make/remedy/precond file: (command, stdout, stderr, exit code)."""
    text = (DATA / state / f"{SHORT[node]}-{label}.txt").read_text()
    m = re.match(r"\$ (.*)\n--- stdout ---\n(.*)--- stderr ---\n(.*)--- exit code: (\d+)\n\Z",
                 text, re.S)
    assert m, f"{state}/{label}: unexpected layout"
    return m.group(1), m.group(2), m.group(3), int(m.group(4))


# ---------------------------------------------------------------- normalising
TEXT_COUNTERS = {"read", "written", "al-writes", "bm-writes", "sent", "received", "pending",
                 "unacked", "dbdt1", "eta", "upper-pending", "lower-pending", "promotion_score"}
IN_FLIGHT = {"congested", "ap-in-flight", "rs-in-flight"}
JSON_COUNTERS = {"read", "written", "al-writes", "bm-writes", "upper-pending", "lower-pending",
                 "received", "sent", "pending", "unacked", "rs-total", "rs-dt-start-ms",
                 "rs-paused-ms", "rs-dt0-ms", "rs-db0-sectors", "rs-dt1-ms", "rs-db1-sectors",
                 "rs-failed", "rs-same-csum", "want", "db0/dt0 [MiB/s]", "db1/dt1 [MiB/s]",
                 "estimated-seconds-to-finish", "db/dt [MiB/s]"}
PERCENT = {"done", "percent-in-sync", "percent-resync-done"}


def percent(value):
    # 0.00 and 100.00 are states (nothing / everything in sync); anything between is in flight
    return value if value in ("0.00", "100.00") else "P"


def norm_token(tok):
    key, sep, value = tok.partition(":")
    if not sep:
        return tok
    if key in TEXT_COUNTERS or key in IN_FLIGHT:
        return f"{key}:N"
    if key == "out-of-sync":     # whether anything is out of sync is a state; how much, I/O
        return f"{key}:{'0' if value == '0' else 'N'}"
    if key in PERCENT:
        return f"{key}:{percent(value)}"
    return tok


def status_objects(text):
    """drbdsetup status text -> [(indent, [tokens])], one per object, its wrapped lines joined.
    An object starts at indent 0 (resource), 2 (device, connection) or 4 with volume:,
    replication: or peer-disk: (peer device); any other line continues the object before."""
    objs = []
    for line in text.split("\n"):
        if not line:
            continue
        indent = len(line) - len(line.lstrip(" "))
        first = line.split()[0]
        starts = indent in (0, 2) or (indent == 4 and first.split(":")[0] in
                                      ("volume", "replication", "peer-disk"))
        if starts:
            objs.append((indent, line.split()))
        else:
            assert objs, f"continuation line first: {line!r}"
            objs[-1][1].extend(line.split())
    return objs


def check_wrapping(text):
    """Every line fits 80 columns, and every continuation line starts where the next token no
    longer fitted (or where drbdsetup starts a new group of statistics)."""
    forced = ("write-ordering:", "size:", "read:", "received:")
    lines = text.split("\n")
    for prev, line in zip(lines, lines[1:]):
        assert len(line) <= 80, line
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        first = line.split()[0]
        continuation = not (indent in (0, 2) or (indent == 4 and first.split(":")[0] in
                                                 ("volume", "replication", "peer-disk")))
        if continuation:
            assert indent in (4, 6, 8), line
            assert first.startswith(forced) or len(prev) + 1 + len(first) > 80, (prev, line)


def norm_status(text, verbose):
    objs = []
    for indent, toks in status_objects(text):
        toks = [norm_token(t) for t in toks]
        if not verbose:
            # only a congested connection prints its in-flight figures (see the module doc)
            toks = [t for t in toks if t.split(":")[0] not in IN_FLIGHT]
        objs.append((indent, toks))
    return objs


def norm_events2(text):
    return [[norm_token(t) for t in line.split()] for line in text.splitlines()]


def norm_json(text):
    def repl(m):
        key, value = m.group(2), m.group(3)
        if key in JSON_COUNTERS or key in IN_FLIGHT - {"congested"}:
            value = "N" if re.fullmatch(r"-?\d+(\.\d+)?", value) else value
        elif key == "congested":
            value = "B" if value in ("true", "false") else value
        elif key == "out-of-sync":
            value = value if value == "0" else "N"
        elif key in PERCENT:
            value = percent(value)
        return f'{m.group(1)}"{key}": {value}'
    return re.sub(r'^( *)"([^"]+)": ([^,\n]+?)(?=,? ?$)', repl, text, flags=re.M)


def held_open_normal(text):
    # the pid of mount and the time it opened the device are the guests'
    return re.sub(r"opened by mount \(pid \d+\) at [\d-]+ [\d:.]+", "opened by mount (pid N) at T",
                  text)


def compare(label, what, got, want):
    what = (what, label)
    out, err, rc = got
    r_out, r_err, r_rc = want
    assert rc == r_rc, (what, rc, r_rc, err)
    assert held_open_normal(err) == held_open_normal(r_err), what
    if what[0].startswith("drbdsetup-status-json"):
        assert norm_json(out) == norm_json(r_out), what
        assert [type(x) for x in json.loads(out)] == [type(x) for x in json.loads(r_out)]
    elif what[0].startswith("drbdsetup-events2"):
        assert norm_events2(out) == norm_events2(r_out), what
    else:
        check_wrapping(r_out)            # the rule holds for the real outputs
        check_wrapping(out)              # and for the stand-in's
        verbose = "verbose" in what[0]
        assert norm_status(out, verbose) == norm_status(r_out, verbose), what
        assert out.endswith("\n\n") == r_out.endswith("\n\n"), what  # a blank line per resource


# ---------------------------------------------------------------- the stand-in cluster
class Cluster:
    """Three nodes of the stand-in on one state file, a clock the test moves, and a fake sysfs
    I/O counter for the backing device (the lab's loop device) that writes go through."""

    def __init__(self, tmp, monkeypatch):
        self.tmp = tmp
        conf = tmp / "drbd.d"
        conf.mkdir()
        (conf / f"{RES}.res").write_text(f"resource {RES} {{\n}}\n")
        self.stat = tmp / "sys" / "dev" / "block" / "7:9" / "stat"
        self.stat.parent.mkdir(parents=True)
        self.sectors_written = 0
        self.write_stat()
        monkeypatch.setattr(drbdsim, "STATE", str(tmp / "state.json"))
        monkeypatch.setattr(drbdsim, "CONF_DIR", str(conf))
        monkeypatch.setattr(drbdsim, "SYSFS", str(tmp / "sys"))
        for k, v in {"DRBD_SIM_NO_MKNOD": "1", "DRBD_SIM_NO_MOUNTCHECK": "1",
                     "DRBD_SIM_ROOT_OK": "1"}.items():
            monkeypatch.setenv(k, v)
        self.env = monkeypatch
        self.t = 1_800_000_000.0
        res = drbdsim.new_resource(RES, 1, NODES, size_kib=SIZE, dev_major=7, dev_minor=9,
                                   addresses={n: f"10.77.0.{10 + i}" for i, n in enumerate(NODES)},
                                   port=7001)
        res["sync_seconds"] = 0.0           # as fast as the real module (32 MB/s)
        for loc in res["local"].values():
            loc["up"] = False
        with drbdsim.Locked() as st:
            st["resources"] = {RES: res}
        for n in NODES:
            self.ok(n, "create-md", RES)
        for n in NODES:
            self.ok(n, "up", RES)

    def write_stat(self):
        self.stat.write_text(f"0 0 0 0 {self.sectors_written // 8} 0 {self.sectors_written} 0 0 0 0\n")

    def at(self, seconds):
        self.t += seconds

    def run(self, node, tool, *args):
        self.env.setenv("DRBD_SIM_NODE", node)
        self.env.setenv("DRBD_SIM_NOW", repr(self.t))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = drbdsim.main([tool, *args])
        return out.getvalue(), err.getvalue(), rc

    def ok(self, node, *words):
        out, err, rc = self.run(node, "drbdadm", *words)
        assert rc == 0, (node, words, err)
        return out

    def edit(self, fn):
        with drbdsim.Locked() as st:
            fn(st["resources"][RES])

    def local(self, node):
        with drbdsim.Locked(write=False) as st:
            return dict(st["resources"][RES]["local"][node])

    def mount(self, node, on=True):
        # the node's agent reports the mount (its mountinfo); here the test says it
        self.edit(lambda r: r["local"][node].update(open=on))
        self.run(node, "drbdadm", "role", RES)

    def write(self, node, kib):
        """kib written through the device mounted on node (the backing device's I/O counter)."""
        self.sectors_written += kib * 2
        self.write_stat()
        self.run(node, "drbdadm", "role", RES)

    def power_off(self, *nodes):
        self.edit(lambda r: [r["local"][n].update(hb=self.t - 2 * drbdsim.HB_TIMEOUT) for n in nodes])

    def power_on(self, *nodes):
        for n in nodes:
            with drbdsim.Locked() as st:
                drbdsim.power_on(st, n, self.t)
                st["resources"][RES]["local"][n]["hb"] = None   # its agent keeps beating
            self.ok(n, "adjust", RES)       # drbd-resource@ at boot

    def capture(self, state, node, *whats):
        for what in whats or CAPTURES:
            compare(f"{state} {node}", what, self.run(node, *CAPTURES[what]),
                    real_capture(state, node, what))

    def capture_resync(self, state, node, then):
        """The captures the record took during a resync now, the others `then` seconds later
        (a node's captures are read one after the other; a short resync ends in between)."""
        during = [w for w in CAPTURES
                  if re.search(r"replication:\S*Sync|\"replication-state\": \"\S*Sync",
                               real_capture(state, node, w)[0])]
        self.capture(state, node, *during)
        self.at(then)
        rest = [w for w in CAPTURES if w not in during]
        if rest:
            self.capture(state, node, *rest)

    def step(self, state, node, label, run):
        """Run a recorded make/remedy step (`run` does what its shell line did, returning
        stdout, stderr, exit code) and compare with the record."""
        _, r_out, r_err, r_rc = real_step(state, node, label)
        out, err, rc = run()
        assert rc == r_rc, (state, label, err)
        assert held_open_normal(err) == held_open_normal(r_err), (state, label)
        if "role:" in r_out:
            assert norm_status(out, False) == norm_status(r_out, False), (state, label)
        else:
            assert out == r_out, (state, label)


def shell(cl, node, *commands):
    """`a; b; ...` with `echo` lines, as the recorded shell lines ran them: each command is a
    tuple of drbdadm words, a string to echo (may hold {rc}), or a number of seconds to sleep."""
    out, err, rc = [], [], 0
    for c in commands:
        if isinstance(c, str):
            out.append(c.format(rc=rc) + "\n")
        elif isinstance(c, (int, float)):
            cl.at(c)
        else:
            o, e, rc = cl.run(node, "drbdadm", *c)
            out.append(o)
            err.append(e)
    return "".join(out), "".join(err), rc


class LabFaults:
    """The lab's DRBD faults (lab/faults/drbd.py), their state change applied to this cluster
    instead of the lab's shared state file."""

    def __init__(self, cl, monkeypatch):
        self.lab = {"volume": RES, "service": "ldap", "servers": [
            {"full": n, "short": SHORT[n], "ip": f"10.77.0.{10 + i}", "idx": i, "hive": True,
             "repository": False} for i, n in enumerate(NODES)]}
        monkeypatch.setattr(drbd_faults, "sim_update",
                            lambda lab, fn: cl.edit(lambda r: fn(r, cl.t)))
        monkeypatch.setattr(drbd_faults.site, "drbdsim", lambda: drbdsim)
        monkeypatch.setattr(drbd_faults, "ldap_node", lambda lab: self.lab["servers"][0])
        monkeypatch.setattr(drbd_faults, "stop_service", lambda lab: None)

    def inject(self, name, target=None):
        return drbd_faults.FAULTS[[f.name for f in drbd_faults.FAULTS].index(name)].inject(
            self.lab, target)


def both(cl, node, first, second):
    """`a && b`: b only when a succeeded."""
    o, e, rc = cl.run(node, "drbdadm", *first)
    if rc:
        return o, e, rc
    o2, e2, rc = cl.run(node, "drbdadm", *second)
    return o + o2, e + e2, rc


# ---------------------------------------------------------------- the recorded sequence
@pytest.fixture
def cl(tmp_path, monkeypatch):
    return Cluster(tmp_path, monkeypatch)


def healthy_primary_s0(cl):
    """States 00-03: created, synced from s-hive0, xfs made and mounted there."""
    cl.capture("00-fresh-inconsistent", NODES[0])
    cl.capture("00-fresh-inconsistent", NODES[1])
    cl.capture("00-fresh-inconsistent", NODES[2])
    cl.ok(NODES[0], "primary", "--force", RES)
    cl.at(2)
    cl.capture_resync("01-initial-sync-in-progress", NODES[0], 20)
    for n in NODES[1:]:
        cl.capture("01-initial-sync-in-progress", n)
    cl.mount(NODES[0])
    cl.write(NODES[0], 20 * MiB)
    for n in NODES:
        cl.capture("02-healthy-primary-mounted", n)
    cl.mount(NODES[0], False)
    cl.ok(NODES[0], "secondary", RES)
    for n in NODES:
        cl.capture("03-healthy-all-secondary", n)
    cl.mount(NODES[0])


def test_created_synced_healthy(cl):
    healthy_primary_s0(cl)


def test_power_off_one_then_back_then_all(cl):
    healthy_primary_s0(cl)
    s0, s1, s2 = NODES
    cl.power_off(s2)
    cl.at(1)
    cl.capture("04-one-node-powered-off", s0)
    cl.capture("04-one-node-powered-off", s1)
    cl.write(s0, 150 * MiB)
    cl.power_on(s2)
    cl.at(1)
    cl.capture_resync("05-powered-off-node-back", s0, 20)
    cl.capture("05-powered-off-node-back", s1)
    cl.capture("05-powered-off-node-back", s2)
    # all three killed while s-hive0 is Primary and mounted, started again: UpToDate, rule
    # both-off: a full resync from the last Primary (s-hive2's handshake came first)
    cl.power_off(*NODES)
    cl.at(30)
    cl.power_on(s0, s2)
    cl.at(3)
    cl.power_on(s1)
    for n in NODES:
        assert cl.local(n)["disk"] in ("UpToDate", "Inconsistent")
    cl.at(9)        # both resyncs half way
    cl.capture("06-all-powered-off-restarted", s0, "drbdadm-status")
    cl.at(3.7)      # s-hive2's resync in its last moments (SyncSource without done:)
    cl.capture("06-all-powered-off-restarted", s0, "drbdadm-status-ldap_data")
    cl.at(1)
    cl.capture("06-all-powered-off-restarted", s0, "drbdsetup-status-verbose-statistics",
               "drbdsetup-status-json", "drbdsetup-status-json-verbose-statistics",
               "drbdsetup-events2-now-statistics")
    cl.at(20)
    cl.capture("06-all-powered-off-restarted", s1)
    cl.capture("06-all-powered-off-restarted", s2)


def test_disconnect_reconnect_one_sided(cl):
    healthy_primary_s0(cl)
    s0, s1, s2 = NODES
    cl.ok(s2, "disconnect", RES)
    for n in NODES:
        cl.capture("07-one-node-disconnected", n)
    cl.step("07-one-node-disconnected", s2, "remedy1-connect", lambda: cl.run(s2, "drbdadm", "connect", RES))
    cl.at(1)
    for n in NODES:
        cl.capture("08-reconnected-after-disconnect", n)
    cl.step("09-one-sided-standalone", s2, "make-disconnect-one-peer",
            lambda: cl.run(s2, "drbdadm", "disconnect", f"{RES}:{s0}"))
    for n in NODES:
        cl.capture("09-one-sided-standalone", n)
    # disconnect && connect on the side that shows Connecting changes nothing
    cl.step("09-one-sided-standalone", s0, "remedy1-disconnect-connect-on-connecting-side",
            lambda: shell(cl, s0, *both_steps(cl, s0), "--- status after 5s", 5, ("status", RES)))
    # on the StandAlone side it fixes it
    cl.step("09-one-sided-standalone", s2, "remedy2-disconnect-connect-on-standalone-side",
            lambda: shell(cl, s2, *both_steps(cl, s2), "--- status after 5s", 5, ("status", RES)))


def both_steps(cl, node):
    o, e, rc = both(cl, node, ("disconnect", RES), ("connect", RES))
    assert rc == 0, e
    return ()


def resync_250m(cl):
    s0, s1, s2 = NODES
    cl.ok(s2, "peer-device-options", "--c-plan-ahead=0", "--resync-rate=3M", RES)
    cl.ok(s2, "disconnect", RES)
    cl.write(s0, 250 * MiB)
    cl.ok(s2, "connect", RES)


def test_resync_in_progress_paused_running(cl):
    healthy_primary_s0(cl)
    s0, s1, s2 = NODES
    resync_250m(cl)
    cl.at(2)
    cl.capture_resync("10-resync-in-progress", s0, 20)
    cl.capture("10-resync-in-progress", s1)
    cl.capture("10-resync-in-progress", s2)
    # the same, paused by the user on the target a second after its connect
    resync_250m(cl)
    cl.at(1)
    cl.ok(s2, "pause-sync", RES)
    for n in NODES:
        cl.capture("11-resync-paused-by-user", n)
    cl.ok(s2, "resume-sync", RES)
    cl.at(0.5)
    for n in NODES:
        cl.capture("12-resync-running", n, "drbdadm-status", "drbdsetup-status-verbose-statistics",
                   "drbdsetup-status-json", "drbdsetup-events2-now-statistics")
    cl.at(20)
    cl.run(NODES[0], "drbdadm", "status")
    assert all(cl.local(n)["disk"] == "UpToDate" for n in NODES), [cl.local(n) for n in NODES]


def test_congested_resync_connection_prints_its_in_flight_figures(cl):
    healthy_primary_s0(cl)
    resync_250m(cl)
    cl.at(1.5)         # the stand-in's resync connection is congested in odd seconds
    out = cl.run(NODES[0], "drbdadm", "status", RES)[0]
    real = (DATA / "10-resync-in-progress" / "s-hive0-drbdadm-status.txt").read_text()
    line = re.compile(r"^  s-hive2\.lab role:Secondary congested:yes ap-in-flight:\d+ "
                      r"rs-in-flight:\d+$", re.M)
    assert line.search(real) and line.search(out), out


def split_brain_s2(cl):
    """State 13's making: s-hive2 isolated, forced Primary without quorum, writes on both sides."""
    s0, s1, s2 = NODES
    cl.ok(s2, "disconnect", RES)
    out, err, rc = cl.run(s2, "drbdadm", "primary", RES)
    assert rc == 17 and "(-2) Need access to UpToDate data" in err
    cl.ok(s2, "primary", "--force", RES)          # accepted without quorum
    cl.mount(s2)
    cl.write(s2, 2092)
    cl.mount(s2, False)
    cl.ok(s2, "secondary", RES)
    cl.write(s0, 48)
    cl.ok(s2, "connect", RES)
    cl.at(1)


def test_split_brain_and_its_repair_per_connection(cl):
    healthy_primary_s0(cl)
    s0, s1, s2 = NODES
    split_brain_s2(cl)
    state = "14-split-brain-resolved"
    cl.step(state, s2, "remedy1-victim", lambda: shell(
        cl, s2, ("disconnect", RES), "disconnect rc={rc}", ("secondary", RES), "secondary rc={rc}",
        ("connect", "--discard-my-data", RES), "connect rc={rc}"))
    cl.at(1)
    # the survivor's whole-resource connect fails on its connection that is up
    cl.step(state, s0, "remedy2-survivor-connect",
            lambda: shell(cl, s0, ("connect", RES), "connect rc={rc}")[:2] + (0,))
    cl.at(5)
    for n in NODES:
        cl.capture(state, n)
    cl.step(state, s0, "remedy3-survivor-connect-one-peer",
            lambda: shell(cl, s0, ("connect", f"{RES}:{s2}"), "connect rc={rc}")[:2] + (0,))
    cl.at(2)
    for n in NODES:
        cl.capture("14-split-brain-resolved-after-peer-connect", n)


def all_outdated(cl, state):
    s0, s1, s2 = NODES
    cl.mount(s0, False)
    cl.ok(s0, "secondary", RES)
    for n in NODES:
        cl.ok(n, "down", RES)
    for n in NODES:
        cl.ok(n, "outdate", RES)
        assert cl.ok(n, "dstate", RES) == "Outdated\n"
    for n in NODES:
        cl.ok(n, "up", RES)
    cl.at(1)
    for n in NODES:
        cl.capture(state, n, *([] if state.startswith("15") else ["drbdadm-status"]))


@pytest.mark.parametrize("race", [False, True], ids=["no-race", "race-armed"])
def test_all_outdated_primary_force_and_the_runbook_reconnects(cl, race, monkeypatch):
    healthy_primary_s0(cl)
    s0, s1, s2 = NODES
    all_outdated(cl, "15-all-outdated" if not race else "20-runbook-7.7a-repeat-a-all-outdated")
    if not race:
        cl.step("15-all-outdated", s0, "precond1-primary-no-force",
                lambda: cl.run(s0, "drbdadm", "primary", RES))
        cl.step("15-all-outdated", s0, "remedy1-primary-force", lambda: shell(
            cl, s0, ("primary", "--force", RES), "rc={rc}", 3, ("status", RES)))
        for n in NODES:         # all three UpToDate at once, no resync
            cl.capture("15-all-outdated-after-primary-force", n)
        cl.step("15-all-outdated-after-primary-force", s1, "remedy2-disconnect-connect",
                lambda: shell(cl, s1, *both_steps(cl, s1), "rc={rc}", 4, ("status", RES)))
        cl.step("20-runbook-7.7a-repeat", s2, "step2-disconnect-connect",
                lambda: shell(cl, s2, *both_steps(cl, s2), "rc={rc}"))
        cl.at(30)
        for n in NODES:
            cl.capture("20-runbook-7.7a-repeat-b-after-runbook-steps", n)
        cl.step("20-runbook-7.7a-repeat", s0, "step3-secondary",
                lambda: shell(cl, s0, ("secondary", RES), "rc={rc}", ("status", RES)))
        return
    # the real module split-brained s-hive1 <-> s-hive2 here once in two tries: the lab fault
    # drbd:reconnect-race makes it happen every time
    LabFaults(cl, monkeypatch).inject("drbd:reconnect-race")
    cl.ok(s0, "primary", "--force", RES)
    shell(cl, s1, *both_steps(cl, s1))
    cl.at(4)
    cl.step("15-all-outdated-after-primary-force", s2, "remedy2-disconnect-connect",
            lambda: shell(cl, s2, *both_steps(cl, s2), "rc={rc}", 4, ("status", RES)))
    cl.at(1)
    cl.step("15-all-outdated-after-primary-force", s0, "remedy3-secondary",
            lambda: shell(cl, s0, ("secondary", RES), "rc={rc}", ("status", RES)))
    cl.at(30)
    cl.ok(s0, "primary", RES)
    cl.mount(s0)
    state = "15-all-outdated-after-primary-force-then-runbook-reconnects"
    for n in NODES:
        cl.capture(state, n)
    cl.step(state, s2, "fix1-connect-peer", lambda: shell(cl, s2, ("connect", f"{RES}:{s1}"), "rc={rc}")[:2] + (0,))
    cl.step(state, s1, "fix1-connect-peer", lambda: shell(cl, s1, ("connect", f"{RES}:{s2}"), "rc={rc}")[:2] + (0,))
    cl.at(2)
    for n in NODES:
        out = cl.ok(n, "status", RES)
        assert "StandAlone" not in out and "Inconsistent" not in out, out


def test_lab_split_brain_fault_is_the_real_split_brain(cl, monkeypatch):
    """drbd:split-brain leaves what state 13's recipe left: after the victim's part of the
    repair, every node shows what state 14 recorded; the per-connection repair works."""
    healthy_primary_s0(cl)
    s0, s1, s2 = NODES
    LabFaults(cl, monkeypatch).inject("drbd:split-brain", s2)
    cl.at(1)
    assert "connection:StandAlone" in cl.ok(s0, "status", RES)
    shell(cl, s2, ("disconnect", RES), ("secondary", RES), ("connect", "--discard-my-data", RES))
    cl.at(5)
    for n in NODES:
        cl.capture("14-split-brain-resolved", n)
    cl.ok(s0, "connect", f"{RES}:{s2}")
    cl.at(2)
    for n in NODES:
        cl.capture("14-split-brain-resolved-after-peer-connect", n)


def test_lab_outdated_fault_then_the_runbook(cl, monkeypatch):
    """drbd:outdated leaves what state 15 recorded; primary --force makes all UpToDate at once."""
    healthy_primary_s0(cl)
    cl.mount(NODES[0], False)
    cl.ok(NODES[0], "secondary", RES)
    LabFaults(cl, monkeypatch).inject("drbd:outdated")
    cl.at(1)
    for n in NODES:
        cl.capture("15-all-outdated", n)
    cl.ok(NODES[0], "primary", "--force", RES)
    for n in NODES:
        cl.capture("15-all-outdated-after-primary-force", n)


def test_resource_down_on_one_node_and_preconditions(cl):
    healthy_primary_s0(cl)
    s0, s1, s2 = NODES
    state = "16-resource-down-on-one-node"
    cl.ok(s1, "down", RES)
    for n in NODES:
        cl.capture(state, n)
    cl.step(state, s1, "precond-disconnect-when-down", lambda: cl.run(s1, "drbdadm", "disconnect", RES))
    cl.step(state, s1, "precond-primary-when-down", lambda: cl.run(s1, "drbdadm", "primary", RES))
    cl.ok(s1, "up", RES)
    cl.at(2)
    state = "17-preconditions-not-met"
    cl.step(state, s0, "secondary-while-mounted", lambda: cl.run(s0, "drbdadm", "secondary", RES))
    cl.step(state, s0, "down-while-mounted", lambda: cl.run(s0, "drbdadm", "down", RES))
    cl.step(state, s1, "primary-while-peer-primary", lambda: cl.run(s1, "drbdadm", "primary", RES))
    cl.step(state, s1, "primary-force-while-peer-primary",
            lambda: cl.run(s1, "drbdadm", "primary", "--force", RES))
    cl.step(state, s1, "connect-when-connected", lambda: cl.run(s1, "drbdadm", "connect", RES))
    cl.step(state, s1, "connect-discard-my-data-when-connected",
            lambda: cl.run(s1, "drbdadm", "connect", "--discard-my-data", RES))
    cl.step(state, s1, "disconnect-twice", lambda: shell(
        cl, s1, ("disconnect", RES), "first rc={rc}", ("disconnect", RES), "second rc={rc}",
        ("status", RES), ("connect", RES), "connect rc={rc}"))
    cl.step(state, s1, "status-unknown-resource", lambda: cl.run(s1, "drbdadm", "status", "nosuch"))
    cl.at(2)
    cl.step(state, s1, "dstate-cstate-role", lambda: shell(
        cl, s1, ("dstate", RES), ("cstate", RES), ("role", RES)))


def test_two_nodes_back(cl):
    healthy_primary_s0(cl)
    s0, s1, s2 = NODES
    cl.power_off(s1, s2)
    cl.at(10)
    out = cl.ok(s0, "status", RES)
    assert "  disk:UpToDate quorum:no\n" in out       # the Primary without quorum
    cl.power_on(s1, s2)
    cl.at(10)
    for n in NODES:
        cl.capture("19-two-nodes-back", n)
