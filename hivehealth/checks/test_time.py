"""Clocks (FAQ 7.15): every server within `clock_skew_max` seconds of the mother, chronyd active.

A skewed clock makes build-images fail with "Release file ... is not valid yet" (FAQ 7.15) and
breaks TLS between the servers; zabbix's built-in trigger fires only at 60 s.

How the skew is measured: each server prints `date +%s.%N` as the first line of the one probe
the suite runs on it. The mother's clock is read just before the probe is sent
(HostFacts.gathered_at) and again when that first line arrives (HostFacts.clock_window later),
so the server's reading was taken within that window: the skew is the distance from it.
A window wider than the limit cannot show a skew below the limit: that is reported, not passed.

Time sync: chronyd (hive-builder installs chrony; Debian names it chrony.service with the alias
chronyd, which `systemctl show chronyd.service` resolves). A running chronyd is not yet a
synchronised one: `chronyc tracking` says whether it has a source ("Leap status : Not
synchronised" when it has none: a closed network, no reachable server in chrony.conf), and the
offset it is still slewing away. A masked unit (LoadState=masked) is installed but cannot start
until `systemctl unmask`. systemd-timesyncd, where chrony is absent, is accepted with a note when
`timedatectl show` reports NTPSynchronized=yes. Remedy (fixes/time.py): systemctl restart chronyd
[safe], for a chronyd that is not running or a skewed clock.
"""
import pytest

from hivehealth.gather.sections import declare
from hivehealth.parsers import ParseError, systemd
from hivehealth.parsers.time import parse_clock, parse_tracking, system_time_offset
from hivehealth.judge.verdict import Verdict
from hivehealth.shell import command


_TIMESYNC = ("systemctl show -p Id -p LoadState -p ActiveState -p SubState "
             "chronyd.service systemd-timesyncd.service")

# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    timesync=("all", _TIMESYNC),
    chrony_tracking=("all", "$SUDO chronyc -n tracking"),
    timedate=("all", "timedatectl show -p NTP -p NTPSynchronized"),
)

# chronyc(1), tracking, "Leap status": Normal, Insert second, Delete second or Not synchronised
SYNCHRONISED = {"Normal", "Insert second", "Delete second"}
NEVER_SYNCHRONISED_REF = "00000000"     # Reference ID before chronyd has selected any source

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
                    timesyncd_synchronised(ctx, v, server)
                else:
                    v.fail(f"{chrony.get('Id')} (chronyd) is {chrony.get('ActiveState')}/"
                           f"{chrony.get('SubState')} (expected active): nothing keeps this clock "
                           f"in sync; {FAQ}")
                    v.data["chronyd_inactive"] = True
            else:
                chronyd_synchronised(ctx, v, server, chrony.get("Id"))
        elif chrony is not None and chrony.get("LoadState") == "masked":
            unit = chrony.get("Id")
            if timesyncd is not None and timesyncd.get("ActiveState") == "active":
                v.notes.append(f"{unit} is masked; systemd-timesyncd keeps the time instead")
                timesyncd_synchronised(ctx, v, server)
            else:
                v.fail(f"{unit} (chronyd) is masked (LoadState=masked): it is installed but cannot "
                       f"start, and nothing keeps this clock in sync; on the server run "
                       f"{command('systemctl', 'unmask', unit, sudo=True)} && "
                       f"{command('systemctl', 'enable', '--now', unit, sudo=True)}")
                v.data["chronyd_masked"] = True
        elif timesyncd is not None and timesyncd.get("ActiveState") == "active":
            v.notes.append("chronyd is not installed; systemd-timesyncd keeps the time")
            timesyncd_synchronised(ctx, v, server)
        else:
            load = chrony.get("LoadState") if chrony else "not reported"
            if load == "not-found":
                what = "chronyd is not installed (LoadState=not-found)"
            else:
                what = f"chronyd cannot be loaded (LoadState={load})"
            v.fail(f"no time sync daemon: {what} and systemd-timesyncd is not active (expected "
                   f"chronyd active, as hive-builder installs it: hive setup-hosts installs chrony)")
            v.data["no_timesync"] = True
    return v


def chronyd_synchronised(ctx, v: Verdict, server, unit: str) -> None:
    """A running chronyd: has it a source, and how far off is the clock it is correcting?"""
    r = ctx.host(server).get("chrony_tracking")
    if r is not None and r.rc != 0 and not r.unreadable:
        v.cite(server.name, r)
        said = ((r.stderr.strip() or r.stdout.strip()).splitlines() or [f"exit {r.rc}"])[-1][:160]
        v.unknown(f"chronyc cannot ask {unit} whether it is synchronised ({said}): its state is not "
                  f"known; {command('systemctl', 'status', unit, sudo=True)} on the server, and "
                  f"{command('systemctl', 'restart', unit, sudo=True)} if it does not answer")
        return
    fields = ctx.parsed(v, server, "chrony_tracking", parse_tracking,
                        f"whether {unit} is synchronised (chronyc tracking)")
    if fields is None:
        return
    leap = fields.get("Leap status", "")
    if leap == "Not synchronised":
        ref = fields.get("Reference ID", "")
        if ref.startswith(NEVER_SYNCHRONISED_REF):
            since = "has never synchronised since it started (no source selected)"
        else:
            since = f"lost its time source (last reference {fields.get('Ref time (UTC)', '?')} UTC)"
        v.fail(f"{unit} is running but not synchronised: it {since}, so nothing corrects this "
               f"clock and it drifts; `chronyc sources` on the server shows which servers of "
               f"/etc/chrony.conf are unreachable (^?): open the network to one (UDP 123) or "
               f"name a reachable one, then {command('systemctl', 'restart', unit, sudo=True)}")
        v.data["chronyd_unsynchronised"] = True
        return
    if leap not in SYNCHRONISED:
        v.unknown(f"chronyc tracking gave Leap status {leap[:40]!r}: whether {unit} is "
                  f"synchronised is not known")
        return
    offset = system_time_offset(fields)
    if offset is None:
        v.unknown(f"chronyc tracking gave System time {fields.get('System time', '')[:60]!r}: the "
                  f"offset chronyd is correcting is not known")
        return
    v.data["chrony_offset"] = offset
    if abs(offset) >= 1.0:
        way = "fast" if offset > 0 else "slow"
        v.notes.append(f"{unit} is synchronised and slewing away an offset of {abs(offset):.3f} s "
                       f"({way}); it shrinks by itself")


def timesyncd_synchronised(ctx, v: Verdict, server) -> None:
    """systemd-timesyncd keeps the time: timedatectl says whether it has synchronised."""
    props = ctx.parsed(v, server, "timedate", systemd.parse_show,
                       "whether systemd-timesyncd is synchronised (timedatectl show)")
    if props is None:
        return
    state = props[0].get("NTPSynchronized") if props else None
    if state == "no":
        v.fail("systemd-timesyncd is running but not synchronised (timedatectl: "
               "NTPSynchronized=no): no NTP server it is given is reachable, nothing corrects this "
               "clock; `timedatectl timesync-status` on the server shows the server it tries")
        v.data["timesyncd_unsynchronised"] = True
    elif state != "yes":
        v.unknown(f"timedatectl show gave NTPSynchronized={state!r}: whether the time is kept in "
                  f"sync is not known")
