"""Runbook 7.6 and FAQ 7.22: failed systemd units."""
from hivehealth.checks.test_units import failed_units
from hivehealth.remedy import names
from hivehealth.remedy.guards import demand, drbd
from hivehealth.remedy.plan import RISKY, SAFE, Cmd, Plan, Step, all_of, remedy

LEFTOVER_PREFIX = "drbd-resource@"


def _leftover(ctx, unit: str) -> bool:
    """A drbd-resource@<vol> unit whose volume is no longer in the site's drbd_device_map."""
    if not unit.startswith(LEFTOVER_PREFIX):
        return False
    return _volume(unit) not in ctx.site.drbd_device_map


def _volume(unit: str) -> str:
    return unit[len(LEFTOVER_PREFIX):].removesuffix(".service")


def _units(units) -> list:
    """Each unit name through systemd's grammar (InvalidName refuses the remedy, naming it)."""
    return [names.unit(u) for u in units]


@remedy(failed_units, tier=SAFE)
def reset_leftover_drbd_units(ctx, server, verdict):
    """FAQ 7.22: a deleted volume's drbd-resource@ unit stays failed until reset-failed."""
    units = [u for u in verdict.data.get("failed", []) if _leftover(ctx, u)]
    if not units:
        return None
    units = _units(units)
    # the map says the volume was deleted; DRBD on the server must agree (a map edited by
    # mistake, or a volume not yet removed, keeps a live volume's unit whose failure matters)
    views = demand(ctx, [server], drbd, "the DRBD resources", "a volume's unit is reset only once DRBD "
                   "no longer has the volume")[server.name]
    live = sorted({v.name for v in views} & {_volume(u) for u in units})
    if live:
        return Plan(refused=f"{', '.join(live)} is still a DRBD resource on {server.name} although not in "
                            f"drbd_device_map: its unit's failure is not a leftover's")
    return Plan(steps=[
        Step(server.name, Cmd("systemctl", "reset-failed", "--", *units, root=True),
             "FAQ 7.22: the volume was deleted (not in drbd_device_map); its unit is a leftover")])


@remedy(failed_units, tier=SAFE)
def disable_unneeded_units(ctx, server, verdict):
    """Runbook 7.6: units the site does not need (ini units_not_needed) are disabled."""
    wanted = set(ctx.lines("units_not_needed"))
    units = [u for u in verdict.data.get("failed", []) if u in wanted]
    if not units:
        return None
    units = _units(units)
    return Plan(steps=[
        Step(server.name, all_of(Cmd("systemctl", "disable", "--now", "--", *units, root=True),
                                 Cmd("systemctl", "reset-failed", "--", *units, root=True)),
             "runbook 7.6: listed in units_not_needed")])


@remedy(failed_units, tier=RISKY)
def restart_failed_units(ctx, server, verdict):
    """Any other failed unit is restarted: it may be a service the site relies on, so this is
    risky (the restart itself can disturb it)."""
    wanted = set(ctx.lines("units_not_needed"))
    units = [u for u in verdict.data.get("failed", []) if u not in wanted and not _leftover(ctx, u)]
    if not units:
        return None
    return Plan(steps=[
        Step(server.name, Cmd("systemctl", "restart", "--", u, root=True), f"runbook 7.6: {u} failed; try it again")
        for u in _units(units)])
