"""Small helpers shared by the lab modules (stdlib only)."""
import json
import os
import subprocess
import sys
import time

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
RUN_DIR = os.path.join(LAB_DIR, ".run")
SITE_DIR = os.path.join(RUN_DIR, "site")
STATE_FILE = os.path.join(RUN_DIR, "lab.json")
FAULTS_FILE = os.path.join(RUN_DIR, "faults.json")

# host-side state of the lab (not in the work tree: data-root, disks, DRBD sim state)
VAR_DIR = "/var/lib/hive-lab"
ENGINE_ROOT = os.path.join(VAR_DIR, "engine")
DISK_DIR = os.path.join(VAR_DIR, "disks")
MNT_DIR = os.path.join(VAR_DIR, "mnt")
DRBD_DIR = os.path.join(VAR_DIR, "drbd")
RUNTIME_DIR = "/run/hive-lab"
SOCK = os.path.join(RUNTIME_DIR, "docker.sock")
PIDFILE = os.path.join(RUNTIME_DIR, "docker.pid")
EXEC_ROOT = os.path.join(RUNTIME_DIR, "exec")

VERBOSE = os.environ.get("HIVE_LAB_VERBOSE") == "1"
_T0 = time.time()


def log(msg):
    sys.stderr.write(f"[lab {time.time() - _T0:6.1f}s] {msg}\n")
    sys.stderr.flush()


def run(cmd, check=True, input=None, timeout=None, quiet=False, env=None):
    """Run a command (list or shell string); return CompletedProcess with text output."""
    shell = isinstance(cmd, str)
    if VERBOSE:
        log("$ " + (cmd if shell else " ".join(cmd)))
    r = subprocess.run(cmd, shell=shell, input=input, text=True, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if check and r.returncode != 0:
        c = cmd if shell else " ".join(cmd)
        raise RuntimeError(f"command failed ({r.returncode}): {c}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r


def docker(*args, check=True, input=None, timeout=None):
    """The lab's own engine only (never the default socket)."""
    return run(["docker", "-H", "unix://" + SOCK] + list(args), check=check, input=input,
               timeout=timeout)


def dexec(container, cmd, check=True, input=None, timeout=120, user=None):
    """Run a shell command inside a server container."""
    args = ["exec"]
    if input is not None:
        args.append("-i")
    if user:
        args += ["-u", user]
    args += [container, "sh", "-c", cmd]
    return docker(*args, check=check, input=input, timeout=timeout)


def wait_for(pred, timeout, interval=0.5, what="condition"):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - retried until timeout
            last = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f": {last}" if last else ""))


def load_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.rename(tmp, path)


def mounts_under(prefix):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == prefix or mp.startswith(prefix.rstrip("/") + "/"):
                out.append(mp)
    return out


def umount_tree(prefix):
    for mp in sorted(mounts_under(prefix), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
