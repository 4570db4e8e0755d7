"""Lab faults of the area drbd_units: the drbd-resource@<volume> units (checks/test_drbd_units.py)."""
import os

from . import Fault
from .site_ops import default_target, sx


DROPIN = "/run/systemd/system/drbd-resource@{vol}.service.d/hh-lab.conf"


def inj_drbd_unit_failed(lab, target):
    s = default_target(lab, target, "second-hive")
    vol = lab["volume"]
    unit = f"drbd-resource@{vol}.service"
    d = DROPIN.format(vol=vol)
    # the unit inactive while the resource stays up and docker keeps running: its ExecStop
    # (drbdadm down) is masked for the stop, and the stop does not propagate to docker.service
    sx(s, f"mkdir -p {os.path.dirname(d)} && printf '[Service]\\nExecStop=\\n' > {d} && "
          f"systemctl daemon-reload && systemctl stop --job-mode=ignore-dependencies {unit}; "
          f"rc=$?; rm -f {d}; systemctl daemon-reload; exit $rc")
    state = sx(s, f"systemctl is-active {unit}; drbdadm role {vol}; systemctl is-active docker",
               check=False).stdout.split()
    return s, (f"{unit} on {s['full']} is {state[0] if state else '?'} while {vol} stays up "
               f"and docker runs ({' '.join(state[1:])})"), {}


def heal_drbd_unit_failed(lab, s, rec):
    vol = lab["volume"]
    sx(s, f"rm -f {DROPIN.format(vol=vol)}; systemctl daemon-reload; "
          f"systemctl reset-failed drbd-resource@{vol}.service 2>/dev/null; "
          f"systemctl start drbd-resource@{vol}.service", check=False)


FAULTS = [
    Fault("drbd_units:inactive", inj_drbd_unit_failed, heal_drbd_unit_failed,
          "drbd-resource@ldap_data.service inactive, resource still up [s-hive1]"),
]
