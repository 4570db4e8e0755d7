"""The real-DRBD lab (lab/real_drbd/, QEMU guests with the DRBD 9 module someone built), when it is up.

It is run by hand (`python3 -m lab up --real-drbd --drbd-modules DIR`); CI never has it, so every
test here skips, saying so, unless HH_REAL_DRBD=1 is set (the lab may be up mid-scenario, a
fault made on purpose), its site exists and its guests answer. What they hold it to:
the suite reads its project as a hive-builder site (servers, roles, the forwarded SSH ports),
every guest runs the given DRBD 9 module (not the stand-in, not the kernel's 8.4), and the
suite's own DRBD check reads it as healthy.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "lab" / ".run-real-drbd"
SITE = RUN / "site"
STATE = RUN / "lab.json"


def _lab():
    if os.environ.get("HH_REAL_DRBD") != "1":
        pytest.skip("the real-DRBD lab's tests run with HH_REAL_DRBD=1 (lab/README.md, Real DRBD)")
    if not STATE.exists() or not SITE.is_dir():
        pytest.skip("the real-DRBD lab is not up (python3 -m lab up --real-drbd --drbd-modules DIR)")
    return json.loads(STATE.read_text())


def _ssh(lab, guest, cmd):
    cfg = SITE / ".hive" / lab["stage"] / "ssh_config"
    return subprocess.run(["ssh", "-F", str(cfg), "-o", "BatchMode=yes", "-o", "ConnectTimeout=30",
                           guest["full"], cmd], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def lab():
    lab = _lab()
    down = [g["full"] for g in lab["servers"] if _ssh(lab, g, "true").returncode != 0]
    if down:
        pytest.skip(f"real-DRBD lab guests not answering SSH: {', '.join(down)}")
    return lab


def test_site_reads_as_a_hive_project(lab):
    from hivehealth.site import inventory, ssh_config
    site = inventory.load_hive_project(SITE)
    assert [s.name for s in site.servers] == [g["full"] for g in lab["servers"]]
    assert [s.name for s in site.hives] == [g["full"] for g in lab["servers"]]
    assert "repository" in site.servers[-1].roles and "first_hive" in site.servers[0].roles
    assert site.drbd_device_map == {lab["volume"]: lab["minor"]}
    for g in lab["servers"]:
        o = ssh_config.resolve(str(SITE / ".hive" / lab["stage"] / "ssh_config"), g["full"])
        assert (o.hostname, o.port) == ("127.0.0.1", g["ssh_port"])


def test_every_guest_runs_the_given_drbd_9_module(lab):
    for g in lab["servers"]:
        r = _ssh(lab, g, "cat /sys/module/drbd/version; readlink -f /usr/sbin/drbdadm; "
                         "sudo -n modinfo -F filename drbd")
        version, drbdadm, filename = r.stdout.split()
        assert version == lab["drbd_version"] and version.startswith("9."), (g["full"], r.stdout)
        assert drbdadm == "/usr/sbin/drbdadm"                  # drbd-utils, not the stand-in's link
        assert "/updates/drbd/" in filename, filename


def test_the_suite_reads_drbd_healthy_on_it(lab, tmp_path):
    r = subprocess.run([str(REPO / "bin" / "hive-health"), "--hive-root", str(SITE), "-k", "test_drbd",
                        "-p", "no:cacheprovider", "-o", f"report_dir={tmp_path}",
                        "-o", "command_timeout=300", "-o", "connect_timeout=60"],
                       capture_output=True, text=True, timeout=1800, env=dict(os.environ))
    assert r.returncode == 0, r.stdout[-3000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    drbd = [c for c in report["checks"] if c["area"] == "drbd"]
    assert drbd and all(c["outcome"] == "passed" for c in drbd), drbd
