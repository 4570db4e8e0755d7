"""Lab faults of the area service_usage: services' CPU and memory use
(checks/test_service_usage.py)."""
from .. import util
from . import Fault
from .site_ops import alive_hive, remove_service, sx


CPU_SVC, MEM_SVC = "hh-lab-cpu", "hh-lab-mem"


def _svc_running(lab, name):
    r = sx(alive_hive(lab), f"docker service ps {name} --filter desired-state=running "
                             "--format '{{.CurrentState}}'", check=False)
    return r.stdout.strip().startswith("Running")


def _make_service(lab, name, args):
    sx(alive_hive(lab), f"docker service create -d --name {name} --no-resolve-image {args} >/dev/null")
    util.wait_for(lambda: _svc_running(lab, name), 90, interval=2, what=f"{name} running")


def inj_cpu_hog(lab, target):
    """One busy loop: up to 100 % of one core (docker stats' CPU %), less on a busy machine."""
    _make_service(lab, CPU_SVC, "hive-lab/busybox:latest sh -c 'while :; do :; done'")
    return None, f"service {CPU_SVC}: a busy loop on one core", {"service": CPU_SVC}


def heal_cpu_hog(lab, s, rec):
    remove_service(lab, CPU_SVC)


def inj_mem_hog(lab, target):
    """48 MiB written to a tmpfs (charged to the container's memory) under a 64 MiB limit:
    docker stats' memory % is about 75 % of the limit."""
    _make_service(lab, MEM_SVC, "--limit-memory 64M --mount type=tmpfs,destination=/hog "
                                "hive-lab/busybox:latest sh -c "
                                "'dd if=/dev/zero of=/hog/fill bs=1M count=48 2>/dev/null; "
                                "exec sleep 1000000'")
    return None, f"service {MEM_SVC}: 48 MiB held in tmpfs under a 64 MiB memory limit", {"service": MEM_SVC}


def heal_mem_hog(lab, s, rec):
    remove_service(lab, MEM_SVC)


FAULTS = [
    Fault("service_usage:high-cpu", inj_cpu_hog, heal_cpu_hog,
          "service hh-lab-cpu: a busy loop on one core"),
    Fault("service_usage:high-memory", inj_mem_hog, heal_mem_hog,
          "service hh-lab-mem: 48 MiB of tmpfs under a 64 MiB memory limit"),
]
