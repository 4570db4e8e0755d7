"""Lab faults of the area time: time synchronisation (checks/test_time.py)."""
from ..site import CHRONY_LOCAL, CHRONY_LOCAL_CONF

from . import Fault
from .site_ops import default_target, sx


def inj_chronyd_stopped(lab, target):
    s = default_target(lab, target, "second-hive")
    sx(s, "systemctl stop chrony.service")
    return s, f"chrony.service (chronyd) stopped on {s['full']}", {}


def heal_chronyd_stopped(lab, s, rec):
    sx(s, "systemctl start chrony.service", check=False)


def inj_chronyd_no_source(lab, target):
    # without the lab's local reference chronyd has only Debian's pool, which the lab cannot
    # reach: it runs, and never synchronises
    s = default_target(lab, target, "second-hive")
    sx(s, f"rm -f /{CHRONY_LOCAL_CONF} && systemctl restart chrony.service")
    return s, f"chrony.service runs on {s['full']} without a reachable time source", {}


def heal_chronyd_no_source(lab, s, rec):
    sx(s, f"printf '%s' '{CHRONY_LOCAL}' > /{CHRONY_LOCAL_CONF}; systemctl restart chrony.service",
       check=False)


FAULTS = [
    Fault("time:chronyd-stopped", inj_chronyd_stopped, heal_chronyd_stopped,
          "chrony.service (chronyd) stopped [s-hive1]"),
    Fault("time:chronyd-no-source", inj_chronyd_no_source, heal_chronyd_no_source,
          "chrony.service runs without a reachable time source: never synchronised [s-hive1]"),
]
