"""Commands that read what hive-builder's zabbix agent reads, merged into gather.SECTIONS.

Each section runs the agent's UserParameter command (roles/zabbix-agent in hive-builder) or its
structured equivalent, read-only. The thresholds are zabbix's by default (ZABBIX_INI).
Output lines that come from the site are prefixed with "| " where a section mixes them with its
own "key value" lines, so a log line can never pass for one of them.
"""
from __future__ import annotations

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

# systemd restarts (zbx_service_restart_check.sh: ActiveEnterTimestamp < 180 s ago and uptime
# >= 180 s). Monotonic times against /proc/uptime: the same clock, no date parsing. systemd's
# own start (UserspaceTimestampMonotonic) is when "up" begins: in a container the kernel's
# uptime is the host's.
_UNIT_RESTARTS = r"""echo "uptime $(cut -d' ' -f1 /proc/uptime)"
echo "userspace $(systemctl show -p UserspaceTimestampMonotonic --value)"
echo
u=$(systemctl list-units --type=service --all --plain --no-legend --no-pager | cut -d' ' -f1) || exit $?
[ -z "$u" ] || systemctl show -p Id -p Type -p UnitFileState -p LoadState -p ActiveState -p SubState -p Result -p NRestarts -p ActiveEnterTimestampMonotonic $u"""

# the repository server's /var/log/service-error.log (rsyslog writes the lines of every service
# that match its monitor_error); zabbix: logrt[...] count(8h) > 0. The server's clock, zone
# offset and year date the lines (the traditional syslog stamp has neither zone nor year).
_SERVICE_ERROR_LOG = r"""f=/var/log/service-error.log
echo "now $(date +%s) $(date +%z) $(date +%Y)"
$SUDO test -e "$f" || { echo "nofile $f"; exit 0; }
echo "file $f $($SUDO stat -c '%s %Y' "$f")"
echo "lines $($SUDO wc -l "$f" | cut -d' ' -f1)"
$SUDO tail -n 5000 "$f" | sed 's/^/| /'"""

# standalone-type containers (label HIVE_STANDALONE=True: systemd runs inside), as the agent's
# docker-service.py reads them: systemctl in each container through docker exec.
_INNER_SERVICES = r"""ids=$($DOCKER ps -q --no-trunc --filter label=HIVE_STANDALONE=True) || exit $?
for c in $ids; do
  echo "container $c $($DOCKER inspect -f '{{index .Config.Labels "com.docker.swarm.service.name"}}' "$c")"
  o=$($DOCKER exec "$c" sh -c 'echo "uptime $(cut -d" " -f1 /proc/uptime)"; echo "userspace $(systemctl show -p UserspaceTimestampMonotonic --value)"; echo; u=$(systemctl list-units --type=service --all --plain --no-legend --no-pager | cut -d" " -f1) || exit $?; [ -z "$u" ] || systemctl show -p Id -p LoadState -p ActiveState -p SubState -p Result -p NRestarts -p ActiveEnterTimestampMonotonic $u' 2>&1)
  echo "exit $?"
  printf '%s\n' "$o" | sed 's/^/| /'
done
exit 0"""

ZABBIX_SECTIONS: dict[str, tuple[str, str]] = {
    "selinux": ("all", _SELINUX),
    "unit_restarts": ("all", _UNIT_RESTARTS),
    "service_error_log": ("repository", _SERVICE_ERROR_LOG),
    "inner_services": ("hive", _INNER_SERVICES),
    # one sample of every running container's CPU and memory use (the agent's --stats)
    "service_stats": ("hive", "$DOCKER stats --no-stream --no-trunc --format '{{json .}}'"),
    # inodes per filesystem (the built-in vfs.fs.inode[<fs>,pfree])
    "df_inodes": ("all", "$SUDO df -P -T -i"),
    "zabbix_agent": ("all", "systemctl show -p Id -p LoadState -p ActiveState -p SubState "
                            "zabbix-agent.service zabbix-agent2.service"),
}

ZABBIX_INI: dict[str, tuple[str, str]] = {
    "selinux_window": ("selinux: which denials count: today (zabbix's ausearch -ts today), boot, "
                       "or a number of seconds (at most 86400)", "today"),
    "unit_restart_window": ("unit_restarts: seconds since a service last became active that count "
                            "as a restart (zabbix: 180)", "180"),
    "service_error_window": ("service_error_log: seconds of /var/log/service-error.log lines that "
                             "count (zabbix: count(8h))", "28800"),
    "service_error_shown": ("service_error_log: how many of the newest lines to show", "5"),
    "inner_restart_window": ("inner_services: seconds since an inner service became active that "
                             "count as a restart (zabbix: 28800)", "28800"),
    "service_cpu_max": ("service_usage: highest CPU % of a service, averaged over its containers, "
                        "100 = one core (zabbix: 80)", "80"),
    "service_memory_max": ("service_usage: highest memory use % of its limit (zabbix: 90)", "90"),
    "inode_usage_max": ("inodes: highest inode use % of a filesystem (zabbix: free < 20 %)", "80"),
}
