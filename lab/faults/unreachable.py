"""Lab faults of the area unreachable: servers the suite cannot reach (checks/test_unreachable.py)."""
from . import Fault
from .site_ops import default_target, sx


def inj_host_unreachable(lab, target):
    s = default_target(lab, target, "last-hive")
    sx(s, "iptables -I INPUT -p tcp --dport 22 -j DROP -m comment --comment hh-lab-unreachable")
    return s, f"{s['full']} drops SSH (tcp/22): connections time out", {}


def heal_host_unreachable(lab, s, rec):
    sx(s, "while iptables -D INPUT -p tcp --dport 22 -j DROP -m comment --comment "
          "hh-lab-unreachable 2>/dev/null; do :; done", check=False)


FAULTS = [
    Fault("unreachable:ssh-timeout", inj_host_unreachable, heal_host_unreachable,
          "SSH to a server times out (tcp/22 dropped) [last hive]"),
]
