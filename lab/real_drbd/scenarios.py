"""The runbook's DRBD scenarios on the real-DRBD lab, repaired by the suite itself.

    python3 -m lab.real_drbd.scenarios [--label NAME] [--repeat N] [SCENARIO ...]

For each scenario: files are written on the volume (through the hive running the service) and
their sha256 taken; the fault is made with the commands the runbook (or the reference run)
names; `bin/hive-health --hive-root SITE --fix -k drbd` (with `--allow-risky` where the remedy
is risky) runs; if it does not end green the check runs again (without --fix) until it does or
TIME_TO_GREEN passes; then the files are read back. Everything (commands, the suite's output,
exit codes, times, checksums, the guests' drbd kernel messages) goes to
lab/.run-real-drbd/results/<label>/<scenario>[-N]/ and a summary.json there.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import time

from .. import util
from . import site, vm

REPO = os.path.dirname(util.LAB_DIR)
HIVE_HEALTH = os.path.join(REPO, "bin", "hive-health")
RESULTS = os.path.join(site.RUN_DIR, "results")
TIME_TO_GREEN = 600
MNT = "/var/lib/docker/volumes/{vol}/_data"


class Run:
    """One scenario's record: every command, the suite's runs, the checksums."""

    def __init__(self, lab, label, name):
        self.lab, self.name = lab, name
        self.dir = os.path.join(RESULTS, label, name)
        os.makedirs(self.dir, exist_ok=True)
        self.t0 = time.time()
        self.events = []
        self.result = {"scenario": name, "commands": [], "suite": []}

    def note(self, text):
        util.log(f"[{self.name}] {text}")
        self.events.append((round(time.time() - self.t0, 1), text))

    def sh(self, g, cmd, check=True, timeout=300):
        """A command run as root in a guest, recorded with its exit code and output."""
        t = round(time.time() - self.t0, 1)
        r = site.sudo(self.lab, g, cmd, check=False, timeout=timeout)
        self.result["commands"].append({"t": t, "node": g["short"], "command": cmd, "rc": r.returncode,
                                        "stdout": r.stdout[-3000:], "stderr": r.stderr[-3000:]})
        if check and r.returncode != 0:
            raise RuntimeError(f"{g['full']}: {cmd}: exit {r.returncode}: {r.stdout[-500:]}{r.stderr[-500:]}")
        return r

    def suite(self, tag, fix=True, risky=False):
        # TCG guests on a shared machine answer 10-50x slower than servers: longer timeouts
        args = [HIVE_HEALTH, "--hive-root", site.SITE_DIR, "-k", "drbd", "-p", "no:cacheprovider",
                "-o", "command_timeout=300", "-o", "connect_timeout=60",
                "-o", f"report_dir={os.path.join(self.dir, 'reports-' + tag)}"]
        if fix:
            args.append("--fix")
        if risky:
            args.append("--allow-risky")
        t = time.time()
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
        dt = round(time.time() - t, 1)
        with open(os.path.join(self.dir, f"suite-{tag}.txt"), "w") as f:
            f.write("$ " + " ".join(shlex.quote(a) for a in args) + "\n" + r.stdout + f"\n[exit {r.returncode}]\n")
        self.result["suite"].append({"tag": tag, "args": args[1:], "rc": r.returncode, "seconds": dt,
                                     "t": round(t - self.t0, 1)})
        self.note(f"suite {tag}: exit {r.returncode} in {dt} s")
        return r

    def save(self, **extra):
        self.result.update(extra, events=self.events, seconds=round(time.time() - self.t0, 1))
        util.save_json(os.path.join(self.dir, "result.json"), self.result)
        return self.result


def guests(lab):
    return lab["servers"]


def by_short(lab, short):
    return next(g for g in guests(lab) if g["short"] == short)


def primary_node(lab):
    node = site.service_node(lab)
    return by_short(lab, node) if node else None


def write_files(run, g, tag, mib=8):
    """Files on the volume through the hive that has it mounted; returns {path: sha256}."""
    d = MNT.format(vol=run.lab["volume"])
    r = run.sh(g, f"set -e; for i in 1 2 3; do dd if=/dev/urandom of={d}/hh-{tag}-$i bs=1M count={mib} "
                  f"status=none; done; sync; cd {d} && sha256sum hh-{tag}-*")
    return dict(reversed(line.split()) for line in r.stdout.splitlines())


def read_files(run, g, files):
    d = MNT.format(vol=run.lab["volume"])
    r = run.sh(g, f"cd {d} && sha256sum " + " ".join(shlex.quote(f) for f in sorted(files)), check=False)
    got = dict(reversed(line.split()) for line in r.stdout.splitlines() if len(line.split()) == 2)
    return got


def kernel_log(run, since):
    """Each guest's drbd kernel messages since `since` (epoch seconds), into the record."""
    text = {}
    for g in guests(run.lab):
        r = site.sudo(run.lab, g, f"journalctl -k -o short-monotonic --no-pager --since @{int(since)} | "
                                  "grep -i drbd", check=False, timeout=120)
        text[g["short"]] = r.stdout
        with open(os.path.join(run.dir, f"{g['short']}-kernel-log.txt"), "w") as f:
            f.write(r.stdout)
    return text


def split_brains(logs):
    return {n: sum(1 for line in t.splitlines() if "Split-Brain detected" in line and "manually solved" not in line)
            for n, t in logs.items()}


def wait_green(run, tag, risky=False):
    """--fix once; then the check alone until it is green. Returns seconds from the fix's start."""
    t = time.time()
    r = run.suite(tag, fix=True, risky=risky)
    n = 0
    while r.returncode != 0 and time.time() - t < TIME_TO_GREEN:
        time.sleep(10)
        n += 1
        r = run.suite(f"{tag}-recheck{n}", fix=False)
    return round(time.time() - t, 1) if r.returncode == 0 else None


def settle(lab, timeout=600):
    util.wait_for(lambda: site.drbd_healthy(lab) and site.service_node(lab), timeout, interval=5,
                  what="DRBD healthy and the service running")


# ---------------------------------------------------------------- the faults
def swarm(run, g, cmd):
    """A swarm command, asked again while the starved managers answer "context deadline exceeded"."""
    util.wait_for(lambda: run.sh(g, cmd, check=False).returncode == 0, 600, interval=10, what=cmd)


def make_all_outdated(run):
    """As the runbook's state is made by hand: service stopped, then on every hive secondary,
    down, outdate, up; the service scaled back (its tasks cannot mount: no UpToDate data)."""
    lab = run.lab
    fh = guests(lab)[lab["first_hive"]]
    vol, svc = lab["volume"], lab["service"]
    swarm(run, fh, f"docker service scale -d {svc}=0 >/dev/null")
    util.wait_for(lambda: all("Primary" not in (t or "") .split("\n")[0] for t in site.drbd_views(lab).values()),
                  120, interval=3, what="the service's node to give up Primary")
    for step in ("secondary", "down", "outdate", "up"):
        for g in guests(lab):
            run.sh(g, f"drbdadm {step} {vol}")
    swarm(run, fh, f"docker service scale -d {svc}=1 >/dev/null")
    time.sleep(5)
    for g in guests(lab):
        run.sh(g, f"drbdadm status {vol}", check=False)


def scenario_all_outdated(run, repeat=1):
    lab = run.lab
    cycles = []
    for i in range(repeat):
        settle(lab)
        p = primary_node(lab)
        files = write_files(run, p, f"outdated{i}")
        t_fault = time.time()
        make_all_outdated(run)
        ttg = wait_green(run, f"fix{i}", risky=True)
        settle(lab)
        after = read_files(run, primary_node(lab), files)
        logs = kernel_log(run, t_fault - 1)
        sb = split_brains(logs)
        cycles.append({"cycle": i, "time_to_green": ttg, "files": files, "read_back": after,
                       "intact": after == files, "split_brain_messages": sb,
                       "full_resync": {n: t.count("rule=history-peer") + t.count("rule=history-both")
                                       for n, t in logs.items()}})
        run.note(f"cycle {i}: green after {ttg} s, data {'intact' if after == files else 'CHANGED'}, "
                 f"split-brain messages {sb}")
    return run.save(cycles=cycles)


def scenario_one_sided(run):
    """`drbdadm disconnect <res>:<peer>` on one node: that side StandAlone to the peer only."""
    lab = run.lab
    settle(lab)
    p = primary_node(lab)
    other = next(g for g in guests(lab) if g is not p)
    files = write_files(run, p, "onesided")
    run.sh(other, f"drbdadm disconnect {lab['volume']}:{p['full']}")
    time.sleep(3)
    for g in guests(lab):
        run.sh(g, f"drbdadm status {lab['volume']}", check=False)
    t = time.time()
    ttg = wait_green(run, "fix")
    state = {g["short"]: site.sudo(lab, g, f"drbdadm status {lab['volume']}", check=False).stdout for g in guests(lab)}
    healed_by_suite = ttg is not None
    if not healed_by_suite:
        run.note("not green: reconnecting by hand (drbdadm connect <res>:<peer> on the StandAlone side)")
        run.sh(other, f"drbdadm connect {lab['volume']}:{p['full']}", check=False)
        settle(lab)
    after = read_files(run, primary_node(lab), files)
    logs = kernel_log(run, t - 60)
    return run.save(time_to_green=ttg, healed_by_suite=healed_by_suite, standalone_side=other["short"],
                    peer=p["short"], state_after_suite=state, files=files, read_back=after,
                    intact=after == files, split_brain_messages=split_brains(logs))


def scenario_power_off(run):
    """A hive that does not run the service is powered off (QEMU SIGKILLed) while data is
    written, then booted again."""
    lab = run.lab
    settle(lab)
    p = primary_node(lab)
    victim = next(g for g in reversed(guests(lab)) if g is not p)
    files = write_files(run, p, "poweroff-before")
    vm.kill(victim)
    run.note(f"{victim['short']} powered off")
    time.sleep(15)
    files.update(write_files(run, p, "poweroff-during", mib=32))
    run.suite("while-off", fix=True)
    t = time.time()
    boot_s = site.boot(lab, victim)
    run.note(f"{victim['short']} booted again in {boot_s:.0f} s")
    ttg = wait_green(run, "fix-after-boot")
    settle(lab)
    after = read_files(run, primary_node(lab), files)
    logs = kernel_log(run, t - 5)
    return run.save(victim=victim["short"], boot_seconds=round(boot_s, 1), time_to_green=ttg,
                    time_to_green_from_boot=None if ttg is None else round(time.time() - t, 1),
                    files=files, read_back=after, intact=after == files,
                    split_brain_messages=split_brains(logs))


def scenario_resync(run):
    """A hive disconnected, 250 MiB written on the Primary, reconnected: the suite runs while
    the resync is in progress."""
    lab = run.lab
    settle(lab)
    p = primary_node(lab)
    other = next(g for g in reversed(guests(lab)) if g is not p)
    files = write_files(run, p, "resync-before")
    run.sh(other, f"drbdadm disconnect {lab['volume']}")
    files.update(write_files(run, p, "resync-during", mib=84))
    t = time.time()
    run.sh(other, f"drbdadm connect {lab['volume']}")
    for g in guests(lab):
        run.sh(g, f"drbdadm status {lab['volume']}", check=False)
    ttg = wait_green(run, "fix")
    settle(lab)
    after = read_files(run, primary_node(lab), files)
    logs = kernel_log(run, t - 30)
    return run.save(target=other["short"], time_to_green=ttg, files=files, read_back=after,
                    intact=after == files, split_brain_messages=split_brains(logs))


def scenario_split_brain(run):
    """As the reference run made it: one hive disconnected, forced Primary, written; the
    Primary writes too; reconnect. The suite must refuse, with guidance, even at --allow-risky.
    Then repaired by hand per connection (victim: the isolated hive)."""
    lab = run.lab
    vol, minor = lab["volume"], lab["minor"]
    settle(lab)
    p = primary_node(lab)
    victim = next(g for g in reversed(guests(lab)) if g is not p)
    files = write_files(run, p, "splitbrain-before")
    t = time.time()
    run.sh(victim, f"drbdadm disconnect {vol}")
    run.sh(victim, f"drbdadm primary {vol}", check=False)
    run.sh(victim, f"drbdadm primary --force {vol} && mkdir -p /mnt/victim && mount /dev/drbd{minor} /mnt/victim && "
                   f"dd if=/dev/urandom of=/mnt/victim/hh-victim bs=1M count=4 status=none && sync && "
                   f"umount /mnt/victim && drbdadm secondary {vol}")
    files.update(write_files(run, p, "splitbrain-survivor", mib=4))
    run.sh(victim, f"drbdadm connect {vol}")
    time.sleep(8)
    for g in guests(lab):
        run.sh(g, f"drbdadm status {vol}", check=False)
    r = run.suite("fix-risky", fix=True, risky=True)
    state = {g["short"]: site.sudo(lab, g, f"drbdadm status {vol}", check=False).stdout for g in guests(lab)}
    refused = r.returncode != 0
    # the repair by hand, per connection (what the guidance should say on three nodes)
    run.note("repair by hand: victim disconnect/secondary/connect --discard-my-data, survivor connect <res>:<victim>")
    run.sh(victim, f"drbdadm disconnect {vol}; drbdadm secondary {vol}; drbdadm connect --discard-my-data {vol}",
           check=False)
    run.sh(p, f"drbdadm connect {vol}:{victim['full']}", check=False)
    for g in guests(lab):
        if g is not p and g is not victim:
            run.sh(g, f"drbdadm status {vol}", check=False)
    settle(lab)
    after = read_files(run, primary_node(lab), files)
    logs = kernel_log(run, t - 5)
    green = run.suite("after-hand-repair", fix=False).returncode == 0
    return run.save(victim=victim["short"], survivor=p["short"], refused=refused, state_after_suite=state,
                    files=files, read_back=after, intact=after == files, green_after_hand_repair=green,
                    split_brain_messages=split_brains(logs))


SCENARIOS = {
    "all-outdated": scenario_all_outdated,
    "one-sided": scenario_one_sided,
    "power-off": scenario_power_off,
    "resync": scenario_resync,
    "split-brain": scenario_split_brain,
}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m lab.real_drbd.scenarios", description=__doc__.split("\n")[0])
    ap.add_argument("--label", default=time.strftime("%Y%m%d-%H%M%S"))
    ap.add_argument("--repeat", type=int, default=1, help="cycles of all-outdated")
    ap.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("the lab must run as root")
    lab = site.load()
    if not lab:
        sys.exit("the real-DRBD lab is not up: python3 -m lab up --real-drbd --drbd-modules DIR")
    unknown = [s for s in a.scenarios if s not in SCENARIOS]
    if unknown:
        sys.exit(f"unknown scenario {', '.join(unknown)} (known: {', '.join(SCENARIOS)})")
    summary = []
    for name in a.scenarios:
        tag = f"{name}-x{a.repeat}" if name == "all-outdated" and a.repeat > 1 else name
        run = Run(lab, a.label, tag)
        try:
            res = SCENARIOS[name](run, a.repeat) if name == "all-outdated" else SCENARIOS[name](run)
        except Exception as e:  # noqa: BLE001 - recorded, the next scenario still runs
            run.note(f"ERROR: {e}")
            res = run.save(error=str(e))
        summary.append(res)
        util.save_json(os.path.join(RESULTS, a.label, "summary.json"), summary)
    print(json.dumps([{k: v for k, v in s.items() if k not in ("commands", "events")} for s in summary],
                     indent=1)[:20000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
