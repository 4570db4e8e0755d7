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

from hivehealth.gather.sections import declare
from hivehealth.parsers import agent
from hivehealth.judge.verdict import Verdict


# SELinux (ausearch.conf): `sudo ausearch -m AVC,USER_AVC,SELINUX_ERR,USER_SELINUX_ERR -ts today
# --raw | grep -v 'received [a-z]* notice' | wc -l`. The records are read from the earlier of the
# last boot and yesterday's midnight, so every window the check offers (today, boot, seconds up
# to a day) is inside what was read. ausearch exits 1 with "<no matches>" when there are none.
# `-ts` takes the date in the locale's %x form (LC_ALL=C: MM/DD/YY).
_SELINUX = r"""if command -v getenforce >/dev/null 2>&1; then m=$(getenforce)
elif [ -r /sys/fs/selinux/enforce ]; then m=Unknown
else echo "mode none"; exit 0; fi
echo "mode $m"
[ "$m" = Disabled ] && exit 0
now=$(date +%s); up=$(cut -d. -f1 /proc/uptime); boot=$((now - up))
today=$(date -d 00:00 +%s); y=$((today - 86400))
echo "now $now"; echo "today $today"; echo "boot $boot"
s=$y; [ "$boot" -lt "$s" ] && s=$boot
echo "since $s"
r=$($SUDO ausearch -m AVC,USER_AVC,SELINUX_ERR,USER_SELINUX_ERR -ts "$(date -d "@$s" +%x)" "$(date -d "@$s" +%T)" --raw 2>&1)
echo "rc $?"
printf '%s\n' "$r" | grep -E '^type=(AVC|USER_AVC|SELINUX_ERR|USER_SELINUX_ERR) ' > /dev/null || { printf '%s\n' "$r" | head -n 3 | sed 's/^/! /'; exit 0; }
echo "records $(printf '%s\n' "$r" | grep -cE '^type=(AVC|USER_AVC|SELINUX_ERR|USER_SELINUX_ERR) ')"
printf '%s\n' "$r" | grep -E '^type=(AVC|USER_AVC|SELINUX_ERR|USER_SELINUX_ERR) ' | tail -n 2000 | sed 's/^/| /'"""

# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    selinux=("all", _SELINUX),
)

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
    start, window = window_start(st, ctx.ini("selinux_window"))
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
