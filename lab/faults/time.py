"""Lab faults of the area time: time synchronisation (checks/test_time.py)."""
from . import Fault
from .site_ops import default_target, sx


def inj_chronyd_stopped(lab, target):
    s = default_target(lab, target, "second-hive")
    sx(s, "systemctl stop chrony.service")
    return s, f"chrony.service (chronyd) stopped on {s['full']}", {}


def heal_chronyd_stopped(lab, s, rec):
    sx(s, "systemctl start chrony.service", check=False)


FAULTS = [
    Fault("time:chronyd-stopped", inj_chronyd_stopped, heal_chronyd_stopped,
          "chrony.service (chronyd) stopped [s-hive1]"),
]
