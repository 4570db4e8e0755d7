"""Runbook 7.6 / FAQ 7.22: failed systemd units.

Zabbix: "At least one of the services is in a failed state". Zabbix counts failed services
minus its blacklist; this check lists every failed unit (timers and others too) with systemd's
Result, minus the site's `units_ignore` patterns (default: zabbix's blacklist).

A service in a restart loop (Restart= set, sub state auto-restart between two attempts) never
shows as failed until its start limit is hit, and with StartLimitIntervalSec=0 never: from
RESTART_LOOP restarts on it fails, below it is a warning (it may have crashed once).
A unit whose file is gone (load not-found) or masked stays failed until `systemctl reset-failed`.
"""
import re

import pytest

from hivehealth.gather.sections import declare
from hivehealth.parsers import ParseError, systemd
from hivehealth.judge.verdict import Verdict
from hivehealth.shell import command


# what a failed unit's start or failure pulls in, for its remedy (fixes/units.py): the units it
# starts with it, and the action systemd takes on the system when it fails, succeeds or hits
# its start limit (systemctl prints each property named with -p, also when it is empty)
PULLS = ("Requires", "Requisite", "Wants", "BindsTo", "OnFailure", "FailureAction", "SuccessAction",
         "StartLimitAction", "JobTimeoutAction", "OnSuccess", "Upholds")

# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    # failed units, and services between two attempts of a restart loop (sub state auto-restart:
    # Restart= keeps them from ever showing as failed until their start limit is hit)
    units_failed=("all", "systemctl list-units --state=failed,auto-restart --all -o json --no-pager"),
    units_failed_plain=("all",
                        "systemctl list-units --state=failed,auto-restart --all --plain --no-legend --no-pager"),
    units_show=("all",
                "u=$(systemctl list-units --state=failed,auto-restart --all --plain --no-legend --no-pager "
                "| awk '{print $1}'); "
                "[ -z \"$u\" ] || systemctl show -p Id -p Result -p ActiveState -p SubState "
                "-p LoadState -p StateChangeTimestamp -p NRestarts " + " ".join(f"-p {p}" for p in PULLS) + " $u"),
)

RESTART_LOOP = 3


@pytest.mark.roles("all")
def test_units(server, verify):
    verify(failed_units, server)


def failed_units(ctx, server) -> Verdict:
    v = Verdict(server.name, alert="At least one of the services is in a failed state")
    units = _failed(ctx, v, server)
    if units is None:
        return v
    ignore = [re.compile(p) for p in ctx.lines("units_ignore")]
    show = ctx.section(v, server, "units_show", cite=False, quiet=True)
    results = {b.get("Id"): b for b in systemd.parse_show(show.stdout)} if show else {}
    failing, ignored = [], []
    for u in units:
        (ignored if any(p.search(u.unit) for p in ignore) else failing).append(u)
    failed = [u for u in failing if u.active == "failed"]
    restarting = [u for u in failing if u.active != "failed"]
    for u in failed:
        result = results.get(u.unit, {}).get("Result") or "unknown"
        gone = (f": its unit file is {u.load}; {command('systemctl', 'reset-failed', '--', u.unit, sudo=True)} "
                f"clears it"
                if u.load in ("not-found", "masked") else "")
        v.fail(f"{u.unit} failed (result {result}, load {u.load}, {u.active}/{u.sub}){gone}")
    for u in restarting:
        shown = results.get(u.unit, {})
        n = shown.get("NRestarts", "")
        count = int(n) if n.isdigit() else None
        what = (f"{u.unit} is in a restart loop ({u.active}/{u.sub}, "
                f"{'restarted ' + str(count) + ' times' if count is not None else 'restarts not known'}, "
                f"last result {shown.get('Result') or 'unknown'}): {command('journalctl', '-u', u.unit)}")
        if count is not None and count >= RESTART_LOOP:
            v.fail(what)
        else:
            v.warn(what.replace("is in a restart loop", "exited and is waiting to restart"))
    if ignored:
        v.notes.append("ignored by units_ignore: " + ", ".join(u.unit for u in ignored))
    v.data["failed"] = [u.unit for u in failed]
    v.data["restarting"] = [u.unit for u in restarting]
    return v


def _failed(ctx, v, server):
    """Failed units from `systemctl -o json`, else from the plain listing."""
    js = ctx.section(v, server, "units_failed", quiet=True)
    if js is not None:
        try:
            return systemd.parse_list_units_json(js.stdout)
        except ParseError:
            ctx.replaced(v, "units_failed")
    plain = ctx.host(server).get("units_failed_plain")
    if plain is not None and systemd.not_booted_with_systemd(plain.stderr):
        v.skip(f"{server.name}: systemd is not the init system here; there are no units to check")
        return None
    return ctx.parsed(v, server, "units_failed_plain", systemd.parse_list_units_plain, "failed units")
