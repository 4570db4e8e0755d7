"""Backups on the repository server: nothing in hive's zabbix watches them.

Backups: https://hive-builder.readthedocs.io/ja/latest/backup.html

`hive-backup.sh` (run nightly at 01:00 by backup.timer -> backup.service) exits 0 even when a
target failed: a failure shows only as an `INFO: hive-backup.sh: FAIL ...` line. So this check
reads what the backup left behind:
- every `backup-<name>-latest.*` link points to a file younger than `backup_max_age` hours
  (measured on the repository server's own clock), and every link the backup scripts write
  exists (a service with backup_scripts that never produced a backup is stale too);
- backup.timer is loaded, enabled and active;
- the last backup.service run did not fail and printed no FAIL line (a FAIL for a target whose
  -latest file was written after that run ended is a rerun that worked: noted, not failed).

Not applicable (skip): a repository server without /usr/bin/hive-backup.sh (backup-tools role
never ran there). With the script present, a missing timer is a fault.
No remedy: the message names the stale or failed target and how to rerun it by hand.
"""

import pytest

from hivehealth.gather.sections import declare
from hivehealth.parsers import systemd
from hivehealth.parsers.backup import latest_link_name, parse_backup_files, parse_backup_journal
from hivehealth.judge.verdict import Verdict
from hivehealth.shell import command


# backup (repository server): the script, the -latest links with their targets' age, and the
# link names the backup scripts write (literal `backup-<name>-latest.<ext>` in the script and
# in each /var/lib/hive-backup.d/<service> file). Age is measured on the server's own clock.
# `lastrun`: when the last backup.service run ended (epoch, in microseconds where systemd
# >= 248 prints them, else whole seconds; printed in UTC because date -d cannot read back every
# zone name, e.g. JST). Link mtimes are to the nanosecond: a rerun by hand can end in the same
# second as the nightly run.
_BACKUP_FILES = r"""s=/usr/bin/hive-backup.sh
if [ ! -e "$s" ]; then echo "script -"; exit 0; fi
echo "script $s"
u=$(systemctl show -p User --value backup.service 2>/dev/null)
h=; [ -n "$u" ] && h=$(getent passwd "$u" | cut -d: -f6)
[ -n "$h" ] || h=$HOME
d="$h/backup"
echo "dir $d"
echo "now $(date +%s)"
x=$(systemctl show --timestamp=us+utc -p ExecMainExitTimestamp --value backup.service 2>/dev/null) ||
  x=$(TZ=UTC LC_ALL=C systemctl show -p ExecMainExitTimestamp --value backup.service 2>/dev/null)
[ -z "$x" ] || { x=$(TZ=UTC date -d "$x" +%s.%N 2>/dev/null) && echo "lastrun $x"; }
[ -d "$d" ] || { echo "nodir"; }
for f in "$d"/backup-*-latest.*; do
  [ -L "$f" ] || [ -e "$f" ] || continue
  t=$(readlink "$f"); [ -n "$t" ] || t=-
  m=$(date -r "$f" +%s.%N 2>/dev/null) || m=-
  echo "link ${f##*/} $m $t"
done
for f in "$s" /var/lib/hive-backup.d/*; do
  [ -f "$f" ] || continue
  n=${f##*/}; [ "$f" = "$s" ] && n=-
  echo "service $n"
  grep -oE 'backup-[A-Za-z0-9_.-]+-latest\.[A-Za-z0-9.]*[A-Za-z0-9]' "$f" 2>/dev/null | sort -u |
    while read -r l; do echo "expect $n $l"; done
done
exit 0"""

_BACKUP_UNITS = ("systemctl show -p Id -p LoadState -p ActiveState -p SubState -p UnitFileState "
                 "-p Result -p ExecMainStartTimestamp -p ExecMainStatus -p InvocationID "
                 "backup.timer backup.service")

# the output of the last backup.service run only (its exit code does not tell a failure)
_BACKUP_JOURNAL = ('i=$(systemctl show -p InvocationID --value backup.service) || exit $?; '
                   '[ -z "$i" ] || $SUDO journalctl --no-pager -q -o cat _SYSTEMD_INVOCATION_ID="$i"')

# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    backup_files=("repository", _BACKUP_FILES),
    backup_units=("repository", _BACKUP_UNITS),
    backup_journal=("repository", _BACKUP_JOURNAL),
)

ALERT = "(none: hive's zabbix does not watch backups; https://hive-builder.readthedocs.io/ja/latest/backup.html)"


@pytest.mark.roles("repository")
def test_backup(server, verify):
    verify(backup_fresh, server)


def _target(link: str, expected: dict) -> str:
    """The hive-backup.sh -l target that writes this link: the /var/lib/hive-backup.d file that
    names it, else the <name> of backup-<name>-latest.<ext> (hive-zabbix, hive-registry)."""
    svc = expected.get(link)
    if svc and svc != "-":
        return svc
    return latest_link_name(link) or link


def _target_of_name(name: str, expected: dict) -> str:
    """The -l target for a backup_scripts name (as in `FAIL backup for <name>`)."""
    for link, svc in expected.items():
        if link.startswith(f"backup-{name}-latest.") and svc != "-":
            return svc
    return name


def _rewritten_after(b: dict, t: str) -> str | None:
    """The -latest link of target t whose file is newer than the end of the last
    backup.service run (a successful rerun since), if any."""
    if b.get("lastrun") is None:
        return None
    for link, (mtime, _) in sorted(b["links"].items()):
        if mtime is not None and mtime > b["lastrun"] and _target(link, b["expected"]) == t:
            return link
    return None


def _age(seconds: float) -> str:
    h = seconds / 3600
    return f"{h:.1f} h" if h < 48 else f"{h / 24:.1f} days"


def backup_fresh(ctx, server) -> Verdict:
    max_h = ctx.number("backup_max_age", unit="h")
    v = Verdict(server.name, alert=ALERT)
    b = ctx.parsed(v, server, "backup_files", parse_backup_files, "the backup state")
    if b is None:
        return v
    if b["script"] is None:
        v.skip(f"{server.name}: /usr/bin/hive-backup.sh is not installed: this repository server "
               f"has no hive-builder backups to check")
        return v

    def rerun(target):
        return f"rerun on the repository server (hive ssh): {command('hive-backup.sh', '-l', target)}"

    # 1. every -latest link is young enough, and every link the scripts write exists
    # the server's clock when it answered, else when it was asked: a replay judges ages as
    # they were when the recording was made
    now = b["now"] or ctx.host(server).gathered_at
    if not now:
        v.unknown("the time the backup state was read is not known: the backups' age cannot be judged")
        return v
    stale = []
    if b["nodir"]:
        v.fail(f"backup directory {b['dir']} does not exist: no backup was ever written "
               f"(limit {max_h:g} h)")
    for link, (mtime, target) in sorted(b["links"].items()):
        t = _target(link, b["expected"])
        if mtime is None:
            v.fail(f"{link} -> {target} is a dangling link: the backup file is gone "
                   f"(limit {max_h:g} h); {rerun(t)}")
            stale.append(t)
            continue
        age = now - mtime
        if age > max_h * 3600:
            v.fail(f"backup of {t} is stale: {link} -> {target} is {_age(age)} old "
                   f"(limit backup_max_age {max_h:g} h); {rerun(t)}")
            stale.append(t)
    for link, svc in sorted(b["expected"].items()):
        if link not in b["links"]:
            t = _target(link, b["expected"])
            v.fail(f"backup of {t} was never written: no {b['dir']}/{link} "
                   f"(limit {max_h:g} h); {rerun(t)}")
            stale.append(t)
    if not b["links"] and not b["expected"] and not b["nodir"]:
        v.fail(f"no backup-*-latest.* link in {b['dir']}: no backup has been written "
               f"(limit {max_h:g} h); rerun on the repository server: hive-backup.sh")

    # 2. the timer that runs it
    units = ctx.parsed(v, server, "backup_units", systemd.parse_show, "backup.timer/backup.service")
    last_start = None
    if units is not None:
        blocks = {u.get("Id"): u for u in units}
        timer = blocks.get("backup.timer")
        if blocks and timer is None:
            v.unknown("systemctl show did not report backup.timer")
        elif timer is not None and [k for k in ("LoadState", "ActiveState", "UnitFileState") if k not in timer]:
            v.unknown("systemctl show did not report the state of backup.timer (LoadState, ActiveState, "
                      "UnitFileState)")
        elif timer is not None:
            if timer.get("LoadState") != "loaded":
                v.fail(f"backup.timer is {timer.get('LoadState')} (expected loaded, enabled, active): "
                       f"hive-backup.sh is installed but nothing runs it; rerun setup-hosts "
                       f"(hive setup-hosts) or: sudo systemctl enable --now backup.timer")
            else:
                if timer.get("ActiveState") != "active":
                    v.fail(f"backup.timer is {timer.get('ActiveState')}/{timer.get('SubState')} "
                           f"(expected active): the nightly backup does not run; "
                           f"sudo systemctl enable --now backup.timer")
                if timer.get("UnitFileState") not in ("enabled", "enabled-runtime", "static",
                                                      "linked", "alias", "generated"):
                    v.fail(f"backup.timer is {timer.get('UnitFileState')} (expected enabled): "
                           f"it will not run after a reboot; sudo systemctl enable --now backup.timer")
        service = blocks.get("backup.service")
        if service is not None:
            last_start = service.get("ExecMainStartTimestamp") or None
            if service.get("Result") not in (None, "success"):
                v.fail(f"the last backup.service run ({last_start or 'time unknown'}) ended with "
                       f"result {service.get('Result')} (exit status {service.get('ExecMainStatus')}); "
                       f"journalctl -u backup.service; then hive-backup.sh")

    # 3. the last run's output: its exit code does not tell a failed target
    journal = ctx.section(v, server, "backup_journal", quiet=True)
    if last_start:
        if journal is None:
            r = ctx.host(server).get("backup_journal")
            v.unknown(f"cannot read the output of the last backup.service run ({last_start}): "
                      f"{r.failure() if r else 'not gathered'}")
        elif not journal.stdout.strip():
            v.unknown(f"the output of the last backup.service run ({last_start}) is not in the "
                      f"journal: cannot tell whether a target printed FAIL")
        else:
            for fail in parse_backup_journal(journal.stdout):
                t = fail.service or (_target_of_name(fail.name, b["expected"]) if fail.name else "<svc>")
                later = _rewritten_after(b, t)
                if later:
                    # the operator already reran it (hive-backup.sh -l <t>, as this check says):
                    # that does not go through backup.service, so its journal keeps the FAIL
                    # until the next nightly run; the newer file shows the rerun worked
                    v.notes.append(f"the last backup.service run printed `{fail.line.strip()[:200]}`, "
                                   f"but {later} was written after that run ended: rerun since")
                    continue
                v.fail(f"the last backup run ({last_start}) printed `{fail.line.strip()[:200]}`; "
                       f"{rerun(t)}")
                stale.append(t)
    v.data["stale"] = sorted(set(stale))
    v.data["links"] = {k: m for k, (m, _) in b["links"].items()}
    return v
