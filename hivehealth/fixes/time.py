"""FAQ 7.15: a server's clock is skewed, or chronyd is not running: restart chronyd [safe].

chronyd steps a large offset at start (EL's chrony.conf: `makestep 1.0 3`), so a restart both
brings the daemon back and corrects the clock. It stops nothing else.
"""
from hivehealth.checks.test_time import clock_skew
from hivehealth.remedy import names
from hivehealth.remedy.plan import SAFE, Cmd, Plan, Step, remedy


@remedy(clock_skew, tier=SAFE)
def restart_chronyd(ctx, server, verdict):
    """FAQ 7.15: sudo systemctl restart chronyd on the server whose clock is off."""
    unit = verdict.data.get("timesync_unit")
    if not (verdict.data.get("chronyd_inactive") or verdict.data.get("skewed")
            or verdict.data.get("no_timesync")):
        return None
    if not unit:
        return Plan(refused=(
            "chronyd is not installed on this server: install chrony (hive setup-hosts) first"))
    unit = names.startable_unit(unit)
    return Plan(steps=[
        Step(server.name, Cmd("systemctl", "restart", "--", unit, root=True),
             f"FAQ 7.15: restart chronyd ({unit}) so it runs and steps the clock")], settle=5)
