"""drbd-resource@<vol>.service on every hive: hive's zabbix does not watch it.

Volumes: https://hive-builder.readthedocs.io/ja/latest/inventory.html

build-volumes enables and starts `drbd-resource@<vol>.service` for every DRBD volume on every
hive (diskless clients included), with `RequiredBy=docker.service` and `Before=docker.service`:
docker.service *requires* each of them, so one resource that fails to come up at boot keeps
docker from starting on that hive ("Dependency failed"), and every service on it with it.
Zabbix counts failed units only after they failed, and never a unit that is merely inactive.

The volumes are those of `drbd_device_map` in .hive/persistents.yml for this stage.
Not applicable (skip): a stage whose drbd_device_map is empty (no DRBD volumes).
"""
import pytest

from hivehealth.gather.sections import declare
from hivehealth.parsers import systemd
from hivehealth.judge.verdict import Verdict
from hivehealth.shell import command


# drbd-resource@<vol>.service of every volume this hive knows: /etc/drbd.d/<vol>.res (written
# by build-volumes), the units docker.service requires, and every loaded instance.
_DRBD_UNITS = r"""u=$( { for f in /etc/drbd.d/*.res; do [ -e "$f" ] || continue; b=${f##*/}; echo "drbd-resource@${b%.res}.service"; done
  ls /etc/systemd/system/docker.service.requires/ 2>/dev/null | grep '^drbd-resource@'
  systemctl list-units --all --plain --no-legend --no-pager 'drbd-resource@*' | awk '{print $1}'
} | sort -u )
[ -z "$u" ] || systemctl show -p Id -p LoadState -p ActiveState -p SubState -p Result -p UnitFileState $u"""

# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    drbd_units=("hive", _DRBD_UNITS),
)

ALERT = "At least one of the services is in a failed state (only once a unit has failed)"


@pytest.mark.roles("hive")
def test_drbd_units(server, verify):
    verify(drbd_units_active, server)


def unit_name(vol: str) -> str:
    return f"drbd-resource@{vol}.service"


def drbd_units_active(ctx, server) -> Verdict:
    v = Verdict(server.name, alert=ALERT)
    vols = sorted(ctx.site.drbd_device_map)
    if not vols:
        v.skip(f"{server.name}: drbd_device_map in .hive/persistents.yml is empty for stage "
               f"{ctx.site.stage or '?'}: no DRBD volume, no drbd-resource@ unit to check")
        return v
    shown = ctx.parsed(v, server, "drbd_units", systemd.parse_show, "the drbd-resource@ units")
    if shown is None:
        return v
    units = {b.get("Id"): b for b in shown}
    boot = "docker.service requires it: at the next boot docker will not start on this hive"
    bad = []
    for vol in vols:
        name = unit_name(vol)
        u = units.get(name)
        if u is None:
            v.fail(f"{name} is unknown here (no /etc/drbd.d/{vol}.res, not required by docker, "
                   f"not loaded) for volume {vol} of drbd_device_map (expected active): "
                   f"build-volumes did not run on this hive; run {command('hive', 'build-volumes', '-l', vol)}")
            bad.append(vol)
            continue
        state = f"{u.get('ActiveState')}/{u.get('SubState')}"
        unsaid = [k for k in ("LoadState", "ActiveState", "UnitFileState") if k not in u]
        if unsaid:
            v.unknown(f"systemctl show gave no {', '.join(unsaid)} for {name}: its state is not known")
            continue
        if u.get("LoadState") != "loaded":
            v.fail(f"{name} is {u.get('LoadState')} (expected loaded and active): the unit file "
                   f"drbd-resource@.service is missing; {boot}; rerun hive setup-hosts")
            bad.append(vol)
        elif u.get("ActiveState") != "active":
            result = u.get("Result") or "?"
            # `start`, never `restart`: docker.service Requires= the unit, so restarting it
            # restarts docker (every container on this hive) too; start only runs its ExecStart
            # (drbdadm adjust), which is harmless when the resource is already up
            # the unit's state only: whether the resource itself is up now is test_drbd's
            v.fail(f"{name} is {state} (result {result}; expected active): it did not bring DRBD "
                   f"resource {vol} up on {server.short}, and {boot}; see {command('journalctl', '-u', name)}, "
                   f"then {command('systemctl', 'start', name, sudo=True)} (not restart: that restarts docker too; "
                   f"runbook 7.7 if DRBD is not UpToDate)")
            bad.append(vol)
        elif u.get("UnitFileState") not in ("enabled", "enabled-runtime", "static", "linked",
                                            "linked-runtime", "generated", "indirect"):
            v.fail(f"{name} is active but {u.get('UnitFileState')} (expected enabled): it will not "
                   f"bring {vol} up at the next boot; {command('systemctl', 'enable', name, sudo=True)}")
            bad.append(vol)
    extra = sorted(n for n in units if n and n.startswith("drbd-resource@")
                   and n[len("drbd-resource@"):].removesuffix(".service") not in vols)
    if extra:
        v.notes.append("units of volumes not in drbd_device_map (leftovers of a deleted volume, "
                       "FAQ 7.22): " + ", ".join(extra))
    v.data["units"] = {n: units[n].get("ActiveState") for n in units if n}
    v.data["bad"] = bad
    return v
