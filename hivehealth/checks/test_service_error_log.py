"""The services' error log on the repository server (zabbix "Error Log Detected for Services").

rsyslog on the repository server writes every service's log to /var/log/services/ and the lines
that match the service's `monitor_error` patterns (hive-builder's service definition) to
/var/log/service-error.log; zabbix alerts on any line there in the last 8 h (`count(8h)>0`).
This check counts the lines written within `service_error_window` (28800 s) by their syslog time
stamps and shows the newest `service_error_shown` of them.

No remedy: the lines are the services' own errors. Read the service's whole log,
/var/log/services/<service>.log, around the time of each line; zabbix's problem clears itself
8 h after the last line.
"""
import pytest

from hivehealth.gather.sections import declare
from hivehealth.parsers import agent
from hivehealth.judge.verdict import Verdict


# the repository server's /var/log/service-error.log (rsyslog writes the lines of every service
# that match its monitor_error); zabbix: logrt[...] count(8h) > 0. The server's clock, zone
# offset and year date the lines (the traditional syslog stamp has neither zone nor year).
_SERVICE_ERROR_LOG = r"""f=/var/log/service-error.log
echo "now $(date +%s) $(date +%z) $(date +%Y)"
$SUDO test -e "$f" || { echo "nofile $f"; exit 0; }
echo "file $f $($SUDO stat -c '%s %Y' "$f")"
echo "lines $($SUDO wc -l "$f" | cut -d' ' -f1)"
$SUDO tail -n 5000 "$f" | sed 's/^/| /'"""

# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    service_error_log=("repository", _SERVICE_ERROR_LOG),
)

ALERT = "Error Log Detected for Services"


@pytest.mark.roles("repository")
def test_service_error_log(server, verify):
    verify(service_error_log, server)


def service_error_log(ctx, server) -> Verdict:
    window = ctx.number("service_error_window", unit="s")
    shown = int(ctx.number("service_error_shown"))
    v = Verdict(server.name, alert=ALERT)
    log = ctx.parsed(v, server, "service_error_log", agent.parse_error_log, "the service error log")
    if log is None:
        return v
    if not log.exists:
        v.notes.append(f"{log.path} does not exist: no service has logged an error line "
                       f"(rsyslog creates it with the first)")
        return v
    start = log.now - window
    dated = [(agent.line_time(line, log), line) for line in log.lines if line.strip()]
    recent = [line for t, line in dated if t is not None and t >= start]
    undated = [line for t, line in dated if t is None]
    v.data.update(lines=len(recent), window=window, path=log.path)
    if recent:
        v.fail(f"{len(recent)} line(s) in {log.path} within the last {window:g} s; newest: "
               + " | ".join(recent[-shown:]))
    elif undated and log.mtime is not None and log.mtime >= start:
        v.fail(f"{log.path} was written {log.now - log.mtime} s ago (within {window:g} s) and its "
               f"lines carry no syslog time stamp this check reads; newest: "
               + " | ".join(undated[-shown:]))
    if not v.ok:
        v.notes.append("look: each service's whole log is /var/log/services/<service>.log on "
                       "the repository server; the lines above name the service (syslog tag)")
        v.notes.append("zabbix's problem clears itself once no line is newer than 8 h; no "
                       "remedy is run (the lines are the services' own errors)")
    return v
