"""SELinux denials on every server (zabbix "Detect SELinux alert", template Hive Server SELinux).

The agent counts `ausearch -m AVC,USER_AVC,SELINUX_ERR,USER_SELINUX_ERR -ts today --raw` lines,
minus `received ... notice` (policy loads, setenforce), and alerts on any. This check reads the
same records and counts the denials in `selinux_window` (today by default, as zabbix; `boot`, or
a number of seconds), naming the program and the contexts of each. SELinux disabled (or not
installed) means hive-builder links no SELinux template: the check is skipped with that reason.

No remedy: a denial is a policy question. Look with `sudo ausearch -m AVC -ts today -i` and
`sudo sealert -a /var/log/audit/audit.log`; zabbix's problem closes only by hand.
"""
import pytest

from hivehealth.gather_more import more_ini
from hivehealth.parsers import agent
from hivehealth.verdict import Verdict

ALERT = "Detect SELinux alert"
LOOK = "look: sudo ausearch -m AVC,USER_AVC,SELINUX_ERR,USER_SELINUX_ERR -ts today -i"
SHOWN = 5


@pytest.mark.roles("all")
def test_selinux(server, verify):
    verify(selinux_denials, server)


def window_start(st: agent.SelinuxState, window: str) -> tuple[float, str]:
    """(epoch from which denials count, how the window reads) for selinux_window."""
    w = str(window).strip().lower()
    if w == "today":
        return st.today, "today (since the server's midnight)"
    if w == "boot":
        return st.boot, "since the last boot"
    try:
        seconds = float(w.rstrip("s"))
    except ValueError:
        raise ValueError(f"pytest.ini option selinux_window = {window!r} is not today, boot or "
                         f"a number of seconds") from None
    if not 0 < seconds <= 86400:
        raise ValueError(f"pytest.ini option selinux_window = {window!r}: seconds must be 1-86400 "
                         f"(the records read go back to yesterday's midnight or the boot)")
    return st.now - seconds, f"in the last {seconds:g} s"


def selinux_denials(ctx, server) -> Verdict:
    v = Verdict(server.name, alert=ALERT)
    st = ctx.parsed(v, server, "selinux", agent.parse_selinux, "the SELinux state")
    if st is None:
        return v
    if st.mode == "none":
        v.skip(f"{server.name}: SELinux is not installed (no getenforce, no /sys/fs/selinux): "
               f"hive-builder links no SELinux template here")
        return v
    if st.mode == "Disabled":
        v.skip(f"{server.name}: SELinux is disabled (getenforce): hive-builder links no SELinux "
               f"template and the agent has no ausearch item here")
        return v
    start, window = window_start(st, more_ini(ctx, "selinux_window"))
    # ausearch exits 1 when nothing matched (audit 3.0.9 with --raw prints nothing then; older
    # versions print "<no matches>"); anything else it says is an error
    said = [e for e in st.errors if e.strip() and e.strip() != "<no matches>"]
    if st.rc not in (0, 1) or (st.rc == 1 and said):
        v.unknown(f"ausearch exited {st.rc}: {'; '.join(said) or 'no output'}: the denials are "
                  f"not known")
        return v
    counted = [r for r in st.records if r.time >= start and not r.notice]
    events = {}
    for r in counted:
        events.setdefault(r.serial, r)
    v.data.update(mode=st.mode, denials=len(events), window=window)
    if len(st.records) < st.count and st.records and st.records[0].time >= start:
        v.notes.append(f"ausearch printed {st.count} records; the newest {len(st.records)} were read")
    if events:
        newest = sorted(events.values(), key=lambda r: r.time)[-SHOWN:]
        v.fail(f"{len(events)} SELinux denial event(s) {window} (SELinux {st.mode}); newest: "
               + "; ".join(r.summary() for r in newest))
        v.notes.append(LOOK)
        v.notes.append("no remedy is run: a denial is a policy question (a wrong file label, a "
                       "missing boolean); zabbix's problem is closed by hand once it is understood")
    return v
