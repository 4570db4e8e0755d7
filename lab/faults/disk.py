"""Lab faults of the area disk: filesystems filling up (checks/test_disk.py)."""
from .. import site
from . import Fault
from .site_ops import default_target, df_bytes, sx


def inj_disk_full(lab, target):
    s = default_target(lab, target, "last-hive")
    size, used = df_bytes(s, "/var/lib/docker")
    need = int(size * 0.86) - used
    if need > 0:
        img_mb = max(1, need // 2 // 2**20)
        ctr_mb = max(1, (need - img_mb * 2**20) // 2**20 + 8)
        # an unused (dangling) image and a stopped container with a big writable layer
        sx(s, f"mkdir -p /tmp/hh-bloat && dd if=/dev/urandom of=/tmp/hh-bloat/blob bs=1M "
              f"count={img_mb} status=none && tar -C /tmp/hh-bloat -cf - blob | docker import - "
              f">/dev/null && rm -rf /tmp/hh-bloat")
        sx(s, f"docker run --name hh-lab-build-cache hive-lab/busybox:latest "
              f"dd if=/dev/zero of=/build-cache bs=1M count={ctr_mb} 2>/dev/null; true")
    size, used = df_bytes(s, "/var/lib/docker")
    return s, (f"{s['full']}:/var/lib/docker {100 * used // size}% used "
               "(a dangling image and a stopped container)"), {}


def heal_disk_full(lab, s, rec):
    sx(s, "docker rm -f hh-lab-build-cache >/dev/null 2>&1; docker system prune -f >/dev/null")


def inj_log_bloat(lab, target):
    s = site.repo_of(lab)
    path = f"/var/log/services/{lab['service']}.log"
    orig = int(sx(s, f"stat -c %s {path} 2>/dev/null || echo 0").stdout.strip() or 0)
    sx(s, "python3 - <<'EOF'\n"
          "line = b'Nov 29 00:00:00 s-hive1.lab ldap[146]: DEBUG conn=1042 op=7 SRCH base=\"dc=lab\" "
          "scope=2 deref=0 filter=\"(objectClass=*)\" attrs=ALL\\n'\n"
          "chunk = line * (2**20 // len(line))\n"
          f"with open('{path}', 'ab') as f:\n"
          "    for _ in range(300):\n"
          "        f.write(chunk)\n"
          "EOF")
    size = sx(s, f"du -h {path} | cut -f1").stdout.strip()
    return s, f"{path} on {s['full']} is {size} (debug logging left on)", {"orig": orig, "path": path}


def heal_log_bloat(lab, s, rec):
    sx(s, f"truncate -s {rec.get('orig', 0)} {rec['path']}", check=False)


FAULTS = [
    Fault("disk:full", inj_disk_full, heal_disk_full,
          "/var/lib/docker > 80 %: dangling image + stopped container [last hive]"),
    Fault("disk:log-bloat", inj_log_bloat, heal_log_bloat,
          "/var/log/services/ldap.log grows by 300 MiB"),
]
