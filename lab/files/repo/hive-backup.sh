#!/bin/bash
# hive lab version of hive-builder's /usr/bin/hive-backup.sh (roles/backup-tools).
# Usage: hive-backup.sh [-r] [-l svc1,svc2] [-h]
BACKUP_DIR=/home/admin/backup
RESTORE=0
TARGETS=""
usage() { echo "usage: $0 [-r] [-l svc1,svc2] [-h]"; }
while getopts "rl:h" opt; do
  case $opt in
    r) RESTORE=1 ;;
    l) TARGETS="${OPTARG//,/ }" ;;
    h) usage; exit 0 ;;
    *) usage; exit 1 ;;
  esac
done
AVAILABLE="hive-registry"
for f in /var/lib/hive-backup.d/*; do [ -f "$f" ] && AVAILABLE="$AVAILABLE $(basename "$f")"; done
[ -z "$TARGETS" ] && TARGETS="$AVAILABLE"
mkdir -p "$BACKUP_DIR"
ts=$(date +%Y%m%d%H%M%S)
for t in $TARGETS; do
  case " $AVAILABLE " in *" $t "*) ;; *) echo "backup scripts for $t is not available"; exit 1 ;; esac
  if [ "$t" = "hive-registry" ]; then
    f="$BACKUP_DIR/backup-$t-$ts.tar.gz"
    if [ $RESTORE = 0 ]; then
      if sudo -n tar czf "$f" -C /var/lib/docker/volumes/registry_regdata/_data . 2>/dev/null; then
        sudo -n chown admin: "$f"; ln -sfn "$(basename "$f")" "$BACKUP_DIR/backup-$t-latest.tar.gz"
        echo "INFO: hive-backup.sh: backup for $t done"
      else
        echo "INFO: hive-backup.sh: FAIL backup for $t"
      fi
    else
      if [ -e "$BACKUP_DIR/backup-$t-latest.tar.gz" ]; then
        sudo -n tar xzf "$BACKUP_DIR/backup-$t-latest.tar.gz" -C /var/lib/docker/volumes/registry_regdata/_data \
          && echo "INFO: hive-backup.sh: restore for $t done" || echo "INFO: hive-backup.sh: FAIL restore for $t"
      else
        echo "INFO: hive-backup.sh: SKIP restore for $t"
      fi
    fi
  else
    # per-service scripts (written by deploy-services on a real site)
    . "/var/lib/hive-backup.d/$t"
  fi
done
find "$BACKUP_DIR" -daystart -mtime +3 -name 'backup-*' ! -name '*-latest.*' -delete 2>/dev/null
exit 0
