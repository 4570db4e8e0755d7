"""Lab faults of the area hostkeys: servers' SSH host keys (checks/test_hostkeys.py)."""
import os
import subprocess

from .. import site, util
from ..util import RUN_DIR
from . import Fault
from .site_ops import default_target, sx


def inj_hostkey_changed(lab, target):
    s = default_target(lab, target, "second-hive")
    os.makedirs(os.path.join(RUN_DIR, "faults"), exist_ok=True)
    backup = os.path.join(RUN_DIR, "faults", f"{s['short']}-hostkeys.tar")
    if not os.path.exists(backup):
        data = subprocess.run(["docker", "-H", "unix://" + util.SOCK, "exec", s["short"], "sh", "-c",
                               "tar -C /etc/ssh -cf - $(cd /etc/ssh && ls ssh_host_*)"],
                              stdout=subprocess.PIPE, check=True).stdout
        with open(backup, "wb") as f:
            f.write(data)
    sx(s, "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && systemctl restart ssh")
    return s, f"{s['full']} has new SSH host keys (server rebuilt): Host key verification failed", \
        {"backup": backup}


def heal_hostkey_changed(lab, s, rec):
    backup = rec.get("backup")
    if backup and os.path.exists(backup):
        with open(backup, "rb") as f:
            data = f.read()
        subprocess.run(["docker", "-H", "unix://" + util.SOCK, "exec", "-i", s["short"], "sh", "-c",
                        "rm -f /etc/ssh/ssh_host_* && tar -C /etc/ssh -xf - && systemctl restart ssh"],
                       input=data, check=True, stdout=subprocess.DEVNULL)
        os.remove(backup)
    site.write_known_hosts(lab)


FAULTS = [
    Fault("hostkeys:changed", inj_hostkey_changed, heal_hostkey_changed,
          "a server's SSH host keys regenerated [s-hive1]"),
]
