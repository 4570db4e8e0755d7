"""Faults on demand (one per runbook section) and `heal`.

Every inject appends a record to lab/.run/faults.json; heal undoes the records in reverse
order, then repairs generically and waits until the site is healthy again.
All mechanics run through the lab engine (docker exec into the server containers), never
over the SSH path the suite uses, so host-unreachable / hostkey-changed do not block heal.
"""
import json
import os
import shlex
import subprocess
import time

from . import site, util
from .util import FAULTS_FILE, RUN_DIR, log

BROKEN_UNIT = "hh-lab-broken.service"


def sx(s, cmd, check=True, timeout=300, input=None):
    return util.dexec(s["short"], cmd, check=check, timeout=timeout, input=input)


def _records():
    return util.load_json(FAULTS_FILE, [])


def _save(recs):
    util.save_json(FAULTS_FILE, recs)


def _lab():
    lab = site.load()
    if not lab:
        raise SystemExit("the lab is not up (python3 -m lab up)")
    return lab


def _alive_hive(lab):
    """A hive whose container runs (to issue swarm commands from)."""
    for s in [site.first_hive(lab)] + site.hives_of(lab):
        r = util.docker("inspect", "-f", "{{.State.Running}}", s["short"], check=False)
        if r.stdout.strip() == "true":
            return s
    raise RuntimeError("no hive is running")


def _default(lab, target, kind):
    if target:
        return site.by_name(lab, target)
    hv = site.hives_of(lab)
    if kind == "repo":
        return site.repo_of(lab)
    if kind == "last-hive":
        return hv[-1]
    if kind == "second-hive":
        return hv[1] if len(hv) > 1 else hv[0]
    return hv[0]


def scale(lab, n):
    sx(_alive_hive(lab), f"docker service scale -d {lab['service']}={n} >/dev/null")


def _open_anywhere(lab):
    sim = site.drbdsim()
    with sim.Locked(site.drbd_state_path(), write=False) as st:
        res = st["resources"][lab["volume"]]
        return [n for n in res["nodes"] if res["local"][n].get("open")]


def _no_task(lab):
    r = sx(_alive_hive(lab), f"docker service ps {lab['service']} --filter desired-state=running -q",
           check=False)
    return r.returncode == 0 and not r.stdout.strip()


def stop_service(lab):
    scale(lab, 0)
    util.wait_for(lambda: _no_task(lab), 60, what="the service tasks to stop")
    util.wait_for(lambda: not _open_anywhere(lab), 30, what="the volume to be unmounted")


def sim_update(lab, fn):
    sim = site.drbdsim()
    with sim.Locked(site.drbd_state_path()) as st:
        sim.settle(st)
        fn(st["resources"][lab["volume"]], time.time())
        sim.settle(st)


def ldap_node(lab):
    node = site.service_running(lab)
    if not node:
        return None
    return site.by_name(lab, node)


def task_container(s, lab):
    r = sx(s, f"docker ps -q -f label=com.docker.swarm.service.name={lab['service']}")
    return r.stdout.strip().split("\n")[0]


# ---------------------------------------------------------------- the faults
def inj_failed_unit(lab, target):
    s = _default(lab, target, "second-hive")
    unit = ("[Unit]\nDescription=hive lab: a host service that fails\n\n[Service]\n"
            "Type=oneshot\nExecStart=/bin/false\n\n[Install]\nWantedBy=multi-user.target\n")
    sx(s, f"cat > /etc/systemd/system/{BROKEN_UNIT} && systemctl daemon-reload && "
          f"systemctl enable {BROKEN_UNIT} >/dev/null 2>&1; systemctl start {BROKEN_UNIT}; true",
       input=unit)
    return s, f"{BROKEN_UNIT} failed on {s['full']}", {}


def heal_failed_unit(lab, s, rec):
    sx(s, f"systemctl disable {BROKEN_UNIT} >/dev/null 2>&1; rm -f /etc/systemd/system/{BROKEN_UNIT}; "
          f"systemctl daemon-reload; systemctl reset-failed {BROKEN_UNIT} 2>/dev/null; true")


def inj_leftover_drbd_unit(lab, target):
    s = _default(lab, target, "second-hive")
    sx(s, "systemctl start drbd-resource@old_data.service; true")
    return s, f"drbd-resource@old_data.service (a deleted volume) failed on {s['full']}", {}


def heal_leftover_drbd_unit(lab, s, rec):
    sx(s, "systemctl reset-failed drbd-resource@old_data.service 2>/dev/null; true")


def _df(s, path):
    out = sx(s, f"df -P -B1 {path} | tail -1").stdout.split()
    return int(out[1]), int(out[2])


def inj_disk_full(lab, target):
    s = _default(lab, target, "last-hive")
    size, used = _df(s, "/var/lib/docker")
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
    size, used = _df(s, "/var/lib/docker")
    return s, (f"{s['full']}:/var/lib/docker {100 * used // size}% used "
               "(a dangling image and a stopped container)"), {}


def heal_disk_full(lab, s, rec):
    sx(s, "docker rm -f hh-lab-build-cache >/dev/null 2>&1; docker system prune -f >/dev/null")


def inj_drbd_outdated(lab, target):
    stop_service(lab)

    def f(res, now):
        for n in res["nodes"]:
            res["local"][n]["disk"] = "Outdated"
            res["local"][n]["primary"] = False
        res["syncs"] = []
    sim_update(lab, f)
    return None, (f"service {lab['service']} scaled to 0; {lab['volume']} Secondary/Outdated "
                  "on every hive"), {}


def drbd_reset(lab):
    """Back to a clean resource: up everywhere (through its unit), UpToDate, connected."""
    for s in site.hives_of(lab):
        if util.docker("inspect", "-f", "{{.State.Running}}", s["short"],
                       check=False).stdout.strip() == "true":
            sx(s, f"systemctl reset-failed drbd-resource@{lab['volume']}.service 2>/dev/null; "
                  f"systemctl start drbd-resource@{lab['volume']}.service; "
                  f"drbdadm adjust {lab['volume']}", check=False)

    def f(res, now):
        for n in res["nodes"]:
            res["local"][n]["disk"] = "UpToDate"
            res["local"][n]["primary"] = False
        for k in res["want"]:
            res["want"][k] = True
        res["syncs"], res["stuck"], res["split_brain"], res["discard"] = [], {}, {}, {}
    sim_update(lab, f)


def heal_drbd(lab, s, rec):
    drbd_reset(lab)


def inj_drbd_one_sided(lab, target):
    p = ldap_node(lab) or site.first_hive(lab)
    others = [h for h in site.hives_of(lab) if h["full"] != p["full"]]
    q = site.by_name(lab, target) if target else others[0]

    def f(res, now):
        res["stuck"][f"{p['full']}>{q['full']}"] = {"repl": "WFBitMapS", "pdisk": "Consistent"}
    sim_update(lab, f)
    return q, (f"{p['full']} shows replication:WFBitMapS peer-disk:Consistent for {q['full']}, "
               f"whose own view is clean (fix: disconnect/connect on {q['full']})"), {"primary": p["full"]}


def inj_drbd_standalone(lab, target):
    p = ldap_node(lab) or site.first_hive(lab)
    others = [h for h in site.hives_of(lab) if h["full"] != p["full"]]
    q = site.by_name(lab, target) if target else others[0]

    def f(res, now):
        res["want"][f"{p['full']}>{q['full']}"] = False
        res["want"][f"{q['full']}>{p['full']}"] = False
        res["split_brain"][sim_key(p, q)] = True
    sim_update(lab, f)
    return q, (f"split brain: {p['full']} and {q['full']} see each other StandAlone "
               f"(victim {q['full']}: disconnect; secondary; connect --discard-my-data; "
               f"then connect on {p['full']})"), {"primary": p["full"]}


def sim_key(a, b):
    return "|".join(sorted([a["full"], b["full"]]))


def inj_drbd_peer_down(lab, target):
    p = ldap_node(lab)
    if target:
        q = site.by_name(lab, target)
    else:
        cand = [h for h in site.hives_of(lab) if not p or h["full"] != p["full"]]
        q = cand[-1]
    # `drbdadm down` as an operator would; stopping the unit would also stop docker.service,
    # which requires it (as on a real hive)
    sx(q, f"drbdadm down {lab['volume']}")
    return q, (f"{lab['volume']} is down on {q['full']} (drbdadm down); "
               "peers show connection:Connecting"), {}


def inj_xfs_corrupt(lab, target):
    stop_service(lab)
    util.run(["dd", "if=/dev/zero", f"of={lab['drbd_loop']}", "bs=512", "count=1",
              "conv=notrunc,fsync", "status=none"])
    util.run(["blockdev", "--flushbufs", lab["drbd_loop"]], check=False)
    scale(lab, 1)
    return None, (f"xfs superblock of /dev/drbd{lab['minor']} zeroed; service {lab['service']} "
                  "restarts with 'failed to mount local volume: ... invalid argument'"), {}


def heal_xfs_corrupt(lab, s, rec):
    r = util.run(["xfs_db", "-r", "-c", "sb 0", "-c", "p magicnum", lab["drbd_loop"]], check=False)
    if "0x58465342" not in r.stdout:
        stop_service(lab)
        util.run(["xfs_repair", lab["drbd_loop"]], check=False, timeout=300)
    scale(lab, 1)


def inj_node_down(lab, target):
    s = _default(lab, target, "last-hive")
    if s["short"] == site.first_hive(lab)["short"] and not target:
        s = site.hives_of(lab)[-1]
    util.docker("kill", s["short"])
    return s, f"{s['full']} is gone (container killed); docker node ls shows it Down in ~25 s", {}


def heal_node_down(lab, s, rec):
    st = util.docker("inspect", "-f", "{{.State.Running}}", s["short"], check=False).stdout.strip()
    if st != "true":
        util.docker("start", s["short"])
    site.wait_booted(s, 120)


def inj_host_unreachable(lab, target):
    s = _default(lab, target, "last-hive")
    sx(s, "iptables -I INPUT -p tcp --dport 22 -j DROP -m comment --comment hh-lab-unreachable")
    return s, f"{s['full']} drops SSH (tcp/22): connections time out", {}


def heal_host_unreachable(lab, s, rec):
    sx(s, "while iptables -D INPUT -p tcp --dport 22 -j DROP -m comment --comment "
          "hh-lab-unreachable 2>/dev/null; do :; done", check=False)


def inj_hostkey_changed(lab, target):
    s = _default(lab, target, "second-hive")
    os.makedirs(os.path.join(RUN_DIR, "faults"), exist_ok=True)
    backup = os.path.join(RUN_DIR, "faults", f"{s['short']}-hostkeys.tar")
    if not os.path.exists(backup):
        data = subprocess.run(["docker", "-H", "unix://" + util.SOCK, "exec", s["short"], "sh", "-c",
                               "tar -C /etc/ssh -cf - $(cd /etc/ssh && ls ssh_host_*)"],
                              stdout=subprocess.PIPE, check=True).stdout
        with open(backup, "wb") as f:
            f.write(data)
    sx(s, "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && systemctl restart ssh")
    return s, f"{s['full']} has new SSH host keys (server rebuilt): Host key verification failed", \
        {"backup": backup}


def heal_hostkey_changed(lab, s, rec):
    backup = rec.get("backup")
    if backup and os.path.exists(backup):
        with open(backup, "rb") as f:
            data = f.read()
        subprocess.run(["docker", "-H", "unix://" + util.SOCK, "exec", "-i", s["short"], "sh", "-c",
                        "rm -f /etc/ssh/ssh_host_* && tar -C /etc/ssh -xf - && systemctl restart ssh"],
                       input=data, check=True, stdout=subprocess.DEVNULL)
        os.remove(backup)
    site.write_known_hosts(lab)


def inj_registry_bloat(lab, target):
    s = site.repo_of(lab)
    size, used = _df(s, "/var/lib/docker")
    need = int(size * 0.62) - used
    chunks = max(1, need // (50 * 2**20) + 1)
    script = (
        "set -e; base=/var/lib/docker/volumes/registry_regdata/_data/docker/registry/v2/blobs/sha256; "
        f"for i in $(seq 1 {chunks}); do "
        "  dd if=/dev/urandom of=/tmp/hh-blob bs=1M count=50 status=none; "
        "  d=$(sha256sum /tmp/hh-blob | awk '{print $1}'); "
        "  mkdir -p $base/${d:0:2}/$d && mv /tmp/hh-blob $base/${d:0:2}/$d/data; echo $d; "
        "done")
    digests = sx(s, "bash -s", input=script).stdout.split()
    r = sx(s, "du -s -B M /var/lib/docker/volumes/registry_regdata | cut -f1")
    size, used = _df(s, "/var/lib/docker")
    return s, (f"registry_regdata on {s['full']} is {r.stdout.strip()} "
               f"({100 * used // size}% of /var/lib/docker), unreferenced blobs"), {"digests": digests}


def heal_registry_bloat(lab, s, rec):
    base = "/var/lib/docker/volumes/registry_regdata/_data/docker/registry/v2/blobs/sha256"
    for d in rec.get("digests", []):
        sx(s, f"rm -rf {base}/{d[:2]}/{d}", check=False)
    # the runbook's fix wipes the registry (compose down -v): make sure it runs and has the image
    st = sx(s, "docker inspect -f '{{.State.Running}}' registry", check=False).stdout.strip()
    if st != "true":
        sx(s, "docker start registry >/dev/null 2>&1 || true", check=False)
    cat = sx(s, "curl -s http://127.0.0.1:5000/v2/_catalog", check=False).stdout
    if "image_ldap" not in cat:
        try:
            site.push_image(lab)
        except Exception as e:  # noqa: BLE001
            log(f"re-push of image_ldap failed: {e}")


def inj_volume_full(lab, target):
    p = ldap_node(lab)
    if not p:
        raise SystemExit("service ldap is not running; cannot fill its volume")
    c = task_container(p, lab)
    out = sx(p, f"docker exec {c} df -k /data | tail -1").stdout.split()
    size_k, used_k = int(out[1]), int(out[2])
    need_m = max(1, (int(size_k * 0.93) - used_k) // 1024)
    sx(p, f"docker exec {c} dd if=/dev/zero of=/data/hh-lab-fill bs=1M count={need_m} "
          "2>/dev/null; true")
    out = sx(p, f"docker exec {c} df -k /data | tail -1").stdout.split()
    return p, (f"volume {lab['volume']} (/dev/drbd{lab['minor']}) is {out[4]} full "
               f"(service {lab['service']} on {p['short']})"), {}


def heal_volume_full(lab, s, rec):
    def gone():
        p = ldap_node(lab)
        if not p:
            return False
        c = task_container(p, lab)
        sx(p, f"docker exec {c} rm -f /data/hh-lab-fill")
        return True
    try:
        util.wait_for(gone, 60, what="the ldap task to remove the fill file")
    except TimeoutError:
        # service not running: remove the file through the device itself
        mnt = "/mnt/hh-heal"
        fh = site.first_hive(lab)
        sx(fh, f"mkdir -p {mnt} && mount /dev/drbd{lab['minor']} {mnt} && rm -f {mnt}/hh-lab-fill; "
               f"umount {mnt}", check=False)


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


# ---------------------------------------------------------------- beyond the runbook
BACKUP_DIR = "/home/admin/backup"
REG_LINK = f"{BACKUP_DIR}/backup-hive-registry-latest.tar.gz"
SPREAD_SVC = "spread-demo"
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


def inj_chronyd_stopped(lab, target):
    s = _default(lab, target, "second-hive")
    sx(s, "systemctl stop chrony.service")
    return s, f"chrony.service (chronyd) stopped on {s['full']}", {}


def heal_chronyd_stopped(lab, s, rec):
    sx(s, "systemctl start chrony.service", check=False)


def _registry_answers(s):
    return sx(s, "curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:5000/v2/",
              check=False).stdout.strip() == "200"


def inj_registry_down(lab, target):
    s = site.repo_of(lab)
    sx(s, "docker stop registry >/dev/null")
    return s, f"container registry stopped on {s['full']}: nothing listens on :5000", {}


def heal_registry_down(lab, s, rec):
    sx(s, "docker start registry >/dev/null", check=False)
    util.wait_for(lambda: _registry_answers(s), 60, what="the registry to answer /v2/")


def _spread_nodes(lab):
    r = sx(_alive_hive(lab), f"docker service ps {SPREAD_SVC} --filter desired-state=running "
                            "--format '{{.Node}} {{.CurrentState}}'", check=False)
    rows = [x.split() for x in r.stdout.splitlines() if x.strip()]
    return [x[0] for x in rows if len(x) > 1 and x[1] == "Running"]


def inj_spread(lab, target):
    s = _default(lab, target, "second-hive")
    h = _alive_hive(lab)
    c = f"node.hostname=={s['short']}"
    # placed while pinned to one node (as when the other nodes were down), then the pin is
    # relaxed: swarm keeps running tasks where they are (a constraint-only change whose node
    # still satisfies it restarts nothing), so both replicas stay on one node
    sx(h, f"docker service create -d --name {SPREAD_SVC} --replicas 2 --no-resolve-image "
          f"--constraint '{c}' hive-lab/busybox:latest sleep 1000000 >/dev/null")
    util.wait_for(lambda: _spread_nodes(lab) == [s["short"]] * 2, 90,
                  what=f"2 {SPREAD_SVC} tasks running on {s['short']}")
    sx(h, f"docker service update -d --constraint-rm '{c}' {SPREAD_SVC} >/dev/null")
    time.sleep(5)
    nodes = _spread_nodes(lab)
    if nodes != [s["short"]] * 2:
        raise RuntimeError(f"{SPREAD_SVC} tasks moved when the constraint was removed: {nodes}")
    return s, (f"service {SPREAD_SVC} (2 replicas, no constraint left) runs both tasks on "
               f"{s['short']}"), {}


def heal_spread(lab, s, rec):
    h = _alive_hive(lab)
    sx(h, f"docker service rm {SPREAD_SVC} >/dev/null 2>&1; true", check=False)
    util.wait_for(lambda: not sx(h, f"docker service ls -q -f name={SPREAD_SVC}",
                                 check=False).stdout.strip(), 30, what=f"{SPREAD_SVC} removed")


DROPIN = "/run/systemd/system/drbd-resource@{vol}.service.d/hh-lab.conf"


def inj_drbd_unit_failed(lab, target):
    s = _default(lab, target, "second-hive")
    vol = lab["volume"]
    unit = f"drbd-resource@{vol}.service"
    d = DROPIN.format(vol=vol)
    # the unit inactive while the resource stays up and docker keeps running: its ExecStop
    # (drbdadm down) is masked for the stop, and the stop does not propagate to docker.service
    sx(s, f"mkdir -p {os.path.dirname(d)} && printf '[Service]\\nExecStop=\\n' > {d} && "
          f"systemctl daemon-reload && systemctl stop --job-mode=ignore-dependencies {unit}; "
          f"rc=$?; rm -f {d}; systemctl daemon-reload; exit $rc")
    state = sx(s, f"systemctl is-active {unit}; drbdadm role {vol}; systemctl is-active docker",
               check=False).stdout.split()
    return s, (f"{unit} on {s['full']} is {state[0] if state else '?'} while {vol} stays up "
               f"and docker runs ({' '.join(state[1:])})"), {}


def heal_drbd_unit_failed(lab, s, rec):
    vol = lab["volume"]
    sx(s, f"rm -f {DROPIN.format(vol=vol)}; systemctl daemon-reload; "
          f"systemctl reset-failed drbd-resource@{vol}.service 2>/dev/null; "
          f"systemctl start drbd-resource@{vol}.service", check=False)


def _persistents():
    return os.path.join(util.SITE_DIR, ".hive", "persistents.yml")


def inj_no_format_left(lab, target):
    import yaml
    path = _persistents()
    with open(path) as f:
        text = f.read()
    doc = yaml.safe_load(text) or {}
    doc.setdefault("no_format", {})["global"] = True
    with open(path, "w") as f:
        yaml.safe_dump(doc, f, default_flow_style=False, sort_keys=False)
    return None, f"no_format: {{global: true}} left in {path} after a recovery", {"orig": text}


def heal_no_format_left(lab, s, rec):
    with open(_persistents(), "w") as f:
        f.write(rec["orig"])


# ---------------------------------------------------------------- services and swarm states
UNSCHEDULABLE_SVC = "unschedulable-demo"
UNSCHEDULABLE_LABEL = "hh-lab-nonexistent"


def _unschedulable_pending(lab):
    r = sx(_alive_hive(lab), f"docker service ps {UNSCHEDULABLE_SVC} --no-trunc "
                            "--format '{{.CurrentState}}|{{.Error}}'", check=False)
    return any(x.startswith("Pending") and "no suitable node" in x for x in r.stdout.splitlines())


def inj_service_unschedulable(lab, target):
    h = _alive_hive(lab)
    # a constraint no node satisfies (a label nobody set): the task stays Pending for ever
    sx(h, f"docker service create -d --name {UNSCHEDULABLE_SVC} --replicas 1 --no-resolve-image "
          f"--constraint 'node.labels.{UNSCHEDULABLE_LABEL}==1' hive-lab/busybox:latest "
          "sleep 1000000 >/dev/null")
    util.wait_for(lambda: _unschedulable_pending(lab), 60,
                  what=f"{UNSCHEDULABLE_SVC}'s task Pending with 'no suitable node'")
    return None, (f"service {UNSCHEDULABLE_SVC} (constraint node.labels.{UNSCHEDULABLE_LABEL}==1): "
                  "0/1, its task Pending: no suitable node"), {}


def heal_service_unschedulable(lab, s, rec):
    h = _alive_hive(lab)
    sx(h, f"docker service rm {UNSCHEDULABLE_SVC} >/dev/null 2>&1; true", check=False)
    util.wait_for(lambda: not sx(h, f"docker service ls -q -f name={UNSCHEDULABLE_SVC}",
                                 check=False).stdout.strip(), 30, what=f"{UNSCHEDULABLE_SVC} removed")


def _node_entries(lab, short, via):
    """(ID, Status) of every `docker node ls` entry with hostname `short`, as `via` sees them."""
    r = sx(via, "docker node ls --format '{{.ID}} {{.Hostname}} {{.Status}}'", check=False)
    rows = [x.split() for x in r.stdout.splitlines()]
    return [(x[0], x[2]) for x in rows if len(x) == 3 and x[1] == short]


def _rebuild_target(lab, target):
    if target:
        return site.by_name(lab, target)
    # neither first_hive (the swarm's labels and deploys go there) nor where ldap runs
    busy = {site.first_hive(lab)["short"], site.service_running(lab)}
    return next(h for h in reversed(site.hives_of(lab)) if h["short"] not in busy)


def inj_node_rebuilt_stale(lab, target):
    s = _rebuild_target(lab, target)
    via = next(h for h in site.hives_of(lab) if h["short"] != s["short"])
    old = sx(s, "docker info -f '{{.Swarm.NodeID}}'").stdout.strip()
    token = sx(via, "docker swarm join-token -q manager").stdout.strip()
    image_ref = util.docker("inspect", "-f", "{{.Config.Image}}", s["short"]).stdout.strip()
    with open(os.path.join(site.ctx_dir(lab), "id_rsa.pub")) as f:
        pubkey = f.read()
    # the server destroyed and made again under the same name (runbook 7.9's rebuild), but
    # nobody ran `docker node rm` for the old one; its docker disk comes back without swarm state
    util.docker("rm", "-f", s["short"])
    util.run(["rm", "-rf", os.path.join(util.MNT_DIR, s["short"], "swarm")])
    site.create_server(lab, s, image_ref, pubkey)
    site.wait_booted(s, 120)
    site.write_known_hosts(lab)        # its new host keys, as `hive build-infra` would re-scan
    sx(s, f"docker swarm join --advertise-addr {s['ip']} --token {token} {via['ip']}:2377 >/dev/null",
       timeout=60)
    new = sx(s, "docker info -f '{{.Swarm.NodeID}}'").stdout.strip()
    # hive's labels again, by ID: the hostname is ambiguous while the old entry is there
    labels = ["hives", "servers", "hosts", lab["stage"]]
    sx(via, "docker node update " + " ".join(f"--label-add {x}=true" for x in labels) + f" {new} >/dev/null")
    util.wait_for(lambda: sorted(_node_entries(lab, s["short"], via)) == sorted([(old, "Down"), (new, "Ready")]),
                  90, interval=2, what=f"{s['short']}: old node {old} Down beside new {new} Ready")
    return s, (f"{s['full']} rebuilt and joined again without `docker node rm`: old node {old} "
               f"Down (still a manager), new node {new} Ready"), {"old_id": old, "new_id": new}


def heal_node_rebuilt_stale(lab, s, rec):
    old = rec.get("old_id", "")
    via = _alive_hive(lab)
    if any(i == old for i, _ in _node_entries(lab, s["short"], via)):
        sx(via, f"docker node demote {old} >/dev/null 2>&1; docker node rm {old} >/dev/null", check=False)
    util.wait_for(lambda: all(i != old for i, _ in _node_entries(lab, s["short"], via)), 60,
                  what=f"old node {old} removed")


# a template unit whose instance fails once, then starts: only a restart by its real (escaped)
# name turns it green; the name is the one systemd gives /dev/disk/by-uuid/1234
ESCAPED_TEMPLATE = "hh-lab-esc@.service"
ESCAPED_UNIT = r"hh-lab-esc@dev-disk-by\x2duuid-1234.service"
ESCAPED_ARMED = "/run/hh-lab-esc.armed"


def inj_units_escaped_name(lab, target):
    s = _default(lab, target, "second-hive")
    unit = ("[Unit]\nDescription=hive lab: instance %I fails once, then starts\n\n[Service]\n"
            "Type=oneshot\nRemainAfterExit=yes\n"
            f"ExecStart=/bin/sh -c 'if [ -e {ESCAPED_ARMED} ]; then rm -f {ESCAPED_ARMED}; exit 1; fi'\n")
    sx(s, f"cat > /etc/systemd/system/{ESCAPED_TEMPLATE} && systemctl daemon-reload && "
          f"touch {ESCAPED_ARMED} && {{ systemctl start {shlex.quote(ESCAPED_UNIT)}; true; }}", input=unit)
    state = sx(s, f"systemctl is-failed {shlex.quote(ESCAPED_UNIT)}", check=False).stdout.strip()
    return s, f"{ESCAPED_UNIT} is {state} on {s['full']} (starts when restarted by that exact name)", {}


def heal_units_escaped_name(lab, s, rec):
    sx(s, f"systemctl stop 'hh-lab-esc@*.service' 2>/dev/null; systemctl reset-failed 'hh-lab-esc@*.service' "
          f"2>/dev/null; rm -f /etc/systemd/system/{ESCAPED_TEMPLATE} {ESCAPED_ARMED}; systemctl daemon-reload",
       check=False)


HOSTILE_UNIT = "foo$(touch /tmp/x).service"
HOSTILE_MARK = "/tmp/x"
HOSTILE_SVC = "hh-lab-hostile"
# what the service's task error will quote: the xfs remedy used to take its device from here
HOSTILE_ERROR = ("failed to mount local volume: mount /dev/drbd1$(touch${IFS}/tmp/x):"
                 "/var/lib/docker/volumes/ldap_data/_data: invalid argument")
SYSTEMCTL_STUB = "/usr/local/bin/systemctl"


def _stub_systemctl(unit):
    """A systemctl earlier in PATH (also sudo's secure_path) that lists one failed unit named
    `unit` and runs the real one for everything else."""
    row = json.dumps([{"unit": unit, "load": "loaded", "active": "failed", "sub": "failed",
                       "description": "hive lab: a hostile unit name"}])
    return ("#!/bin/sh\n# hive lab (fault hostile-names): lists a failed unit with a hostile name\n"
            'case " $* " in *" list-units "*)\n'
            '  case " $* " in *" --failed "*|*" --state="*failed*)\n'
            '    case " $* " in\n'
            f'      *" -o json "*) printf "%s\\n" {shlex.quote(row)} ;;\n'
            f'      *) printf "%s\\n" {shlex.quote(unit + " loaded failed failed hostile")} ;;\n'
            "    esac\n    exit 0 ;;\n"
            "  esac ;;\n"
            "esac\n"
            'exec /usr/bin/systemctl "$@"\n')


def inj_hostile_names(lab, target):
    s = _default(lab, target, "second-hive")
    for srv in lab["servers"]:
        sx(srv, f"rm -f {HOSTILE_MARK}", check=False)
    sx(s, f"cat > {SYSTEMCTL_STUB} && chmod 755 {SYSTEMCTL_STUB}", input=_stub_systemctl(HOSTILE_UNIT))
    # the service's command is the crafted text: docker quotes it in the task error when the
    # exec fails, again and again (a restart loop)
    sx(_alive_hive(lab), f"docker service create -d --name {HOSTILE_SVC} --no-resolve-image "
                         f"--restart-delay 2s hive-lab/busybox:latest {shlex.quote(HOSTILE_ERROR)} >/dev/null")
    return s, (f"{s['full']} lists the failed unit {HOSTILE_UNIT}; service {HOSTILE_SVC} fails with "
               f"a task error quoting {HOSTILE_ERROR!r}"), {}


def heal_hostile_names(lab, s, rec):
    h = _alive_hive(lab)
    sx(h, f"docker service rm {HOSTILE_SVC} >/dev/null 2>&1; true", check=False)
    sx(s, f"rm -f {SYSTEMCTL_STUB}", check=False)
    for srv in lab["servers"]:
        sx(srv, f"rm -f {HOSTILE_MARK}", check=False)
    util.wait_for(lambda: not sx(h, f"docker service ls -q -f name={HOSTILE_SVC}",
                                 check=False).stdout.strip(), 30, what=f"{HOSTILE_SVC} removed")


# ---------------------------------------------------------------- zabbix parity
CRASHLOOP_UNIT = "hh-lab-crashloop.service"
ERROR_MARK = "hh-lab-error"
INODE_HOG = "hh-lab-inode-hog"
CPU_SVC, MEM_SVC = "hh-lab-cpu", "hh-lab-mem"


def inj_unit_crashloop(lab, target):
    s = _default(lab, target, "second-hive")
    unit = ("[Unit]\nDescription=hive lab: a host service that crashes and is restarted\n"
            "StartLimitIntervalSec=0\n\n[Service]\nType=simple\n"
            "ExecStart=/bin/sh -c 'sleep 2; exit 1'\nRestart=always\nRestartSec=1\n\n"
            "[Install]\nWantedBy=multi-user.target\n")
    sx(s, f"cat > /etc/systemd/system/{CRASHLOOP_UNIT} && systemctl daemon-reload && "
          f"systemctl enable --now {CRASHLOOP_UNIT} >/dev/null 2>&1", input=unit)
    util.wait_for(lambda: _nrestarts(s) >= 2, 60, interval=1,
                  what=f"{CRASHLOOP_UNIT} restarted twice by systemd")
    return s, f"{CRASHLOOP_UNIT} crashes every 2 s and systemd restarts it on {s['full']}", {}


def _nrestarts(s):
    out = sx(s, f"systemctl show -p NRestarts --value {CRASHLOOP_UNIT}", check=False).stdout.strip()
    return int(out) if out.isdigit() else 0


def heal_unit_crashloop(lab, s, rec):
    sx(s, f"systemctl disable --now {CRASHLOOP_UNIT} >/dev/null 2>&1; "
          f"rm -f /etc/systemd/system/{CRASHLOOP_UNIT}; systemctl daemon-reload; "
          f"systemctl reset-failed {CRASHLOOP_UNIT} 2>/dev/null; true", check=False)


def inj_service_error_lines(lab, target):
    """Error lines through the path a service's log takes: syslog over UDP to the repository's
    rsyslog, which copies the lines containing ERROR to /var/log/service-error.log."""
    s = site.repo_of(lab)
    sx(s, "for i in 1 2 3; do logger -d -n 127.0.0.1 -P 10514 -t ldap "
          f"\"ERROR: {ERROR_MARK} line $i: cannot bind to ldap backend\"; done")
    util.wait_for(lambda: sx(s, f"grep -c {ERROR_MARK} /var/log/service-error.log",
                             check=False).stdout.strip() == "3",
                  30, interval=1, what="3 lines in /var/log/service-error.log")
    return s, f"3 ERROR lines of ldap in /var/log/service-error.log on {s['full']}", {}


def heal_service_error_lines(lab, s, rec):
    sx(s, f"sed -i '/{ERROR_MARK}/d' /var/log/service-error.log /var/log/services/ldap.log "
          "2>/dev/null; f=/var/log/service-error.log; [ -s $f ] || rm -f $f; true", check=False)


def _inodes(s, path):
    out = sx(s, f"df -P -i {path} | tail -1").stdout.split()
    return int(out[1]), int(out[2])


def inj_inode_hog(lab, target):
    """A stopped container whose writable layer holds 100000 empty files: docker's filesystem
    loses that many inodes, and `docker system prune -f` gives them back."""
    s = _default(lab, target, "last-hive")
    before = _inodes(s, "/var/lib/docker")
    sx(s, f"docker run --name {INODE_HOG} hive-lab/busybox:latest sh -c "
          "'mkdir /many && cd /many && i=0; while [ $i -lt 100000 ]; do : > f$i; i=$((i+1)); done' "
          ">/dev/null", timeout=600)
    after = _inodes(s, "/var/lib/docker")
    return s, (f"{s['full']}:/var/lib/docker inodes used {before[1]} -> {after[1]} of {after[0]} "
               f"(a stopped container with 100000 small files)"), {}


def heal_inode_hog(lab, s, rec):
    sx(s, f"docker rm -f {INODE_HOG} >/dev/null 2>&1; true", check=False)


def _svc_running(lab, name):
    r = sx(_alive_hive(lab), f"docker service ps {name} --filter desired-state=running "
                             "--format '{{.CurrentState}}'", check=False)
    return r.stdout.strip().startswith("Running")


def _make_service(lab, name, args):
    sx(_alive_hive(lab), f"docker service create -d --name {name} --no-resolve-image {args} >/dev/null")
    util.wait_for(lambda: _svc_running(lab, name), 90, interval=2, what=f"{name} running")


def _rm_service(lab, name):
    h = _alive_hive(lab)
    sx(h, f"docker service rm {name} >/dev/null 2>&1; true", check=False)
    util.wait_for(lambda: not sx(h, f"docker service ls -q -f name={name}",
                                 check=False).stdout.strip(), 30, what=f"{name} removed")


def inj_cpu_hog(lab, target):
    """One busy loop: up to 100 % of one core (docker stats' CPU %), less on a busy machine."""
    _make_service(lab, CPU_SVC, "hive-lab/busybox:latest sh -c 'while :; do :; done'")
    return None, f"service {CPU_SVC}: a busy loop on one core", {"service": CPU_SVC}


def heal_cpu_hog(lab, s, rec):
    _rm_service(lab, CPU_SVC)


def inj_mem_hog(lab, target):
    """48 MiB written to a tmpfs (charged to the container's memory) under a 64 MiB limit:
    docker stats' memory % is about 75 % of the limit."""
    _make_service(lab, MEM_SVC, "--limit-memory 64M --mount type=tmpfs,destination=/hog "
                                "hive-lab/busybox:latest sh -c "
                                "'dd if=/dev/zero of=/hog/fill bs=1M count=48 2>/dev/null; "
                                "exec sleep 1000000'")
    return None, f"service {MEM_SVC}: 48 MiB held in tmpfs under a 64 MiB memory limit", {"service": MEM_SVC}


def heal_mem_hog(lab, s, rec):
    _rm_service(lab, MEM_SVC)


FAULTS = {
    "failed-unit": (inj_failed_unit, heal_failed_unit,
                    "a real unit hh-lab-broken.service (ExecStart=/bin/false) failed [s-hive1]"),
    "leftover-drbd-unit": (inj_leftover_drbd_unit, heal_leftover_drbd_unit,
                           "drbd-resource@old_data.service of a deleted volume failed [s-hive1]"),
    "disk-full": (inj_disk_full, heal_disk_full,
                  "/var/lib/docker > 80 %: dangling image + stopped container [last hive]"),
    "drbd-outdated": (inj_drbd_outdated, heal_drbd,
                      "service scaled to 0, every hive Secondary/Outdated"),
    "drbd-one-sided": (inj_drbd_one_sided, heal_drbd,
                       "Primary shows WFBitMapS/Consistent for a peer whose view is clean [peer]"),
    "drbd-standalone": (inj_drbd_standalone, heal_drbd,
                        "split brain: Primary and a peer see each other StandAlone [peer]"),
    "drbd-peer-down": (inj_drbd_peer_down, heal_drbd,
                       "resource down on one hive (unit stopped); peers see Connecting"),
    "volume-full": (inj_volume_full, heal_volume_full, "the DRBD volume ldap_data above 90 %"),
    "xfs-corrupt": (inj_xfs_corrupt, heal_xfs_corrupt,
                    "zeroed xfs superblock; ldap loops on 'failed to mount local volume'"),
    "node-down": (inj_node_down, heal_node_down, "a hive container killed [last hive]"),
    "registry-bloat": (inj_registry_bloat, heal_registry_bloat,
                       "registry_regdata above 50 % of the repository's /var/lib/docker"),
    "log-bloat": (inj_log_bloat, heal_log_bloat, "/var/log/services/ldap.log grows by 300 MiB"),
    "host-unreachable": (inj_host_unreachable, heal_host_unreachable,
                         "SSH to a server times out (tcp/22 dropped) [last hive]"),
    "hostkey-changed": (inj_hostkey_changed, heal_hostkey_changed,
                        "a server's SSH host keys regenerated [s-hive1]"),
    "backup-stale": (inj_backup_stale, heal_backup_stale,
                     "the file behind backup-hive-registry-latest.tar.gz dated 30 h ago [repository]"),
    "backup-failed": (inj_backup_failed, heal_backup_failed,
                      "last backup.service run printed `FAIL backup for hive-registry` [repository]"),
    "backup-timer-stopped": (inj_backup_timer_stopped, heal_backup_timer_stopped,
                             "backup.timer stopped [repository]"),
    "chronyd-stopped": (inj_chronyd_stopped, heal_chronyd_stopped,
                        "chrony.service (chronyd) stopped [s-hive1]"),
    "registry-down": (inj_registry_down, heal_registry_down,
                      "the registry container stopped: /v2/ refused [repository]"),
    "spread": (inj_spread, heal_spread,
               "service spread-demo, 2 replicas both on one node, others eligible [s-hive1]"),
    "drbd-unit-failed": (inj_drbd_unit_failed, heal_drbd_unit_failed,
                         "drbd-resource@ldap_data.service inactive, resource still up [s-hive1]"),
    "no-format-left": (inj_no_format_left, heal_no_format_left,
                       "no_format: {global: true} left in .hive/persistents.yml"),
    "service-unschedulable": (inj_service_unschedulable, heal_service_unschedulable,
                              f"service {UNSCHEDULABLE_SVC} whose constraint no node satisfies: "
                              "its task Pending for ever"),
    "node-rebuilt-stale": (inj_node_rebuilt_stale, heal_node_rebuilt_stale,
                           "a hive destroyed, recreated under its name and joined again without "
                           "`docker node rm`: its old node entry stays Down [last hive not running ldap]"),
    "units-escaped-name": (inj_units_escaped_name, heal_units_escaped_name,
                           r"hh-lab-esc@dev-disk-by\x2duuid-1234.service failed once (escaped name) [s-hive1]"),
    "hostile-names": (inj_hostile_names, heal_hostile_names,
                      "a failed unit `foo$(touch /tmp/x).service` listed and a service whose task error "
                      "quotes a crafted mount error [s-hive1]"),
    "unit-crashloop": (inj_unit_crashloop, heal_unit_crashloop,
                       "hh-lab-crashloop.service crashes every 2 s, Restart=always [s-hive1]"),
    "service-error-lines": (inj_service_error_lines, heal_service_error_lines,
                            "3 ERROR lines of ldap in /var/log/service-error.log [repository]"),
    "inode-hog": (inj_inode_hog, heal_inode_hog,
                  "a stopped container with 100000 small files on /var/lib/docker [last hive]"),
    "cpu-hog": (inj_cpu_hog, heal_cpu_hog, "service hh-lab-cpu: a busy loop on one core"),
    "mem-hog": (inj_mem_hog, heal_mem_hog,
                "service hh-lab-mem: 48 MiB of tmpfs under a 64 MiB memory limit"),
}


def inject(fault, target=None):
    if fault not in FAULTS:
        raise SystemExit(f"unknown fault {fault!r}; one of: {', '.join(FAULTS)}")
    lab = _lab()
    s, desc, extra = FAULTS[fault][0](lab, target)
    recs = _records()
    rec = {"fault": fault, "target": s["full"] if s else lab["volume"], "time": time.time(),
           "desc": desc}
    rec.update(extra)
    recs.append(rec)
    _save(recs)
    return f"{fault}: {desc}"


def heal():
    lab = _lab()
    t0 = time.time()
    recs = _records()
    done = []
    for rec in reversed(recs):
        s = None
        try:
            s = site.by_name(lab, rec["target"])
        except SystemExit:
            pass
        FAULTS[rec["fault"]][1](lab, s, rec)
        done.append(rec["fault"])
        _save([r for r in recs if r["fault"] not in done or r is not rec])
    _save([])
    # generic: every server running and reachable, units clean, swarm, service, DRBD
    for s in lab["servers"]:
        st = util.docker("inspect", "-f", "{{.State.Running}}", s["short"], check=False).stdout.strip()
        if st != "true":
            util.docker("start", s["short"])
            site.wait_booted(s, 120)
    util.wait_for(lambda: site.swarm_healthy(lab), 120, interval=2, what="all swarm nodes Ready")
    if not site.drbd_healthy(lab):
        drbd_reset(lab)
    scale(lab, 1)
    util.wait_for(lambda: site.service_running(lab), 120, interval=2, what="service ldap running")
    util.wait_for(lambda: site.drbd_healthy(lab), 60, interval=1, what="DRBD UpToDate everywhere")
    for s in lab["servers"]:
        sx(s, "systemctl reset-failed 2>/dev/null; true", check=False)
        util.wait_for(lambda: site.ssh(lab, s, "sudo -n true", check=False, timeout=15).returncode == 0,
                      60, what=f"ssh to {s['full']}")
    return (f"healed {', '.join(reversed(done)) or 'nothing'} in {time.time() - t0:.0f} s; "
            "site healthy")
