"""Commands for the checks beyond the runbook, merged into gather.SECTIONS.

Every command here is read-only. None of them carries a secret: the registry probe reads the
registry password on the repository server itself (from the admin's ~/.bashrc, where
hive-builder's registry role exports DXF_PASSWORD for python-dxf), hands it to curl in a
mode-600 temporary netrc file, removes the file, and prints only the HTTP status.

Also here: `more_ini`, the ini options of these checks with their defaults, read safely until
plugin.INI registers them (pytest's config.getini raises ValueError for an unknown name).
"""
from __future__ import annotations

from .gather_zabbix import ZABBIX_INI, ZABBIX_SECTIONS

# ---------------------------------------------------------------- sections
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

# drbd-resource@<vol>.service of every volume this hive knows: /etc/drbd.d/<vol>.res (written
# by build-volumes), the units docker.service requires, and every loaded instance.
_DRBD_UNITS = r"""u=$( { for f in /etc/drbd.d/*.res; do [ -e "$f" ] || continue; b=${f##*/}; echo "drbd-resource@${b%.res}.service"; done
  ls /etc/systemd/system/docker.service.requires/ 2>/dev/null | grep '^drbd-resource@'
  systemctl list-units --all --plain --no-legend --no-pager 'drbd-resource@*' | awk '{print $1}'
} | sort -u )
[ -z "$u" ] || systemctl show -p Id -p LoadState -p ActiveState -p SubState -p Result -p UnitFileState $u"""

_LVS = ("command -v lvs >/dev/null 2>&1 || { echo 'lvs: command not found' >&2; exit 127; }; "
        "$SUDO lvs --reportformat json --units b --nosuffix "
        "-o vg_name,lv_name,lv_attr,lv_size,pool_lv,data_percent,metadata_percent")

_TIMESYNC = ("systemctl show -p Id -p LoadState -p ActiveState -p SubState "
             "chronyd.service systemd-timesyncd.service")

# the registry's /v2/ from the repository server itself, as hive-builder configures it:
#   tls  : https://$DXF_HOST/v2/ with the site CA and user/password from ~/.bashrc (DXF_*)
#   http : no DXF settings, and docker's daemon.json lists <registry>:5000 as an
#          insecure registry (the site runs a plain-HTTP registry, e.g. the hive lab)
#   none : neither: the probe cannot tell how the registry is meant to be reached
_REGISTRY_API = r"""ca=/etc/pki/ca-trust/source/anchors/cacert.pem
rc=~/.bashrc
val() { sed -n "s/^[[:space:]]*export[[:space:]]\{1,\}$1=//p" "$rc" 2>/dev/null | tail -n 1 | sed "s/^[\"']//; s/[\"']$//"; }
h=$(val DXF_HOST); user=$(val DXF_USERNAME); [ -n "$user" ] || user=hive
if [ -n "$h" ] && grep -q '^[[:space:]]*export[[:space:]]\{1,\}DXF_PASSWORD=' "$rc" 2>/dev/null; then
  [ -r "$ca" ] || { echo "mode tls"; echo "url https://$h/v2/"; echo "noca $ca"; exit 0; }
  n=$(mktemp) || exit 97
  trap 'rm -f "$n"' EXIT
  chmod 600 "$n"
  printf 'machine %s login %s password %s\n' "${h%:*}" "$user" "$(val DXF_PASSWORD)" > "$n"
  echo "mode tls"; echo "url https://$h/v2/"; echo "user $user"
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$ca" --netrc-file "$n" "https://$h/v2/")
  echo "curl $?"; echo "code $code"
  exit 0
fi
r=$(grep -oE '"[^"]+:5000"' /etc/docker/daemon.json 2>/dev/null | head -n 1 | tr -d '"')
if [ -n "$r" ]; then
  echo "mode http"; echo "url http://$r/v2/"
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "http://$r/v2/")
  echo "curl $?"; echo "code $code"
  exit 0
fi
echo "mode none"
exit 0"""

MORE_SECTIONS: dict[str, tuple[str, str]] = {
    "backup_files": ("repository", _BACKUP_FILES),
    "backup_units": ("repository", _BACKUP_UNITS),
    "backup_journal": ("repository", _BACKUP_JOURNAL),
    "drbd_units": ("hive", _DRBD_UNITS),
    "lvs": ("hive", _LVS),
    "timesync": ("all", _TIMESYNC),
    "registry_api": ("repository", _REGISTRY_API),
}
MORE_SECTIONS.update(ZABBIX_SECTIONS)     # what hive-builder's zabbix agent reads

# ---------------------------------------------------------------- ini options
MORE_INI: dict[str, tuple[str, str]] = {
    # name: (help, default)  -- to be registered in plugin.INI
    "backup_max_age": ("backup: hours since the file behind each backup-<name>-latest.* link was "
                       "written (the timer runs daily at 01:00)", "26"),
    "thinpool": ("thinpool: the LVM thin pool of the DRBD volumes, VG/LV (hive-builder: drbdvg/drbdpool)",
                 "drbdvg/drbdpool"),
    "thinpool_data_max": ("thinpool: highest data use % of the thin pool", "80"),
    "thinpool_metadata_max": ("thinpool: highest metadata use % of the thin pool", "80"),
    "clock_skew_max": ("time: seconds a server's clock may differ from the mother's", "5"),
}
MORE_INI.update(ZABBIX_INI)


def more_ini(ctx, name: str) -> str:
    """An ini option of these checks; its default while it is not registered in plugin.INI."""
    try:
        value = ctx.ini(name)
    except (ValueError, KeyError):
        return MORE_INI[name][1]
    return MORE_INI[name][1] if value is None else value


def more_number(ctx, name: str) -> float:
    raw = str(more_ini(ctx, name)).strip().rstrip("%").rstrip("hs").strip()
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"pytest.ini option {name} = {raw!r} is not a number") from None
