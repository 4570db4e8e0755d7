"""The three routines around the checks: from a zabbix alert to its checks (--alert),
the maintenance gate (--gate), and accepted exceptions (waivers)."""
from __future__ import annotations

from datetime import date

import pytest

from . import alerts, waivers

# What the gate counts as "not ready" although the nightly run only warns: transient states
# that are fine to leave alone but not to start maintenance in.
GATE_HELP = ("answer 'is it safe to start maintenance?': stricter than the nightly run (a DRBD "
             "resync, a node not Active, a service not converged block it), no fixes, one-line "
             "verdict; exit 0 only when ready")


def add_options(group, parser):
    group.addoption("--gate", action="store_true", help=GATE_HELP)
    group.addoption("--alert", metavar="TEXT",
                    help="select the checks of a zabbix alert, e.g. \"Problem: DRBD resource ldap_data "
                         "status is not UpToDate/Diskless client\"")
    parser.addini("waivers_file", "YAML file of accepted exceptions (check, host, justification, expires)",
                  default="")


def configure(config):
    """Apply --alert and --gate to the run; load the waivers. Errors are usage errors."""
    o = config.option
    if o.gate and (o.fix or o.fix_plan):
        raise pytest.UsageError("hive-health: --gate only looks; it never fixes (drop --fix/--fix-plan)")
    if o.alert is not None:      # an empty --alert "" is an error, never "select everything"
        try:
            m = alerts.match(o.alert)
        except alerts.UnknownAlert as e:
            raise pytest.UsageError(f"hive-health: {e}") from None
        o.keyword = f"({o.keyword}) and ({m.keyword})" if o.keyword else m.keyword
    path = config.getini("waivers_file").strip()
    if not path:
        return []
    full = config.rootpath / path
    try:
        return waivers.load(full)
    except waivers.WaiverError as e:
        raise pytest.UsageError(f"hive-health: {e}") from None


class Waivers:
    """A waived failure does not fail the run: it is reported as xfail with the justification."""

    def __init__(self, loaded):
        self.loaded = loaded

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.when != "call" or not report.failed or not self.loaded:
            return
        host = getattr(getattr(item, "callspec", None), "params", {}).get("server")
        active, expired = waivers.find(self.loaded, item.nodeid, waivers.keywords_of_item(item),
                                       getattr(host, "name", None), date.today())
        for w in expired:
            report.user_properties.append(("hivehealth-waiver-expired", w.as_report()))
            report.sections.append(("hive-health waiver", f"EXPIRED on {w.expires}: {w.justification}"))
        if active is not None:
            report.user_properties.append(("hivehealth-waived", active.as_report()))
            report.outcome = "skipped"
            report.wasxfail = f"waived until {active.expires}: {active.justification}"


def gate_line(entries) -> str:
    """The gate's verdict: READY, or what blocks, in one line."""
    blocking = [e for e in entries if e["outcome"] in ("failed", "error")]
    if not blocking:
        return "GATE: READY for maintenance"
    names = [f"{e.get('subject') or e['id']}: {(e.get('problems') or [e['message']])[0]}" for e in blocking]
    return f"GATE: NOT READY ({len(blocking)} blocking): " + "; ".join(n.splitlines()[0][:160] for n in names)
