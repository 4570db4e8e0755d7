"""Lab faults of the area volumes: DRBD volumes filling up (checks/test_volumes.py)."""
from .. import site, util
from . import Fault
from .site_ops import ldap_node, sx, task_container


def inj_volume_full(lab, target):
    p = ldap_node(lab)
    if not p:
        raise SystemExit("service ldap is not running; cannot fill its volume")
    c = task_container(p, lab)
    out = sx(p, f"docker exec {c} df -k /data | tail -1").stdout.split()
    size_k, used_k = int(out[1]), int(out[2])
    need_m = max(1, (int(size_k * 0.93) - used_k) // 1024)
    sx(p, f"docker exec {c} dd if=/dev/zero of=/data/hh-lab-fill bs=1M count={need_m} "
          "2>/dev/null; true")
    out = sx(p, f"docker exec {c} df -k /data | tail -1").stdout.split()
    return p, (f"volume {lab['volume']} (/dev/drbd{lab['minor']}) is {out[4]} full "
               f"(service {lab['service']} on {p['short']})"), {}


def heal_volume_full(lab, s, rec):
    def gone():
        p = ldap_node(lab)
        if not p:
            return False
        c = task_container(p, lab)
        sx(p, f"docker exec {c} rm -f /data/hh-lab-fill")
        return True
    try:
        util.wait_for(gone, 60, what="the ldap task to remove the fill file")
    except TimeoutError:
        # service not running: remove the file through the device itself
        mnt = "/mnt/hh-heal"
        fh = site.first_hive(lab)
        sx(fh, f"mkdir -p {mnt} && mount /dev/drbd{lab['minor']} {mnt} && rm -f {mnt}/hh-lab-fill; "
               f"umount {mnt}", check=False)


FAULTS = [
    Fault("volumes:full", inj_volume_full, heal_volume_full,
          "the DRBD volume ldap_data above 90 %"),
]
