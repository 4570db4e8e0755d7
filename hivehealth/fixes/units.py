"""Runbook 7.6 and FAQ 7.22: failed systemd units."""
from hivehealth.checks.test_units import PULLS, failed_units
from hivehealth.parsers import systemd
from hivehealth.remedy import names
from hivehealth.remedy.guards import Unseen, demand, drbd, section
from hivehealth.remedy.plan import RISKY, SAFE, Cmd, Plan, Step, all_of, remedy

LEFTOVER_PREFIX = "drbd-resource@"
ACTIONS = ("FailureAction", "SuccessAction", "StartLimitAction", "JobTimeoutAction")
DEPENDENCIES = [p for p in PULLS if p not in ACTIONS]
# what every systemd the suite meets shows (239 on); OnSuccess= and Upholds= came with 249
SHOWN = [p for p in PULLS if p not in ("OnSuccess", "Upholds")]
NEVER = "a remedy never starts, restarts or disables it"


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


def _startable(ctx, server, units) -> list:
    """Units a remedy may start or disable: none that changes the system's state itself
    (names.startable_unit), and none whose start or failure pulls in one that does or makes
    systemd act on the whole system (FailureAction=reboot, ...), as `systemctl show` tells."""
    units = [names.startable_unit(u) for u in units]
    shown = demand(ctx, [server], section("units_show", systemd.parse_show), "what the failed units pull in",
                   "a unit is started only when what its start or failure pulls in is known")[server.name]
    blocks = {b.get("Id"): b for b in shown}
    unseen, harmful = [], {}
    for u in units:
        block = blocks.get(u)
        missing = [p for p in SHOWN if block is None or p not in block]
        if missing:
            unseen.append(f"`systemctl show` gave no {', '.join(missing)} of {u}")
            continue
        why = [f"has {a}={block[a]} (systemd acts on the whole server)" for a in ACTIONS
               if block[a] not in ("", "none")]
        why += [f"pulls in {pulled} ({dependency}=), which {what}" for dependency in DEPENDENCIES
                for pulled in (block.get(dependency) or "").split()
                for what in [names.changes_system_state(pulled, pulled=True)] if what]
        if why:
            harmful[u] = why
    if unseen:
        raise Unseen("what the failed units pull in", {server.name: "; ".join(unseen)},
                     "a unit is started only when what its start or failure pulls in is known")
    if harmful:
        first = next(iter(harmful))
        raise names.HarmfulName("systemd unit", first, "; ".join(harmful[first]) + f"; {NEVER}", "; ".join(
            f"systemd unit {u!r} " + "; ".join(why) for u, why in harmful.items()) + f"; {NEVER}")
    return units


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
    units = _startable(ctx, server, units)
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
        for u in _startable(ctx, server, units)])
