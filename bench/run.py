#!/usr/bin/env python3
"""hive-health benchmarks: the suite against a shell loop and Ansible ad-hoc, on hive
labs of 4, 8 and 16 servers, on the bare lab network and with 20 ms of added round trip.

Run as root from the repository root: `make bench` (or `python3 bench/run.py`). Stdlib only.
Every use of the lab holds an exclusive flock on /tmp/hh-lab.lock for a whole size section,
and a section that changed the lab's size puts the default lab (3 hives + repository,
healthy) back before it releases the lock. Added latency is always removed (finally, signals).

Environment knobs (defaults fit `make bench` in < 30 min on 2 cores, see bench/README.md):
  BENCH_SIZES=3,7,15       hives per lab (servers = hives + repository)
  BENCH_RUNS=5             measured suite runs per mode (after 1 warm-up)
  BENCH_BASE_RUNS=2,2,1    measured runs per baseline, per size (after 1 warm-up at the first size only)
  BENCH_LATENCIES=0,20     added RTT in ms
  BENCH_FIX=1              time to green of the remedy scenarios (on the default lab)
  HH_LAB_REPO=<repo>       the checkout whose `python3 -m lab` owns the lab (default this one)
"""
from __future__ import annotations

import atexit
import fcntl
import json
import os
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RAW = BENCH / "results" / "raw"
LAB_REPO = Path(os.environ.get("HH_LAB_REPO", str(REPO))).resolve()
SITE = LAB_REPO / "lab" / ".run" / "site"
LOCK = "/tmp/hh-lab.lock"
PYTEST = str(REPO / ".venv" / "bin" / "pytest")
VPY = str(REPO / ".venv" / "bin" / "python")
ANSIBLE_VENV = BENCH / ".venv-ansible"
BRIDGE = "hivelab0"
LAB_NET = "10.99.213.0/24"
MARK = 0x4848
RELAY_PORT = 18222
DEFAULT_HIVES = 3

SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "3,7,15").split(",")]
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
BASE_RUNS = [int(x) for x in os.environ.get("BENCH_BASE_RUNS", "2,2,1").split(",")]
LATENCIES = [int(x) for x in os.environ.get("BENCH_LATENCIES", "0,20").split(",")]
DO_FIX = os.environ.get("BENCH_FIX", "1") == "1"

T0 = time.time()


def log(msg: str):
    print(f"[bench {time.time() - T0:6.0f}s] {msg}", flush=True)


# ------------------------------------------------------------------ lock and lab
class LabLock:
    def __enter__(self):
        self.f = open(LOCK, "a")
        t = time.time()
        fcntl.flock(self.f, fcntl.LOCK_EX)
        log(f"lab lock acquired (waited {time.time() - t:.0f} s)")
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()
        log("lab lock released")


def lab(*args, timeout=900) -> str:
    t = time.time()
    p = subprocess.run([sys.executable, "-m", "lab", *args], cwd=LAB_REPO, capture_output=True,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"python3 -m lab {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    log(f"lab {' '.join(args)}: {time.time() - t:.1f} s")
    return p.stdout.strip()


def lab_up(hives: int) -> float:
    t = time.time()
    lab("up", "--hives", str(hives))
    return time.time() - t


def restore_default(current_hives: int):
    """The lab's default shape (3 hives + repository, healthy) before the lock is released."""
    if current_hives != DEFAULT_HIVES:
        lab("down")
    lab("up")


def lab_state() -> dict:
    return json.loads((LAB_REPO / "lab" / ".run" / "lab.json").read_text())


# ------------------------------------------------------------------ measuring a process tree
def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rfind(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _tree_rss_kb(root: int) -> int:
    kids = _children_map()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(kids.get(pid, []))
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except OSError:
            pass
    return total


def measure(cmd: list[str], env=None, cwd=REPO, out_path: Path | None = None, timeout=1800) -> dict:
    """Wall time, CPU (user+sys of the child and all its waited-for descendants, os.wait4), peak
    RSS of the single largest process (ru_maxrss) and peak sum of RSS over the live process tree
    (sampled every 50 ms from /proc)."""
    out = open(out_path, "wb") if out_path else subprocess.DEVNULL
    cpu0 = _host_cpu()
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_kb(p.pid))
            done.wait(0.05)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    killer = threading.Timer(timeout, lambda: p.kill())
    killer.daemon = True
    killer.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    cpu1 = _host_cpu()
    killer.cancel()
    done.set()
    th.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    if out_path:
        out.close()
    return {"wall": round(wall, 3), "rc": p.returncode, "cpu": round(ru.ru_utime + ru.ru_stime, 3),
            "cpu_user": round(ru.ru_utime, 3), "cpu_sys": round(ru.ru_stime, 3),
            "maxrss_mb": round(ru.ru_maxrss / 1024, 1), "tree_rss_peak_mb": round(peak[0] / 1024, 1),
            # whole machine (client, relay, every lab server): cores busy on average during the run
            "host_busy_cores": round((cpu1[0] - cpu0[0]) / max(1e-9, (cpu1[1] - cpu0[1])) * (os.cpu_count() or 1), 2)}


def _host_cpu() -> tuple[int, int]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def summary(runs: list[dict]) -> dict:
    w = [r["wall"] for r in runs]
    return {"n": len(w), "median": round(statistics.median(w), 3), "min": min(w), "max": max(w),
            "stdev": round(statistics.stdev(w), 3) if len(w) > 1 else 0.0,
            "cpu_median": round(statistics.median(r["cpu"] for r in runs), 3),
            "tree_rss_peak_mb": max(r["tree_rss_peak_mb"] for r in runs),
            "maxrss_mb": max(r["maxrss_mb"] for r in runs),
            "host_busy_cores": round(statistics.median(r.get("host_busy_cores", 0) for r in runs), 2),
            "rcs": sorted({r["rc"] for r in runs})}


# ------------------------------------------------------------------ what the suite asks each server
def site_plan() -> dict:
    """Servers in ssh_config order with the engine's own sections for each (sections_for: every
    area's check module declares its own), and the probe's prelude that sets $SUDO and $DOCKER
    for them (gather.probe.PRELUDE)."""
    code = r"""
import json, sys
from hivehealth.checks import modules
from hivehealth.gather.probe import PRELUDE
from hivehealth.gather.sections import SECTIONS, sections_for
from hivehealth.site.inventory import load_hive_project
modules()
site = load_hive_project(sys.argv[1])
out = {"prelude": "; ".join(PRELUDE), "servers": []}
for s in site.servers:
    names = sections_for(s, site)
    out["servers"].append({"name": s.name, "hive": s.is_hive, "repository": s.is_repository,
                           "ssh_config": s.ssh_config,
                           "commands": [[n, SECTIONS[n][1]] for n in names]})
print(json.dumps(out))
"""
    p = subprocess.run([VPY, "-c", code, str(SITE)], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


# ------------------------------------------------------------------ baselines
def shell_loop_script(plan: dict, path: Path) -> int:
    """(a) the runbook by hand: one `ssh -F ssh_config host command` per host and command, in order."""
    lines = ["#!/bin/bash", "# generated by bench/run.py: the shell-loop baseline", ""]
    n = 0
    for s in plan["servers"]:
        for name, cmd in s["commands"]:
            lines.append(f"echo '=== {s['name']} {name}'")
            lines.append(f"ssh -F {shlex.quote(s['ssh_config'])} {shlex.quote(s['name'])} "
                         f"{shlex.quote(plan['prelude'] + '; ' + cmd)} </dev/null; echo \"=== rc $?\"")
            n += 1
    path.write_text("\n".join(lines) + "\n")
    return n


def ansible_inventory(plan: dict, path: Path):
    """(b) one ad-hoc `shell` run over all hosts; each host's variable hh_script is its own
    commands joined (sequential, each framed with its exit code), marked !unsafe so Ansible does
    not template the docker `{{json ...}}` formats."""
    lines = ["all:", "  vars:",
             f"    ansible_ssh_common_args: '-F {plan['servers'][0]['ssh_config']}'",
             "    ansible_python_interpreter: /usr/bin/python3",
             "  hosts:"]
    for s in plan["servers"]:
        script = plan["prelude"] + "\n" + "\n".join(
            f"echo '=== {name}'; ( {cmd}\n) ; echo \"=== rc $?\"" for name, cmd in s["commands"])
        lines.append(f"    {s['name']}:")
        lines.append(f"      hh_script: !unsafe {json.dumps(script)}")
    path.write_text("\n".join(lines) + "\n")


def ansible_cmd(inv: Path) -> list[str]:
    return [str(ANSIBLE_VENV / "bin" / "ansible"), "all", "-i", str(inv), "-m", "shell",
            "-a", "{{ hh_script }}"]


def ansible_env(tmp: str) -> dict:
    env = dict(os.environ)
    env.update({"ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_SSH_CONTROL_PATH_DIR": tmp,      # a cold start per run, like the suite
                "ANSIBLE_LOCAL_TEMP": tmp + "/local", "ANSIBLE_DEPRECATION_WARNINGS": "False"})
    return env


def ensure_ansible():
    if not (ANSIBLE_VENV / "bin" / "ansible").exists():
        log("installing ansible-core into bench/.venv-ansible")
        subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
        subprocess.run([str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                        "ansible-core>=2.18,<2.19"], check=True)


# ------------------------------------------------------------------ added latency
class Latency:
    """+rtt_ms round trip between this host and the lab servers. netem when the kernel has it
    (10 ms on hivelab0 = host->servers, 10 ms on each server veth's host side = egress towards
    the server), otherwise the delaying relay (bench/delay_relay.py) for TCP port 22."""

    def __init__(self, rtt_ms: int):
        self.rtt_ms = rtt_ms
        self.method = None
        self.relay = None
        self.ifaces: list[str] = []

    @staticmethod
    def netem_available() -> bool:
        p = subprocess.run(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "0ms"],
                           capture_output=True, text=True)
        if p.returncode == 0:
            subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], capture_output=True)
            return True
        return False

    def _rule(self, op: str) -> list[str]:
        return ["iptables", "-t", "nat", op, "OUTPUT", "-d", LAB_NET, "-p", "tcp", "--dport", "22",
                "-m", "mark", "!", "--mark", hex(MARK), "-m", "comment", "--comment", "hh-bench-delay",
                "-j", "REDIRECT", "--to-ports", str(RELAY_PORT)]

    def __enter__(self):
        cleanup_latency()
        if self.rtt_ms == 0:
            return self
        half = self.rtt_ms / 2
        if self.netem_available():
            self.method = "netem"
            self.ifaces = [BRIDGE] + bridge_ports()
            for i in self.ifaces:
                subprocess.run(["tc", "qdisc", "replace", "dev", i, "root", "netem", "delay", f"{half:g}ms"], check=True)
        else:
            self.method = "relay"
            self.relay = subprocess.Popen([sys.executable, str(BENCH / "delay_relay.py"), str(RELAY_PORT),
                                           f"{half:g}", hex(MARK)], stdout=subprocess.PIPE, text=True)
            if self.relay.stdout.readline().strip() != "ready":
                raise RuntimeError("delay relay did not start")
            subprocess.run(self._rule("-A"), check=True)
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc):
        self.remove()

    def remove(self):
        if self.method == "netem":
            for i in self.ifaces:
                subprocess.run(["tc", "qdisc", "del", "dev", i, "root"], capture_output=True)
        elif self.method == "relay":
            while subprocess.run(self._rule("-D"), capture_output=True).returncode == 0:
                pass
            if self.relay and self.relay.poll() is None:
                self.relay.terminate()
                try:
                    self.relay.wait(5)
                except subprocess.TimeoutExpired:
                    self.relay.kill()
        self.method = None
        if self in _ACTIVE:
            _ACTIVE.remove(self)


_ACTIVE: list[Latency] = []


def bridge_ports() -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "master", BRIDGE], capture_output=True, text=True).stdout
    return [m.group(1) for m in re.finditer(r"^\d+:\s+([^@:\s]+)", out, re.M)]


def cleanup_latency():
    """Idempotent: no netem on the lab's interfaces, no redirect rule (also after a killed run)."""
    for a in list(_ACTIVE):
        a.remove()
    for i in [BRIDGE] + bridge_ports():
        q = subprocess.run(["tc", "qdisc", "show", "dev", i], capture_output=True, text=True).stdout
        if "netem" in q:
            subprocess.run(["tc", "qdisc", "del", "dev", i, "root"], capture_output=True)
    rules = subprocess.run(["iptables", "-t", "nat", "-S", "OUTPUT"], capture_output=True, text=True).stdout
    for line in rules.splitlines():
        if "hh-bench-delay" in line and line.startswith("-A "):
            subprocess.run(["iptables", "-t", "nat", "-D"] + shlex.split(line)[1:], capture_output=True)


def _on_signal(signum, frame):
    cleanup_latency()
    raise SystemExit(128 + signum)          # the size section's finally restores the default lab


atexit.register(cleanup_latency)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def rtt_probe(ips: list[str], n: int = 8) -> dict:
    """Round trip seen by TCP to the servers' port 22 (what SSH pays), and ICMP ping when present.
    tcp_banner: connect + first byte of the SSH banner = 1.5 RTT on a real network.
    The connections go round the servers: OpenSSH 9.8 and later (the lab runs 10) penalise an
    address whose connections never authenticate (sshd_config PerSourcePenalties, noauth), and
    a server that had every probe refused the suite's next runs from this host."""
    tb = []
    for i in range(n):
        t = time.perf_counter()
        with socket.create_connection((ips[i % len(ips)], 22), timeout=5) as s:
            s.recv(64)
        tb.append((time.perf_counter() - t) * 1000)
    res = {"tcp_banner_ms": round(statistics.median(tb), 2)}
    try:
        p = subprocess.run(["ping", "-c", "5", "-i", "0.2", "-q", ips[0]], capture_output=True, text=True)
    except FileNotFoundError:       # iputils-ping is not installed: the TCP figure stands alone
        return res
    m = re.search(r"= [\d.]+/([\d.]+)/", p.stdout)
    if m:
        res["icmp_ping_ms"] = float(m.group(1))
    return res


# ------------------------------------------------------------------ SSH connections per server
def accepted_since(servers: list[dict], since: float, until: float) -> dict:
    """`Accepted publickey ... from <this host>` lines in each server's sshd journal between two
    instants, read through the lab engine (docker exec: no SSH connection of our own)."""
    counts = {}
    for s in servers:
        short = s["short"]
        p = subprocess.run(["docker", "-H", "unix:///run/hive-lab/docker.sock", "exec", short,
                            "journalctl", "-u", "ssh", "-o", "cat", "--no-pager",
                            "--since", f"@{since:.0f}", "--until", f"@{until + 1:.0f}"],
                           capture_output=True, text=True)
        counts[s["full"]] = sum(1 for l in p.stdout.splitlines()
                                if "Accepted publickey" in l and "from 10.99.213.1 " in l)
    return counts


def baseline_frames(text: str) -> list[tuple[str, str]]:
    """(section, exit code) of each command in a baseline's output: `=== [host] section` before
    it, `=== rc N` after it. Ansible prints a host's stderr right after its stdout, so the last
    rc line may run on into stderr text."""
    frames, section = [], None
    for line in text.splitlines():
        rc = re.match(r"=== rc (\d+)", line)
        header = re.match(r"=== (?:\S+ )?(\w+)$", line)
        if rc:
            frames.append((section or "?", rc.group(1)))
        elif header:
            section = header.group(1)
    return frames


# ------------------------------------------------------------------ one size
def suite_cmd(extra=()) -> list[str]:
    # --hive-root=DIR, one word: as two words pytest takes DIR for a path argument and picks its
    # rootdir and pytest.ini from DIR's ancestors (another checkout's, when the lab belongs to one)
    return [PYTEST, f"--hive-root={SITE}", "-q", "-p", "no:randomly",
            "-o", f"report_dir={RAW / 'reports'}", *extra]


def bench_size(hives: int, base_runs: int, first: bool) -> dict:
    res: dict = {"hives": hives, "servers": hives + 1}
    res["lab_up_s"] = round(lab_up(hives), 1)
    plan = site_plan()
    st = lab_state()
    res["commands_per_run"] = sum(len(s["commands"]) for s in plan["servers"])
    work = Path(tempfile.mkdtemp(prefix=f"hh-bench-{hives}-"))
    loop_sh = work / "loop.sh"
    shell_loop_script(plan, loop_sh)
    inv = work / "inventory.yml"
    ansible_inventory(plan, inv)
    ips = [server["ip"] for server in st["servers"]]

    # SSH connections opened per server during one run (bare network), without and with -n 2
    res["ssh_connections"] = {}
    for mode, extra in (("serial", ()), ("n2", ("-n", "2"))):
        measure(suite_cmd(extra))               # warm (imports, page cache)
        t = time.time()
        m = measure(suite_cmd(extra))
        time.sleep(1.5)
        res["ssh_connections"][mode] = {"per_server": accepted_since(st["servers"], t, time.time()), "rc": m["rc"]}

    res["latency"] = {}
    for rtt in LATENCIES:
        r: dict = {}
        with Latency(rtt) as lat:
            r["method"] = lat.method or "none"
            r["probe"] = rtt_probe(ips)
            log(f"{hives + 1} servers, +{rtt} ms ({r['method']}): probe {r['probe']}")
            for mode, extra in (("serial", ()), ("n2", ("-n", "2"))):
                measure(suite_cmd(extra))       # warm-up
                runs = [measure(suite_cmd(extra)) for _ in range(RUNS)]
                r[f"suite_{mode}"] = {"runs": runs, **summary(runs)}
                log(f"  suite {mode}: median {r[f'suite_{mode}']['median']} s {r[f'suite_{mode}']['rcs']}")
            if first and rtt == LATENCIES[0]:
                measure(["bash", str(loop_sh)])
            runs = [measure(["bash", str(loop_sh)], out_path=work / f"loop-{rtt}.out") for _ in range(base_runs)]
            r["shell_loop"] = {"runs": runs, **summary(runs)}
            log(f"  shell loop: median {r['shell_loop']['median']} s")
            runs = []
            for i in range(base_runs + (1 if first and rtt == LATENCIES[0] else 0)):
                tmp = tempfile.mkdtemp(prefix="hh-ansible-")
                m = measure(ansible_cmd(inv), env=ansible_env(tmp), out_path=work / f"ansible-{rtt}.out")
                runs.append(m)
            if first and rtt == LATENCIES[0]:
                runs = runs[1:]
            r["ansible"] = {"runs": runs, **summary(runs)}
            log(f"  ansible: median {r['ansible']['median']} s")
            r["probe_after"] = rtt_probe(ips, 4)
        r["probe_removed"] = rtt_probe(ips, 4)
        res["latency"][str(rtt)] = r
    # did the baselines collect the facts? frames and non-zero exits of the last outputs
    for name in ("loop", "ansible"):
        f = work / f"{name}-{LATENCIES[0]}.out"
        frames = baseline_frames(f.read_text(errors="replace") if f.exists() else "")
        failed = sorted({section for section, rc in frames if rc != "0"})
        res.setdefault("baseline_check", {})[name] = {
            "sections_answered": len(frames), "nonzero": sum(1 for _, rc in frames if rc != "0"),
            "nonzero_sections": failed, "expected": res["commands_per_run"]}
        if failed:
            log(f"  {name}: sections that exited non-zero: {', '.join(failed)}")
    res["work_dir"] = str(work)
    return res


# ------------------------------------------------------------------ time to green
# (fault, target or None, --fix flags, -k area, runbook commands for a lab with H hives, how counted)
def runbook_counts(h: int) -> dict:
    """Commands the runbook (its section 7) has an operator type, on a site with
    h hives; `hive ssh -t <host>` to reach a server counts as one command."""
    return {
        "units:failed": (3, "7.6: hive ssh -t X; systemctl list-units --state=failed ...; sudo systemctl disable --now <unit>"),
        "units:leftover-drbd": (3, "7.6/7.22: hive ssh -t X; systemctl list-units --state=failed ...; sudo systemctl reset-failed"),
        "disk:full": (2, "7.1: hive ssh -t X; docker system prune -f"),
        "drbd:outdated": (1 + 2 * h + 2 + 3 * (h - 1) + 2 + 1,
                          "7.7(a): hive deploy-services -l <svc> -D; per hive: hive ssh -t + drbdadm status (2h); "
                          "#1: hive ssh -t + primary --force (2); other hives: hive ssh -t + disconnect + connect (3(h-1)); "
                          "#1: hive ssh -t + secondary (2); hive deploy-services -l <svc> (1)"),
        "drbd:one-sided": (1 + 2 * h + 3 + 1,
                           "7.7(b): hive deploy-services -D; per hive: hive ssh -t + drbdadm status (2h); "
                           "normal side: hive ssh -t + disconnect + connect (3); hive deploy-services (1)"),
        "services:xfs-corrupt": (5, "7.8: hive ssh -t #1; docker service ps --no-trunc <svc>; docker service scale <svc>=0; "
                                    "sudo xfs_repair $(docker volume inspect ...); docker service scale <svc>=1"),
        "registry:bloat": (7, "7.3: hive ssh; sudo du -s -B G ...; cd registry; docker compose down -v; "
                              "docker compose up -d; logout; hive build-images (the runbook's way deletes every image; "
                              "the suite garbage-collects instead)"),
    }


SCENARIOS = [  # as tests/lab/test_faults.py runs them on the default lab
    ("units:failed", "s-hive1.lab", ["--fix", "-o", "units_not_needed=hh-lab-broken.service"], "units"),
    ("units:leftover-drbd", "s-hive1.lab", ["--fix"], "units"),
    ("disk:full", "s-hive2.lab", ["--fix"], "disk"),
    ("drbd:outdated", None, ["--fix", "--allow-risky"], "drbd"),
    ("drbd:one-sided", None, ["--fix"], "drbd"),
    ("services:xfs-corrupt", None, ["--fix", "--allow-risky"], "service"),
    ("registry:bloat", None, ["--fix", "--allow-risky"], "registry"),
]


def time_to_green(hives: int) -> list[dict]:
    counts = runbook_counts(hives)
    out = []
    for fault, target, flags, area in SCENARIOS:
        rec = {"fault": fault, "flags": " ".join(flags), "k": area,
               "runbook_commands": counts[fault][0], "runbook_how": counts[fault][1]}
        try:
            rec["inject"] = lab("inject", fault, *([target] if target else []))
            # the fault must show first (some take seconds: a restart loop), else --fix has nothing to do
            t = time.time()
            while True:
                m = measure(suite_cmd(["-k", area]))
                if m["rc"] != 0 or time.time() - t > 120:
                    break
                time.sleep(2)
            rec["detect_s"] = round(time.time() - t, 1)
            rec["detected_rc"] = m["rc"]
            t = time.time()
            attempts = []
            while True:
                m = measure(suite_cmd([*flags, "-k", area]), out_path=RAW / f"fix-{fault}.out")
                attempts.append(m["wall"])
                if m["rc"] == 0 or time.time() - t > 180:
                    break
            rec["time_to_green_s"] = round(time.time() - t, 1)
            rec["fix_runs"] = attempts
            rec["green"] = m["rc"] == 0
            rec["full_suite_after_rc"] = measure(suite_cmd())["rc"]
        except Exception as e:  # noqa: BLE001  (record, heal, go on)
            rec["error"] = str(e)[-1500:]
        finally:
            lab("heal")
        log(f"  {fault}: {rec.get('time_to_green_s')} s to green ({rec.get('fix_runs')}), runbook {rec['runbook_commands']} commands")
        out.append(rec)
    return out


# ------------------------------------------------------------------ main
def main():
    if os.geteuid() != 0:
        sys.exit("bench: run as root (the lab needs it)")
    RAW.mkdir(parents=True, exist_ok=True)
    ensure_ansible()
    result = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
              "config": {"sizes": SIZES, "runs": RUNS, "base_runs": BASE_RUNS, "latencies": LATENCIES},
              "sizes": {}}
    out_json = RAW / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    try:
        for i, hives in enumerate(SIZES):
            with LabLock():
                try:
                    log(f"== {hives + 1} servers ({hives} hives + repository)")
                    result["sizes"][str(hives + 1)] = bench_size(hives, BASE_RUNS[min(i, len(BASE_RUNS) - 1)], i == 0)
                    if DO_FIX and hives == DEFAULT_HIVES:
                        log("== time to green (remedy scenarios)")
                        result["time_to_green"] = time_to_green(hives)
                finally:
                    cleanup_latency()
                    restore_default(hives)
                out_json.write_text(json.dumps(result, indent=1))
    finally:
        cleanup_latency()
        result["elapsed_s"] = round(time.time() - T0, 1)
        out_json.write_text(json.dumps(result, indent=1))
    publish(result)
    log(f"raw: {out_json}; table: bench/results/latest.md; total {time.time() - T0:.0f} s")


def publish(result: dict):
    """The table (bench/results/latest.md, linked from the README) and its compact JSON."""
    import history_bench
    import report
    md = report.render(result)
    latest = BENCH / "results" / "latest.md"
    # the history bench's section stays (make bench runs it next and replaces it then)
    md = history_bench.carry(latest.read_text() if latest.exists() else "", md)
    latest.write_text(md)
    (BENCH / "results" / "latest.json").write_text(json.dumps(report.compact(result), indent=1) + "\n")
    print(md)


def machine() -> dict:
    return {"cpus": os.cpu_count(), "kernel": os.uname().release,
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "python": sys.version.split()[0]}


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    if sys.argv[1:2] == ["--render"]:     # re-render the table from a raw JSON
        publish(json.loads(Path(sys.argv[2]).read_text()))
    else:
        main()
