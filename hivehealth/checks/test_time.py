"""Clocks (FAQ 7.15): every server within `clock_skew_max` seconds of the mother, chronyd active.

A skewed clock makes build-images fail with "Release file ... is not valid yet" (FAQ 7.15) and
breaks TLS between the servers; zabbix's built-in trigger fires only at 60 s.

How the skew is measured: each server prints `date +%s.%N` as the first line of the one probe
the suite runs on it. The mother's clock is read just before the probe is sent
(HostFacts.gathered_at) and again when that first line arrives (HostFacts.clock_window later),
so the server's reading was taken within that window: the skew is the distance from it.
A window wider than the limit cannot show a skew below the limit: that is reported, not passed.

Time sync: chronyd (hive-builder installs chrony; Debian names it chrony.service with the alias
chronyd, which `systemctl show chronyd.service` resolves). systemd-timesyncd, where chrony is
absent, is accepted with a note. Remedy (fixes/time.py): systemctl restart chronyd [safe].
"""
import pytest

from hivehealth.gather.sections import declare
from hivehealth.parsers import ParseError, systemd
from hivehealth.parsers.time import parse_clock
from hivehealth.judge.verdict import Verdict


_TIMESYNC = ("systemctl show -p Id -p LoadState -p ActiveState -p SubState "
             "chronyd.service systemd-timesyncd.service")

# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    timesync=("all", _TIMESYNC),
)

ALERT_SKEW = "System time is out of sync (diff with Zabbix server > 60s)"   # Linux by Zabbix agent
FAQ = "FAQ 7.15: on the server run sudo systemctl restart chronyd"


@pytest.mark.roles("all")
def test_time(server, verify):
    verify(clock_skew, server)


def measure_skew(server_time: float, start: float, seconds: float) -> float:
    """Signed skew: server clock minus the mother's window [start, start + seconds]."""
    end = start + max(0.0, seconds)
    if server_time < start:
        return server_time - start
    if server_time > end:
        return server_time - end
    return 0.0


def clock_skew(ctx, server) -> Verdict:
    limit = ctx.number("clock_skew_max", unit="s")
    v = Verdict(server.name)
    host = ctx.host(server)

    # 1. the skew
    r = ctx.section(v, server, "clock")
    if r is not None:
        try:
            t = parse_clock(r.stdout)
        except ParseError:
            v.unknown(f"cannot read the clock: `date +%s.%N` printed {r.stdout.strip()[:60]!r}")
            t = None
        if t is not None:
            if not host.gathered_at:
                v.unknown("the mother's clock at gather time was not recorded (a replay of old "
                          "facts?): cannot measure the skew")
            else:
                window = host.clock_window if host.clock_window is not None else host.seconds
                skew = measure_skew(t, host.gathered_at, window)
                v.data.update(skew=skew, window=window)
                if abs(skew) > limit:
                    way = "ahead of" if skew > 0 else "behind"
                    v.alert = ALERT_SKEW
                    v.data["skewed"] = True
                    v.fail(f"clock is {abs(skew):.1f} s {way} the mother's (limit clock_skew_max "
                           f"{limit:g} s): build-images fails with \"Release file ... is not valid "
                           f"yet\"; {FAQ}")
                elif window > limit:
                    v.unknown(f"the clock reading took {window:.1f} s to arrive, longer than "
                              f"clock_skew_max {limit:g} s: the clock cannot be compared to within "
                              f"the limit (|skew| <= {window:.1f} s)")

    # 2. the time sync daemon
    if host.unreachable:
        return v
    raw = host.get("timesync")
    if raw is not None and systemd.not_booted_with_systemd(raw.stderr):
        v.notes.append("systemd is not the init system here: no chronyd unit to check")
        return v
    units = ctx.parsed(v, server, "timesync", systemd.parse_show, "chronyd's state")
    if units is not None:
        chrony = next((u for u in units if u.get("Id", "").startswith("chrony")), None)
        timesyncd = next((u for u in units if u.get("Id") == "systemd-timesyncd.service"), None)
        unsaid = [u.get("Id") for u in (chrony, timesyncd)
                  if u is not None and not {"LoadState", "ActiveState"} <= set(u)]
        if unsaid:
            v.unknown(f"systemctl show gave no LoadState/ActiveState for {', '.join(unsaid)}: "
                      f"whether the time is kept in sync is not known")
        elif chrony is not None and chrony.get("LoadState") == "loaded":
            v.data["timesync_unit"] = chrony.get("Id")
            if chrony.get("ActiveState") != "active":
                if timesyncd is not None and timesyncd.get("ActiveState") == "active":
                    v.notes.append(f"{chrony.get('Id')} is {chrony.get('ActiveState')}; "
                                   f"systemd-timesyncd keeps the time instead")
                else:
                    v.fail(f"{chrony.get('Id')} (chronyd) is {chrony.get('ActiveState')}/"
                           f"{chrony.get('SubState')} (expected active): nothing keeps this clock "
                           f"in sync; {FAQ}")
                    v.data["chronyd_inactive"] = True
        elif timesyncd is not None and timesyncd.get("ActiveState") == "active":
            v.notes.append("chronyd is not installed; systemd-timesyncd keeps the time")
        else:
            v.fail("no time sync daemon: chronyd is not installed (LoadState "
                   f"{chrony.get('LoadState') if chrony else 'not reported'}) and systemd-timesyncd "
                   "is not active (expected chronyd active, as hive-builder installs it)")
            v.data["no_timesync"] = True
    return v
