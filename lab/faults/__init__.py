"""Faults on demand and `heal`, one module per area: lab/faults/<area>.py holds the faults that
break the check hivehealth/checks/test_<area>.py, each named `<area>:<state>` and declared in
that module's FAULTS; nothing else lists them (catalog() collects the area modules).

Every inject appends a record to lab/.run/faults.json; heal undoes the records in reverse
order, then repairs generically and waits until the site is healthy again.
All mechanics run through the lab engine (docker exec into the server containers), never
over the SSH path the suite uses, so unreachable:ssh-timeout / hostkeys:changed do not block heal.
"""
# Importing an area module binds its name in this namespace (lab.faults.time, .registry, ...):
# no global here may carry an area's name, hence `now` rather than the time module.
import functools
import importlib
import pkgutil
from time import time as now
from typing import Callable, NamedTuple

from .. import site, util
from ..util import FAULTS_FILE
from .site_ops import drbd_reset, scale, sx


class Fault(NamedTuple):
    name: str              # <area>:<state>, the area as in hivehealth/checks/test_<area>.py
    inject: Callable       # (lab, target or None) -> (server or None, what it did, record extras)
    heal: Callable         # (lab, server or None, record) -> None
    description: str

    @property
    def area(self):
        return self.name.partition(":")[0]


# the names faults had before they carried their area; only to answer someone with old notes
RENAMED = {
    "failed-unit": "units:failed", "leftover-drbd-unit": "units:leftover-drbd",
    "units-escaped-name": "units:escaped-name", "hostile-names": "units:hostile-names",
    "disk-full": "disk:full", "log-bloat": "disk:log-bloat",
    "drbd-outdated": "drbd:outdated", "drbd-one-sided": "drbd:one-sided",
    "drbd-standalone": "drbd:split-brain", "drbd-peer-down": "drbd:peer-down",
    "drbd-unit-failed": "drbd_units:inactive", "volume-full": "volumes:full",
    "xfs-corrupt": "services:xfs-corrupt", "service-unschedulable": "services:unschedulable",
    "node-down": "swarm:node-down", "node-rebuilt-stale": "swarm:stale-node",
    "host-unreachable": "unreachable:ssh-timeout", "hostkey-changed": "hostkeys:changed",
    "registry-bloat": "registry:bloat", "registry-down": "registry_api:down",
    "backup-stale": "backup:stale", "backup-failed": "backup:failed",
    "backup-timer-stopped": "backup:timer-stopped", "chronyd-stopped": "time:chronyd-stopped",
    "spread": "spread:one-node", "no-format-left": "hive_state:no-format-left",
    "unit-crashloop": "unit_restarts:crashloop", "service-error-lines": "service_error_log:error-lines",
    "inode-hog": "inodes:small-files", "cpu-hog": "service_usage:high-cpu",
    "mem-hog": "service_usage:high-memory",
}


@functools.cache
def catalog():
    """name -> Fault, from every module of this package that declares FAULTS, in the order of the
    areas (module names) and of each module's list."""
    found = {}
    for mod in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        for fault in getattr(module, "FAULTS", ()):
            if fault.area != mod.name:
                raise RuntimeError(f"fault {fault.name!r} is declared in lab/faults/{mod.name}.py: "
                                   f"a fault named {fault.area}:... belongs in lab/faults/{fault.area}.py")
            if fault.name in found:
                raise RuntimeError(f"fault {fault.name!r} is declared twice (lab/faults/{mod.name}.py)")
            found[fault.name] = fault
    return found


def listing():
    """The faults grouped by area, with what each does (`python3 -m lab faults`)."""
    faults = catalog()
    width = max(len(n) for n in faults) + 2
    groups = {}
    for fault in faults.values():
        groups.setdefault(fault.area, []).append(f"  {fault.name:{width}}{fault.description}")
    return "\n\n".join(f"{area}  (hivehealth/checks/test_{area}.py)\n" + "\n".join(rows)
                       for area, rows in groups.items())


def unknown(name):
    """What to tell someone who asked for a fault that does not exist."""
    new = RENAMED.get(name)
    if new:
        return (f"unknown fault {name!r}: it is called {new!r} now (faults are named <area>:<state>; "
                "python3 -m lab faults lists them)")
    return f"unknown fault {name!r}; one of: {', '.join(catalog())}"


def _records():
    return util.load_json(FAULTS_FILE, [])


def _save(recs):
    util.save_json(FAULTS_FILE, recs)


def _lab():
    lab = site.load()
    if not lab:
        raise SystemExit("the lab is not up (python3 -m lab up)")
    return lab


def inject(fault, target=None):
    if fault not in catalog():
        raise SystemExit(unknown(fault))
    lab = _lab()
    s, desc, extra = catalog()[fault].inject(lab, target)
    recs = _records()
    rec = {"fault": fault, "target": s["full"] if s else lab["volume"], "time": now(),
           "desc": desc}
    rec.update(extra)
    recs.append(rec)
    _save(recs)
    return f"{fault}: {desc}"


def heal():
    lab = _lab()
    t0 = now()
    recs = _records()
    strange = [r["fault"] for r in recs if r["fault"] not in catalog()]
    if strange:
        raise SystemExit(f"{FAULTS_FILE} records {unknown(strange[0])}; undo that fault by hand, "
                         "then remove its record")
    done = []
    for rec in reversed(recs):
        s = None
        try:
            s = site.by_name(lab, rec["target"])
        except SystemExit:
            pass
        catalog()[rec["fault"]].heal(lab, s, rec)
        done.append(rec["fault"])
        _save([r for r in recs if r["fault"] not in done or r is not rec])
    _save([])
    # generic: every server running and reachable, units clean, swarm, service, DRBD
    for s in lab["servers"]:
        st = util.docker("inspect", "-f", "{{.State.Running}}", s["short"], check=False).stdout.strip()
        if st != "true":
            util.docker("start", s["short"])
            site.wait_booted(s, 120)
    util.wait_for(lambda: site.swarm_healthy(lab), 120, interval=2, what="all swarm nodes Ready")
    if not site.drbd_healthy(lab):
        drbd_reset(lab)
    scale(lab, 1)
    util.wait_for(lambda: site.service_running(lab), 120, interval=2, what="service ldap running")
    util.wait_for(lambda: site.drbd_healthy(lab), 60, interval=1, what="DRBD UpToDate everywhere")
    for s in lab["servers"]:
        sx(s, "systemctl reset-failed 2>/dev/null; true", check=False)
        util.wait_for(lambda: site.ssh(lab, s, "sudo -n true", check=False, timeout=15).returncode == 0,
                      60, what=f"ssh to {s['full']}")
    return (f"healed {', '.join(reversed(done)) or 'nothing'} in {now() - t0:.0f} s; "
            "site healthy")
