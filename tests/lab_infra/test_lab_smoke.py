"""Smoke test of the hive lab itself (HH_LAB=1 only, as root; takes ~1.5 min).

up -> SSH through the project's ssh_config works, sudo -n works, the swarm has every hive
Ready/Active with one Leader, the service runs, DRBD is UpToDate -> down leaves nothing
behind (containers, engine processes, loop devices, mounts, bridge, runtime dirs).
If a lab was already up, it is taken down and brought up again at the end (same options).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.environ.get("HH_LAB") != "1", reason="needs HH_LAB=1 (root)")]
VAR = "/var/lib/hive-lab"
RUNTIME = "/run/hive-lab"


def lab(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def ssh(site, host, cmd):
    cfg = Path(site) / ".hive" / "staging" / "ssh_config"
    return subprocess.run(["ssh", "-F", str(cfg), "-o", "BatchMode=yes", host, cmd],
                          capture_output=True, text=True, timeout=60)


def leftovers():
    found = []
    loops = subprocess.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], capture_output=True,
                           text=True).stdout
    found += [ln for ln in loops.splitlines() if VAR in ln]
    with open("/proc/self/mountinfo") as f:
        found += [ln.split()[4] for ln in f if VAR in ln.split()[4] or RUNTIME in ln.split()[4]]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = open(f"/proc/{d}/cmdline").read()
            except OSError:
                continue
            if RUNTIME in cmd or (VAR in cmd and "dockerd" in cmd):
                found.append(f"process {d}: {cmd[:80]}")
    if subprocess.run(["ip", "link", "show", "hivelab0"], capture_output=True).returncode == 0:
        found.append("bridge hivelab0")
    found += [p for p in (VAR, RUNTIME, str(REPO / "lab" / ".run")) if os.path.exists(p)]
    return found


def test_up_ssh_swarm_down_clean():
    state = REPO / "lab" / ".run" / "lab.json"
    before = json.loads(state.read_text()) if state.exists() else None
    r = lab("up")
    assert r.returncode == 0, r.stderr[-3000:]
    site = r.stdout.strip().splitlines()[-1]
    assert site == str(REPO / "lab" / ".run" / "site")
    for f in ["inventory/hive.yml", ".hive/persistents.yml", ".hive/staging/ssh_config",
              ".hive/staging/known_hosts", ".hive/staging/id_rsa", ".hive/staging/registry_password"]:
        assert (Path(site) / f).exists(), f
    hosts = [ln.split()[1] for ln in (Path(site) / ".hive/staging/ssh_config").read_text().splitlines()
             if ln.startswith("Host ")]
    for h in hosts:
        r = ssh(site, h, "sudo -n true && hostname")
        assert r.returncode == 0, (h, r.stderr)
        assert r.stdout.strip() == h.split(".")[0]
    r = ssh(site, hosts[0], "docker node ls --format '{{.Hostname}} {{.Status}} {{.Availability}} "
                            "{{.ManagerStatus}}'")
    rows = [ln.split() for ln in r.stdout.splitlines()]
    assert len(rows) == len(hosts) - 1
    assert all(x[1:3] == ["Ready", "Active"] for x in rows)
    assert [x[3] for x in rows].count("Leader") == 1
    r = ssh(site, hosts[0], "sudo drbdsetup status --json ldap_data")
    doc = json.loads(r.stdout)
    assert doc[0]["devices"][0]["disk-state"] == "UpToDate"
    assert all(c["connection-state"] == "Connected" for c in doc[0]["connections"])
    # second up is quick and prints the path again
    r = lab("up", timeout=120)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == site

    r = lab("down")
    assert r.returncode == 0, r.stderr[-3000:]
    assert leftovers() == []
    r = lab("down")                       # idempotent
    assert r.returncode == 0

    if before:                            # put back the lab that was there
        args = ["up", "--hives", str(before["hives"]), "--name", before["name"],
                "--stage", before["stage"], "--disk-size", before["disk_size"],
                "--separate-repository" if before["separate"] else "--no-separate-repository"]
        assert lab(*args).returncode == 0
