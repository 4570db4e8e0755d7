"""The lab's own Docker engine: own data-root, exec-root, socket and bridge; never another one."""
import json
import os
import signal
import subprocess
import time

from . import util
from .util import EXEC_ROOT, ENGINE_ROOT, PIDFILE, RUNTIME_DIR, SOCK, log

CONFIG = os.path.join(RUNTIME_DIR, "daemon.json")
LOGFILE = "/var/log/hive-lab-dockerd.log"


def _pid():
    try:
        pid = int(open(PIDFILE).read().strip())
    except (OSError, ValueError):
        return None
    try:
        cmd = open(f"/proc/{pid}/cmdline").read()
    except OSError:
        return None
    return pid if SOCK in cmd else None


def responsive():
    if not os.path.exists(SOCK):
        return False
    r = util.run(["docker", "-H", "unix://" + SOCK, "version", "--format", "{{.Server.Version}}"],
                 check=False, timeout=15)
    return r.returncode == 0


def running():
    return _pid() is not None and responsive()


def start():
    if running():
        return
    stop()  # whatever a killed run left behind
    os.makedirs(RUNTIME_DIR, exist_ok=True)
    os.makedirs(ENGINE_ROOT, exist_ok=True)
    with open(CONFIG, "w") as f:
        json.dump({}, f)
    cmd = ["dockerd", "--config-file", CONFIG, "--data-root", ENGINE_ROOT,
           "--exec-root", EXEC_ROOT, "-H", "unix://" + SOCK, "--pidfile", PIDFILE,
           "--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
           "--userland-proxy=false", "--storage-driver", "overlay2", "--log-level", "warn"]
    logf = open(LOGFILE, "ab")
    subprocess.Popen(cmd, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True)
    util.wait_for(responsive, 60, what="the lab docker engine")


def _lab_pids():
    """Processes that belong to the lab engine (dockerd, its containerd, shims, containers' init)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmd = open(f"/proc/{d}/cmdline").read().replace("\0", " ")
        except OSError:
            continue
        if RUNTIME_DIR in cmd or (ENGINE_ROOT in cmd and "dockerd" in cmd):
            pids.append(int(d))
    # the containers' own init processes (children of the shims) survive a killed shim
    shims = set(pids)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid in shims and int(d) not in shims:
            pids.append(int(d))
    return pids


def stop():
    pid = _pid()
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        end = time.time() + 30
        while time.time() < end and os.path.exists(f"/proc/{pid}"):
            time.sleep(0.3)
    # leftovers of a killed run: its containerd and shims (matched by our exec-root path) and
    # the containers' inits (children of the shims; systemd ignores SIGTERM, so the set is
    # computed once, before the shims die and their children are reparented)
    first = [p for p in _lab_pids() if p != os.getpid()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = sorted(set(first) | {p for p in _lab_pids() if p != os.getpid()})
        pids = [p for p in pids if os.path.exists(f"/proc/{p}")]
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        time.sleep(2)
    for p in (PIDFILE, SOCK):
        try:
            os.remove(p)
        except OSError:
            pass
    util.umount_tree(EXEC_ROOT)
    util.umount_tree(ENGINE_ROOT)
    util.umount_tree(RUNTIME_DIR)
    log("lab engine stopped") if pid else None
