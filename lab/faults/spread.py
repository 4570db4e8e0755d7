"""Lab faults of the area spread: replicated services' tasks on one node (checks/test_spread.py)."""
import time

from .. import util
from . import Fault
from .site_ops import alive_hive, default_target, remove_service, sx


SPREAD_SVC = "spread-demo"


def _spread_nodes(lab):
    r = sx(alive_hive(lab), f"docker service ps {SPREAD_SVC} --filter desired-state=running "
                            "--format '{{.Node}} {{.CurrentState}}'", check=False)
    rows = [x.split() for x in r.stdout.splitlines() if x.strip()]
    return [x[0] for x in rows if len(x) > 1 and x[1] == "Running"]


def inj_spread(lab, target):
    s = default_target(lab, target, "second-hive")
    h = alive_hive(lab)
    c = f"node.hostname=={s['short']}"
    # placed while pinned to one node (as when the other nodes were down), then the pin is
    # relaxed: swarm keeps running tasks where they are (a constraint-only change whose node
    # still satisfies it restarts nothing), so both replicas stay on one node
    sx(h, f"docker service create -d --name {SPREAD_SVC} --replicas 2 --no-resolve-image "
          f"--constraint '{c}' hive-lab/busybox:latest sleep 1000000 >/dev/null")
    util.wait_for(lambda: _spread_nodes(lab) == [s["short"]] * 2, 90,
                  what=f"2 {SPREAD_SVC} tasks running on {s['short']}")
    sx(h, f"docker service update -d --constraint-rm '{c}' {SPREAD_SVC} >/dev/null")
    time.sleep(5)
    nodes = _spread_nodes(lab)
    if nodes != [s["short"]] * 2:
        raise RuntimeError(f"{SPREAD_SVC} tasks moved when the constraint was removed: {nodes}")
    return s, (f"service {SPREAD_SVC} (2 replicas, no constraint left) runs both tasks on "
               f"{s['short']}"), {}


def heal_spread(lab, s, rec):
    remove_service(lab, SPREAD_SVC)


FAULTS = [
    Fault("spread:one-node", inj_spread, heal_spread,
          "service spread-demo, 2 replicas both on one node, others eligible [s-hive1]"),
]
