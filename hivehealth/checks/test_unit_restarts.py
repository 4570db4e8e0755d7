"""systemd services restarted lately (zabbix "<unit> service has restarted", template SystemD
service monitoring).

The agent discovers enabled, non-template services whose Type is not oneshot or dbus, and its
zbx_service_restart_check.sh reports a restart when a unit became active less than 180 s ago on
a server up for at least that long. This check reads the same times (monotonic, counted from
systemd's own start, which in a container is not the kernel's boot) within
`unit_restart_window` (180 s), for those units and for any other service
systemd itself restarted (NRestarts > 0: instances such as drbd-resource@<vol> too), and lists
unit and count. Restarted by systemd (NRestarts > 0): failure; started again by hand or by a
deploy (NRestarts 0): a warning, which zabbix raises all the same.

No remedy: why it restarts is in `journalctl -u <unit>`; a unit that keeps failing shows in
test_units (runbook 7.6).
"""
import pytest

from hivehealth.gather.sections import declare
from hivehealth.parsers import agent, systemd
from hivehealth.judge.verdict import Verdict
from hivehealth.shell import command


# systemd restarts (zbx_service_restart_check.sh: ActiveEnterTimestamp < 180 s ago and uptime
# >= 180 s). Monotonic times against /proc/uptime: the same clock, no date parsing. systemd's
# own start (UserspaceTimestampMonotonic) is when "up" begins: in a container the kernel's
# uptime is the host's.
_UNIT_RESTARTS = r"""echo "uptime $(cut -d' ' -f1 /proc/uptime)"
echo "userspace $(systemctl show -p UserspaceTimestampMonotonic --value)"
echo
u=$(systemctl list-units --type=service --all --plain --no-legend --no-pager | cut -d' ' -f1) || exit $?
[ -z "$u" ] || systemctl show -p Id -p Type -p UnitFileState -p LoadState -p ActiveState -p SubState -p Result -p NRestarts -p ActiveEnterTimestampMonotonic $u"""

# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    unit_restarts=("all", _UNIT_RESTARTS),
)

SKIPPED_TYPES = ("oneshot", "dbus")


@pytest.mark.roles("all")
def test_unit_restarts(server, verify):
    verify(unit_restarts, server)


def in_zabbix_scope(u: agent.UnitStart) -> bool:
    p = u.props
    return ("@" not in u.unit and p.get("UnitFileState") == "enabled"
            and p.get("Type") not in SKIPPED_TYPES)


def restarted(units, uptime: float, window: float) -> list[agent.UnitStart]:
    """Units that became active within `window` on a server up for at least `window`."""
    if uptime < window:
        return []
    out = []
    for u in units:
        age = u.age(uptime)
        if age is None or not 0 <= age < window:
            continue
        if in_zabbix_scope(u) or (u.restarts or 0) > 0:
            out.append(u)
    return out


def unit_restarts(ctx, server) -> Verdict:
    window = ctx.number("unit_restart_window", unit="s")
    v = Verdict(server.name, alert="<unit> service has restarted")
    r = ctx.host(server).get("unit_restarts")
    if r is not None and systemd.not_booted_with_systemd(r.stderr):
        v.skip(f"{server.name}: systemd is not the init system here; there are no units to check")
        return v
    parsed = ctx.parsed(v, server, "unit_restarts", agent.parse_unit_starts, "the units' start times")
    if parsed is None:
        return v
    uptime, units = parsed
    if uptime < window:
        v.notes.append(f"up {uptime:.0f} s, less than unit_restart_window {window:g} s: a boot "
                       f"starts every unit, so zabbix counts no restart yet (nor does this check)")
    found = restarted(units, uptime, window)
    v.data["restarted"] = {u.unit: u.restarts for u in found}
    for u in sorted(found, key=lambda u: u.age(uptime)):
        p = u.props
        state = f"{p.get('ActiveState', '?')}/{p.get('SubState', '?')}"
        what = (f"{u.unit} became active {u.age(uptime):.0f} s ago (within {window:g} s; "
                f"NRestarts {u.restarts if u.restarts is not None else 'not reported'}, now {state})"
                f"; look: {command('journalctl', '-u', u.unit)}")
        if (u.restarts or 0) > 0:
            v.fail(f"restarted by systemd: {what}")
        else:
            v.warn(f"started again (not by systemd's Restart=): {what}")
    if found:
        v.alert = f"{found[0].unit.removesuffix('.service')} service has restarted"
    return v
