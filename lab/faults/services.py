"""Lab faults of the area services: swarm services that do not run (checks/test_services.py)."""
from .. import util
from . import Fault
from .site_ops import alive_hive, remove_service, scale, stop_service, sx


def inj_xfs_corrupt(lab, target):
    stop_service(lab)
    util.run(["dd", "if=/dev/zero", f"of={lab['drbd_loop']}", "bs=512", "count=1",
              "conv=notrunc,fsync", "status=none"])
    util.run(["blockdev", "--flushbufs", lab["drbd_loop"]], check=False)
    scale(lab, 1)
    return None, (f"xfs superblock of /dev/drbd{lab['minor']} zeroed; service {lab['service']} "
                  "restarts with 'failed to mount local volume: ... invalid argument'"), {}


def heal_xfs_corrupt(lab, s, rec):
    r = util.run(["xfs_db", "-r", "-c", "sb 0", "-c", "p magicnum", lab["drbd_loop"]], check=False)
    if "0x58465342" not in r.stdout:
        stop_service(lab)
        util.run(["xfs_repair", lab["drbd_loop"]], check=False, timeout=300)
    scale(lab, 1)


UNSCHEDULABLE_SVC = "unschedulable-demo"
UNSCHEDULABLE_LABEL = "hh-lab-nonexistent"


def _unschedulable_pending(lab):
    r = sx(alive_hive(lab), f"docker service ps {UNSCHEDULABLE_SVC} --no-trunc "
                            "--format '{{.CurrentState}}|{{.Error}}'", check=False)
    return any(x.startswith("Pending") and "no suitable node" in x for x in r.stdout.splitlines())


def inj_service_unschedulable(lab, target):
    h = alive_hive(lab)
    # a constraint no node satisfies (a label nobody set): the task stays Pending for ever
    sx(h, f"docker service create -d --name {UNSCHEDULABLE_SVC} --replicas 1 --no-resolve-image "
          f"--constraint 'node.labels.{UNSCHEDULABLE_LABEL}==1' hive-lab/busybox:latest "
          "sleep 1000000 >/dev/null")
    util.wait_for(lambda: _unschedulable_pending(lab), 60,
                  what=f"{UNSCHEDULABLE_SVC}'s task Pending with 'no suitable node'")
    return None, (f"service {UNSCHEDULABLE_SVC} (constraint node.labels.{UNSCHEDULABLE_LABEL}==1): "
                  "0/1, its task Pending: no suitable node"), {}


def heal_service_unschedulable(lab, s, rec):
    remove_service(lab, UNSCHEDULABLE_SVC)


FAULTS = [
    Fault("services:xfs-corrupt", inj_xfs_corrupt, heal_xfs_corrupt,
          "zeroed xfs superblock; ldap loops on 'failed to mount local volume'"),
    Fault("services:unschedulable", inj_service_unschedulable, heal_service_unschedulable,
          f"service {UNSCHEDULABLE_SVC} whose constraint no node satisfies: "
          "its task Pending for ever"),
]
