"""Lab faults of the area unit_restarts: units restarted by systemd (checks/test_unit_restarts.py)."""
from .. import util
from . import Fault
from .site_ops import default_target, sx


CRASHLOOP_UNIT = "hh-lab-crashloop.service"


def inj_unit_crashloop(lab, target):
    s = default_target(lab, target, "second-hive")
    unit = ("[Unit]\nDescription=hive lab: a host service that crashes and is restarted\n"
            "StartLimitIntervalSec=0\n\n[Service]\nType=simple\n"
            "ExecStart=/bin/sh -c 'sleep 2; exit 1'\nRestart=always\nRestartSec=1\n\n"
            "[Install]\nWantedBy=multi-user.target\n")
    sx(s, f"cat > /etc/systemd/system/{CRASHLOOP_UNIT} && systemctl daemon-reload && "
          f"systemctl enable --now {CRASHLOOP_UNIT} >/dev/null 2>&1", input=unit)
    util.wait_for(lambda: _nrestarts(s) >= 2, 60, interval=1,
                  what=f"{CRASHLOOP_UNIT} restarted twice by systemd")
    return s, f"{CRASHLOOP_UNIT} crashes every 2 s and systemd restarts it on {s['full']}", {}


def _nrestarts(s):
    out = sx(s, f"systemctl show -p NRestarts --value {CRASHLOOP_UNIT}", check=False).stdout.strip()
    return int(out) if out.isdigit() else 0


def heal_unit_crashloop(lab, s, rec):
    sx(s, f"systemctl disable --now {CRASHLOOP_UNIT} >/dev/null 2>&1; "
          f"rm -f /etc/systemd/system/{CRASHLOOP_UNIT}; systemctl daemon-reload; "
          f"systemctl reset-failed {CRASHLOOP_UNIT} 2>/dev/null; true", check=False)


FAULTS = [
    Fault("unit_restarts:crashloop", inj_unit_crashloop, heal_unit_crashloop,
          "hh-lab-crashloop.service crashes every 2 s, Restart=always [s-hive1]"),
]
