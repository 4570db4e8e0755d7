"""Lab faults of the area backup: the nightly backup on the repository server
(checks/test_backup.py)."""
import os

from .. import site
from . import Fault
from .site_ops import sx


BACKUP_DIR = "/home/admin/backup"
REG_LINK = f"{BACKUP_DIR}/backup-hive-registry-latest.tar.gz"
TIMER = "backup.timer"


def inj_backup_stale(lab, target):
    s = site.repo_of(lab)
    f = sx(s, f"readlink -f {REG_LINK}").stdout.strip()
    orig = int(sx(s, f"stat -c %Y {f}").stdout.strip())
    sx(s, f"touch -d '30 hours ago' {f}")
    return s, (f"{REG_LINK} -> {os.path.basename(f)} dated 30 h ago (the nightly backup stopped "
               "writing it)"), {"file": f, "mtime": orig}


def heal_backup_stale(lab, s, rec):
    # the file's own date back (a rerun may already have moved the link to a newer file)
    sx(s, f"[ -e {rec['file']} ] && touch -d @{rec['mtime']} {rec['file']}; true", check=False)


def _run_backup_service(s):
    sx(s, "systemctl reset-failed backup.service 2>/dev/null; systemctl start backup.service",
       check=False, timeout=120)


def inj_backup_failed(lab, target):
    s = site.repo_of(lab)
    # the nightly run happens while the backup directory is read-only (a full or broken disk):
    # tar fails, hive-backup.sh prints its FAIL line and still exits 0
    sx(s, f"mkdir -p {BACKUP_DIR} && mount --bind {BACKUP_DIR} {BACKUP_DIR} && "
          f"mount -o remount,bind,ro {BACKUP_DIR}")
    try:
        _run_backup_service(s)
    finally:
        sx(s, f"umount {BACKUP_DIR}", check=False)
    out = sx(s, "journalctl --no-pager -q -o cat _SYSTEMD_INVOCATION_ID="
                "$(systemctl show -p InvocationID --value backup.service) | grep FAIL; true"
             ).stdout.strip()
    return s, (f"the last backup.service run on {s['full']} printed {out or '(no FAIL line?)'!r} "
               "and exited 0 (backup directory was read-only during the run)"), {}


def heal_backup_failed(lab, s, rec):
    sx(s, f"while mountpoint -q {BACKUP_DIR}; do umount {BACKUP_DIR} || break; done", check=False)
    _run_backup_service(s)


def inj_backup_timer_stopped(lab, target):
    s = site.repo_of(lab)
    sx(s, f"systemctl stop {TIMER}")
    return s, f"{TIMER} stopped on {s['full']}: no nightly backup", {}


def heal_backup_timer_stopped(lab, s, rec):
    sx(s, f"systemctl enable --now {TIMER} >/dev/null 2>&1", check=False)


# a service's backup script as deploy-services writes one (hive-backup.sh sources it): the dump
# piped through gzip inside `sh -c`, so the pipeline's status is gzip's and a failed dump still
# leaves a fresh link, a "done" line and no FAIL
DUMP_SCRIPT = "/var/lib/hive-backup.d/hhdump"
DUMP_SCRIPT_TEXT = r'''f="$BACKUP_DIR/backup-hhdump-$ts.sql.gz"
sh -c 'mysqldump --all-databases | gzip' > "$f"
ln -sfn "$(basename "$f")" "$BACKUP_DIR/backup-hhdump-latest.sql.gz"
echo "INFO: hive-backup.sh: backup for hhdump done"
'''


def inj_backup_dump_fails_in_sh_c(lab, target):
    s = site.repo_of(lab)
    sx(s, f"cat > {DUMP_SCRIPT} <<'EOF'\n{DUMP_SCRIPT_TEXT}EOF")
    _run_backup_service(s)
    return s, (f"{DUMP_SCRIPT}'s mysqldump is not found inside sh -c | gzip: an empty dump, a fresh "
               f"link and no FAIL line on {s['full']}"), {}


def heal_backup_dump_fails_in_sh_c(lab, s, rec):
    sx(s, f"rm -f {DUMP_SCRIPT} {BACKUP_DIR}/backup-hhdump-*", check=False)
    _run_backup_service(s)


FAULTS = [
    Fault("backup:stale", inj_backup_stale, heal_backup_stale,
          "the file behind backup-hive-registry-latest.tar.gz dated 30 h ago [repository]"),
    Fault("backup:failed", inj_backup_failed, heal_backup_failed,
          "last backup.service run printed `FAIL backup for hive-registry` [repository]"),
    Fault("backup:timer-stopped", inj_backup_timer_stopped, heal_backup_timer_stopped,
          "backup.timer stopped [repository]"),
    Fault("backup:dump-fails-in-sh-c", inj_backup_dump_fails_in_sh_c, heal_backup_dump_fails_in_sh_c,
          "a service's dump fails inside `sh -c ... | gzip`: exit 0, no FAIL line [repository]"),
]
