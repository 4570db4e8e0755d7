"""Bring the hive lab up and down: servers, swarm, DRBD volume, registry, project directory."""
import io
import os
import secrets
import shutil
import string
import subprocess
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor

import yaml

from . import engine, image, util
from .util import DISK_DIR, DRBD_DIR, MNT_DIR, RUN_DIR, SITE_DIR, STATE_FILE, VAR_DIR, log

NETWORK = "hivelab"
BRIDGE = "hivelab0"
SUBNET_PREFIX = "10.99.213"
CIDR = f"{SUBNET_PREFIX}.0/24"
VOLUME = "ldap_data"
SERVICE = "ldap"
DRBD_MINOR = 1
DRBD_SIZE = "320M"           # xfs needs >= 300 MiB
FILES = os.path.join(util.LAB_DIR, "files")
STAGE_PREFIX = {"private": "p-", "staging": "s-", "production": ""}
ADMIN_UID = 1000
DOCKER_GID = 103


# ---------------------------------------------------------------- the plan of a site
def plan(hives=3, separate=True, name="lab", stage="staging", disk_size="1G"):
    prefix = STAGE_PREFIX.get(stage, stage[:1] + "-")
    n_servers = hives + 1 if separate else hives
    servers = []
    for i in range(n_servers):
        short = f"{prefix}hive{i}"
        servers.append({
            "idx": i, "short": short, "full": f"{short}.{name}",
            "ip": f"{SUBNET_PREFIX}.{10 + i}",
            "hive": i < hives, "repository": i == n_servers - 1,
        })
    return {"hives": hives, "separate": separate, "name": name, "stage": stage,
            "disk_size": disk_size, "servers": servers, "first_hive": 0,
            "image_key": image.recipe_key(), "volume": VOLUME, "service": SERVICE,
            "minor": DRBD_MINOR}


def load():
    return util.load_json(STATE_FILE)


def hives_of(lab):
    return [s for s in lab["servers"] if s["hive"]]


def repo_of(lab):
    return [s for s in lab["servers"] if s["repository"]][0]


def first_hive(lab):
    return hives_of(lab)[lab.get("first_hive", 0)]


def by_name(lab, target):
    for s in lab["servers"]:
        if target in (s["short"], s["full"], s["ip"], str(s["idx"])):
            return s
    raise SystemExit(f"no server named {target!r} in the lab "
                     f"({', '.join(s['full'] for s in lab['servers'])})")


def site_dir(lab):
    """The project directory (the docker lab's, unless the lab's state names its own)."""
    return lab.get("site_dir", SITE_DIR)


def ctx_dir(lab):
    return os.path.join(site_dir(lab), ".hive", lab["stage"])


# ---------------------------------------------------------------- files put into each server
def _tar_add(t, path, data, mode=0o644, uid=0, gid=0):
    if isinstance(data, str):
        data = data.encode()
    ti = tarfile.TarInfo(path.lstrip("/"))
    ti.size = len(data)
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.mtime = int(time.time())
    t.addfile(ti, io.BytesIO(data))


def _tar_link(t, path, target):
    ti = tarfile.TarInfo(path.lstrip("/"))
    ti.type = tarfile.SYMTYPE
    ti.linkname = target
    t.addfile(ti)


def _tar_dir(t, path, mode=0o755, uid=0, gid=0):
    ti = tarfile.TarInfo(path.lstrip("/"))
    ti.type = tarfile.DIRTYPE
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    t.addfile(ti)


def res_file(lab):
    """/etc/drbd.d/<vol>.res as hive-builder's volume.res template writes it."""
    hv = sorted(hives_of(lab), key=lambda s: s["full"])
    port = 7000 + lab["minor"]
    out = [f"resource {lab['volume']} {{",
           "  options { quorum majority; on-no-quorum io-error; }",
           "  disk { disk-flushes; md-flushes; c-plan-ahead 1; c-max-rate 1024000; "
           "c-delay-target 1; c-fill-target 1M; rs-discard-granularity 1048576; }",
           "  net { max-buffers 16000; max-epoch-size 16000; sndbuf-size 1M; }"]
    for i, s in enumerate(hv):
        out += [f"  on {s['full']} {{",
                f"    address {s['ip']}:{port};",
                f"    node-id {i};",
                f"    disk /dev/drbdvg/{lab['volume']};",
                f"    device minor {lab['minor']};",
                "    meta-disk internal;",
                "  }"]
    out += ["  connection-mesh {",
            "    hosts " + " ".join(s["full"] for s in hv) + ";",
            "  }", "}"]
    return "\n".join(out) + "\n"


CHRONY_LOCAL_CONF = "etc/chrony/conf.d/hive-lab.conf"     # Debian's chrony.conf reads conf.d
CHRONY_LOCAL = "local stratum 10\n"


def server_files(lab, s, pubkey):
    repo = repo_of(lab)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        _tar_dir(t, "home/admin/.ssh", 0o700, ADMIN_UID, ADMIN_UID)
        _tar_add(t, "home/admin/.ssh/authorized_keys", pubkey, 0o600, ADMIN_UID, ADMIN_UID)
        daemon = ('{\n  "insecure-registries": ["%s:5000"],\n  "log-driver": "json-file",\n'
                  '  "log-opts": {"max-size": "10m", "max-file": "2"}\n}\n' % repo["full"])
        _tar_add(t, "etc/docker/daemon.json", daemon)
        _tar_add(t, "etc/hive-lab/server", f"{s['full']}\n")
        # the lab has no network time source: each chronyd serves its own clock as reference,
        # as a closed site's time server does, so chronyc tracking reports it synchronised
        _tar_add(t, CHRONY_LOCAL_CONF, CHRONY_LOCAL)
        if s["hive"]:
            _tar_add(t, "etc/drbd-sim/node", s["full"] + "\n")
            _tar_add(t, "usr/lib/drbd-sim/drbdsim.py",
                     open(os.path.join(FILES, "drbdsim.py")).read(), 0o755)
            _tar_link(t, "usr/sbin/drbdadm", "/usr/lib/drbd-sim/drbdsim.py")
            _tar_link(t, "usr/sbin/drbdsetup", "/usr/lib/drbd-sim/drbdsim.py")
            _tar_add(t, "etc/drbd.d/global_common.conf",
                     "global { usage-count no; }\ncommon { }\n")
            _tar_add(t, f"etc/drbd.d/{lab['volume']}.res", res_file(lab))
            for unit in ("drbd-resource@.service", "drbd-sim-agent.service"):
                _tar_add(t, f"etc/systemd/system/{unit}",
                         open(os.path.join(FILES, "units", unit)).read())
            _tar_link(t, "etc/systemd/system/multi-user.target.wants/drbd-sim-agent.service",
                      "/etc/systemd/system/drbd-sim-agent.service")
            _tar_link(t, f"etc/systemd/system/docker.service.requires/"
                         f"drbd-resource@{lab['volume']}.service",
                      "/etc/systemd/system/drbd-resource@.service")
        if s["repository"]:
            _tar_add(t, "etc/rsyslog.d/hive-services.conf",
                     open(os.path.join(FILES, "repo", "hive-services.conf")).read())
            _tar_dir(t, "var/log/services", 0o755)
            _tar_add(t, "usr/bin/hive-backup.sh",
                     open(os.path.join(FILES, "repo", "hive-backup.sh")).read(), 0o755)
            for unit in ("backup.service", "backup.timer"):
                _tar_add(t, f"etc/systemd/system/{unit}",
                         open(os.path.join(FILES, "repo", unit)).read())
            _tar_link(t, "etc/systemd/system/timers.target.wants/backup.timer",
                      "/etc/systemd/system/backup.timer")
            _tar_dir(t, "home/admin/backup", 0o755, ADMIN_UID, ADMIN_UID)
            _tar_dir(t, "home/admin/registry", 0o755, ADMIN_UID, ADMIN_UID)
            _tar_add(t, "home/admin/registry/docker-compose.yml",
                     open(os.path.join(FILES, "repo", "registry-compose.yml")).read(),
                     0o644, ADMIN_UID, ADMIN_UID)
            _tar_dir(t, "var/lib/hive-backup.d", 0o755)
    return buf.getvalue()


# ---------------------------------------------------------------- host resources
def make_disk(s, size):
    os.makedirs(DISK_DIR, exist_ok=True)
    img = os.path.join(DISK_DIR, s["short"] + ".img")
    mnt = os.path.join(MNT_DIR, s["short"])
    os.makedirs(mnt, exist_ok=True)
    util.run(["truncate", "-s", size, img])
    util.run(["mkfs.xfs", "-q", "-f", "-L", "docker", img])
    util.run(["mount", "-o", "loop", img, mnt])


def make_drbd_backing(lab):
    os.makedirs(DRBD_DIR, exist_ok=True)
    img = os.path.join(DRBD_DIR, f"{lab['volume']}.img")
    util.run(["truncate", "-s", DRBD_SIZE, img])
    util.run(["mkfs.xfs", "-q", "-f", img])
    loop = util.run(["losetup", "-f", "--show", img]).stdout.strip()
    st = os.stat(loop)
    return loop, os.major(st.st_rdev), os.minor(st.st_rdev), os.path.getsize(img) // 1024


def drbdsim():
    import importlib.util
    spec = importlib.util.spec_from_file_location("drbdsim", os.path.join(FILES, "drbdsim.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def drbd_state_path():
    return os.path.join(DRBD_DIR, "state.json")


def write_drbd_state(lab, major, minor, size_kib):
    sim = drbdsim()
    hv = hives_of(lab)
    res = sim.new_resource(lab["volume"], lab["minor"], [s["full"] for s in hv],
                           addresses={s["full"]: s["ip"] for s in hv}, size_kib=size_kib,
                           dev_major=major, dev_minor=minor)
    # not up until drbd-resource@<vol> runs `drbdadm adjust` at boot, as on a real hive
    for n in res["local"]:
        res["local"][n]["up"] = False
    with sim.Locked(drbd_state_path()) as st:
        st.clear()
        st["resources"] = {lab["volume"]: res}
    os.chmod(drbd_state_path(), 0o666)


# ---------------------------------------------------------------- containers
def run_args(lab, s, image_ref):
    args = ["run", "-d", "--name", s["short"], "--hostname", s["short"],
            "--network", NETWORK, "--ip", s["ip"],
            "--cap-add=ALL", "--cap-drop=SYS_RESOURCE",
            "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
            "--device-cgroup-rule=a *:* rwm",
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup",
            "-v", f"{os.path.join(MNT_DIR, s['short'])}:/var/lib/docker",
            "-v", "/lib/modules:/lib/modules:ro",
            "--tmpfs", "/run", "--tmpfs", "/run/lock",
            "-e", "container=docker", "--stop-signal", "SIGRTMIN+3",
            "--label", "hive-lab=1"]
    if s["hive"]:
        args += ["-v", f"{DRBD_DIR}:/var/lib/drbd-sim"]
    for o in lab["servers"]:
        args += ["--add-host", f"{o['full']}:{o['ip']}", "--add-host", f"{o['short']}:{o['ip']}"]
    return args + [image_ref, "/sbin/init"]


def create_server(lab, s, image_ref, pubkey):
    args = run_args(lab, s, image_ref)
    args[0] = "create"
    args.remove("-d")
    util.docker(*args)
    p = subprocess.run(["docker", "-H", "unix://" + util.SOCK, "cp", "-a", "-", f"{s['short']}:/"],
                       input=server_files(lab, s, pubkey), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("docker cp failed: " + p.stderr.decode())
    util.docker("start", s["short"])


def booted(s):
    r = util.dexec(s["short"], "systemctl is-system-running 2>/dev/null; "
                   "systemctl is-active ssh docker", check=False, timeout=20)
    lines = r.stdout.split()
    return len(lines) >= 3 and lines[0] in ("running", "degraded") and lines[1:3] == ["active", "active"]


def wait_booted(s, timeout=90):
    util.wait_for(lambda: booted(s), timeout, what=f"{s['full']} to boot (systemd, ssh, docker)")


def host_keys(s):
    r = util.dexec(s["short"], "cat /etc/ssh/ssh_host_ecdsa_key.pub /etc/ssh/ssh_host_ed25519_key.pub "
                   "/etc/ssh/ssh_host_rsa_key.pub")
    return [" ".join(line.split()[:2]) for line in r.stdout.splitlines() if line.strip()]


def write_known_hosts(lab):
    lines = []
    for s in lab["servers"]:
        for k in host_keys(s):
            lines.append(f"{s['ip']} {k}")
    path = os.path.join(ctx_dir(lab), "known_hosts")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o644)


# ---------------------------------------------------------------- project directory
def write_project(lab):
    ctx = ctx_dir(lab)
    root = site_dir(lab)
    os.makedirs(ctx, exist_ok=True)
    os.makedirs(os.path.join(root, "inventory"), exist_ok=True)
    inv = {"plugin": "hive_inventory", "name": lab["name"],
           "stages": {lab["stage"]: {"provider": "prepared", "separate_repository": lab["separate"],
                                     "cidr": lab.get("cidr", CIDR),
                                     "ip_address_list": [s["ip"] for s in lab["servers"]]}}}
    with open(os.path.join(root, "inventory", "hive.yml"), "w") as f:
        yaml.safe_dump(inv, f, default_flow_style=False, sort_keys=False)
    pers = {"stage": {"global": lab["stage"]}, "first_hive": {lab["stage"]: lab["first_hive"]},
            "no_format": {"global": False},
            "drbd_device_map": {lab["stage"]: {lab["volume"]: lab["minor"]}}}
    with open(os.path.join(root, ".hive", "persistents.yml"), "w") as f:
        yaml.safe_dump(pers, f, default_flow_style=False, sort_keys=False)
    key = os.path.join(ctx, "id_rsa")
    if not os.path.exists(key):
        util.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-C", "admin@hive-lab",
                  "-f", key])
    os.chmod(key, 0o600)
    os.chmod(key + ".pub", 0o600)
    pw = os.path.join(ctx, "registry_password")
    if not os.path.exists(pw):
        with open(pw, "w") as f:
            f.write("".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(15)))
        os.chmod(pw, 0o600)
    blocks = []
    for s in lab["servers"]:
        # a server reached through a forwarded port (the QEMU guests) names it
        reach = (f"  HostName {s['ssh_host']}\n  Port {s['ssh_port']}\n" if "ssh_port" in s
                 else f"  HostName {s['ip']}\n")
        blocks.append(f"# BEGIN ANSIBLE MANAGED BLOCK {s['full']}\n"
                      f"Host {s['full']}\n"
                      f"{reach}"
                      f"  UserKnownHostsFile {ctx}/known_hosts\n"
                      f"  StrictHostKeyChecking yes\n"
                      f"  User admin\n"
                      f"  PasswordAuthentication no\n"
                      f"  IdentityFile {ctx}/id_rsa\n"
                      f"  IdentitiesOnly yes\n"
                      f"  LogLevel FATAL\n"
                      f"# END ANSIBLE MANAGED BLOCK {s['full']}\n")
    with open(os.path.join(ctx, "ssh_config"), "w") as f:
        f.write("".join(blocks))
    return open(key + ".pub").read()


def ssh(lab, s, cmd, check=True, timeout=30):
    cfg = os.path.join(ctx_dir(lab), "ssh_config")
    return util.run(["ssh", "-F", cfg, "-o", "ConnectTimeout=5", "-o", "BatchMode=yes",
                     s["full"], cmd], check=check, timeout=timeout)


# ---------------------------------------------------------------- swarm and services
def setup_swarm(lab):
    fh = first_hive(lab)
    util.dexec(fh["short"], f"docker swarm init --advertise-addr {fh['ip']} >/dev/null")
    token = util.dexec(fh["short"], "docker swarm join-token -q manager").stdout.strip()
    for s in hives_of(lab):
        if s is fh or s["short"] == fh["short"]:
            continue
        util.dexec(s["short"], f"docker swarm join --advertise-addr {s['ip']} "
                   f"--token {token} {fh['ip']}:2377 >/dev/null", timeout=60)
    # node labels as hive-builder sets them
    cmds = []
    for s in hives_of(lab):
        labels = ["hives", "servers", "hosts", lab["stage"]]
        if s["short"] == fh["short"]:
            labels.append("first_hive")
        if s["repository"]:
            labels.append("repository")
        cmds.append("docker node update " + " ".join(f"--label-add {x}=true" for x in labels)
                    + f" {s['short']} >/dev/null")
    util.dexec(fh["short"], " && ".join(cmds))


def load_images(lab, s, p):
    repo = repo_of(lab)
    with open(p["busybox"], "rb") as f:
        data = f.read()
    r = subprocess.run(["docker", "-H", "unix://" + util.SOCK, "exec", "-i", s["short"],
                        "docker", "import", "-", "hive-lab/busybox:latest"],
                       input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode:
        raise RuntimeError(r.stderr.decode())
    util.dexec(s["short"], f"docker tag hive-lab/busybox:latest {repo['full']}:5000/image_ldap:latest")
    if s["repository"]:
        with open(p["registry"], "rb") as f:
            data = f.read()
        r = subprocess.run(["docker", "-H", "unix://" + util.SOCK, "exec", "-i", s["short"],
                            "docker", "import", "-c", 'CMD ["/bin/registry","serve",'
                            '"/etc/docker/registry/config.yml"]', "-c", "EXPOSE 5000",
                            "-", "registry:2"],
                           input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode:
            raise RuntimeError(r.stderr.decode())


def start_registry(lab):
    repo = repo_of(lab)
    util.dexec(repo["short"],
               "docker volume create --label com.docker.compose.project=registry "
               "--label com.docker.compose.volume=regdata registry_regdata >/dev/null && "
               "docker network create --label com.docker.compose.project=registry "
               "registry_default >/dev/null && "
               "docker run -d --name registry --restart always --network registry_default "
               "--label com.docker.compose.project=registry "
               "--label com.docker.compose.service=registry_server "
               "-p 5000:5000 -e REGISTRY_STORAGE_DELETE_ENABLED=True "
               "-v registry_regdata:/var/lib/registry registry:2 >/dev/null")


def setup_volume(lab):
    cmd = (f"systemctl start drbd-resource@{lab['volume']}.service && "
           f"docker volume create --driver local --opt type=xfs "
           f"--opt device=/dev/drbd{lab['minor']} {lab['volume']} >/dev/null")
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda s: util.dexec(s["short"], cmd), hives_of(lab)))


def create_service(lab):
    fh = first_hive(lab)
    repo = repo_of(lab)
    script = ('echo "ldap starting on $(hostname)"; '
              'while true; do date > /data/heartbeat; echo "ldap alive"; sleep 10; done')
    util.dexec(fh["short"],
               f"docker service create -d --name {lab['service']} --replicas 1 --no-resolve-image "
               f"--hostname {lab['service']} --label HIVE_STANDALONE=False "
               f"--mount type=volume,source={lab['volume']},target=/data "
               f"--log-driver syslog --log-opt syslog-address=udp://{repo['ip']}:10514 "
               f"--log-opt syslog-facility=local0 --log-opt tag={lab['service']} "
               f"{repo['full']}:5000/image_ldap:latest sh -c '{script}' >/dev/null")


def push_image(lab):
    fh = first_hive(lab)
    repo = repo_of(lab)
    util.wait_for(lambda: util.dexec(repo["short"], "curl -sf http://127.0.0.1:5000/v2/",
                                     check=False).returncode == 0, 30, what="registry")
    util.dexec(fh["short"], f"docker push -q {repo['full']}:5000/image_ldap:latest >/dev/null",
               timeout=120)


def service_running(lab):
    fh = first_hive(lab)
    r = util.dexec(fh["short"], f"docker service ps {lab['service']} --filter desired-state=running "
                   "--format '{{.CurrentState}}|{{.Node}}'", check=False, timeout=20)
    for line in r.stdout.splitlines():
        if line.startswith("Running"):
            return line.split("|")[1]
    return None


def drbd_healthy(lab):
    sim = drbdsim()
    now = time.time()
    with sim.Locked(drbd_state_path(), write=False) as st:
        res = st["resources"][lab["volume"]]
        for n in res["nodes"]:
            if not sim.alive(res, n, now) or res["local"][n]["disk"] != "UpToDate":
                return False
            for p in res["nodes"]:
                if p != n and not sim.connected(res, n, p, now):
                    return False
        if res["syncs"] or res["stuck"] or res["split_brain"]:
            return False
    return True


def swarm_healthy(lab):
    fh = first_hive(lab)
    r = util.dexec(fh["short"], "docker node ls --format '{{.Hostname}} {{.Status}} "
                   "{{.Availability}} {{.ManagerStatus}}'", check=False, timeout=20)
    lines = [x.split() for x in r.stdout.splitlines() if x.strip()]
    if len(lines) != len(hives_of(lab)):
        return False
    return all(x[1:3] == ["Ready", "Active"] and x[3] in ("Leader", "Reachable") for x in lines)


def initial_backup(lab):
    repo = repo_of(lab)
    util.dexec(repo["short"], "systemctl start backup.service", check=False, timeout=60)


# ---------------------------------------------------------------- up / down / status
def healthy(lab, quick=True):
    try:
        if not engine.running():
            return False
        for s in lab["servers"]:
            r = util.docker("inspect", "-f", "{{.State.Running}}", s["short"], check=False)
            if r.stdout.strip() != "true":
                return False
        ssh(lab, first_hive(lab), "sudo -n true", timeout=15)
        return swarm_healthy(lab) and bool(service_running(lab))
    except Exception:  # noqa: BLE001
        return False


def up(hives=3, separate=True, name="lab", stage="staging", disk_size="1G"):
    t0 = time.time()
    want = plan(hives, separate, name, stage, disk_size)
    cur = load()
    if cur and all(cur.get(k) == want[k] for k in
                   ("hives", "separate", "name", "stage", "disk_size", "image_key")) \
            and healthy(cur):
        log("lab already up and healthy")
        return SITE_DIR
    if cur or os.path.exists(VAR_DIR) or engine._pid() or os.path.exists(util.SOCK):
        log("cleaning up an earlier lab")
        down(quiet=True)
    lab = want
    p = image.ensure_built()
    engine.start()
    image_ref = f"hive-lab/base:{p['key']}"
    if util.docker("image", "inspect", image_ref, check=False).returncode != 0:
        log("importing the base image into the lab engine")
        util.docker("import", p["rootfs"], image_ref, timeout=300)
    util.docker("network", "create", "--driver", "bridge", "--subnet", CIDR,
                "--gateway", f"{SUBNET_PREFIX}.1",
                "-o", f"com.docker.network.bridge.name={BRIDGE}", NETWORK)
    os.makedirs(RUN_DIR, exist_ok=True)
    if os.path.exists(SITE_DIR):
        shutil.rmtree(SITE_DIR)
    os.makedirs(os.path.join(SITE_DIR, ".hive"), exist_ok=True)
    util.save_json(STATE_FILE, lab)
    pubkey = write_project(lab)
    log(f"creating {len(lab['servers'])} servers")
    for s in lab["servers"]:
        make_disk(s, disk_size)
    loop, major, minor, size_kib = make_drbd_backing(lab)
    lab["drbd_loop"] = loop
    util.save_json(STATE_FILE, lab)
    write_drbd_state(lab, major, minor, size_kib)
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda s: create_server(lab, s, image_ref, pubkey), lab["servers"]))
        list(ex.map(lambda s: wait_booted(s), lab["servers"]))
        log("servers booted; loading images")
        list(ex.map(lambda s: load_images(lab, s, p), lab["servers"]))
    write_known_hosts(lab)
    log("forming the swarm")
    setup_swarm(lab)
    start_registry(lab)
    setup_volume(lab)
    push_image(lab)
    create_service(lab)
    util.wait_for(lambda: service_running(lab), 60, what="service ldap to run")
    util.wait_for(lambda: drbd_healthy(lab), 30, what="DRBD to be UpToDate everywhere")
    initial_backup(lab)
    for s in lab["servers"]:
        ssh(lab, s, "sudo -n true")
    lab["up_seconds"] = round(time.time() - t0, 1)
    util.save_json(STATE_FILE, lab)
    log(f"lab up in {lab['up_seconds']} s")
    return SITE_DIR


def lab_loops():
    r = util.run(["losetup", "-l", "-n", "-O", "NAME,BACK-FILE"], check=False)
    out = []
    for line in r.stdout.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[1].strip().startswith(VAR_DIR):
            out.append(parts[0])
    return out


def down(quiet=False):
    t0 = time.time()
    if engine.responsive():
        ids = util.docker("ps", "-aq").stdout.split()
        if ids:
            util.docker("rm", "-f", "-v", *ids, check=False, timeout=120)
        util.docker("network", "rm", NETWORK, check=False)
    engine.stop()
    util.umount_tree(MNT_DIR)
    util.umount_tree(VAR_DIR)
    util.umount_tree(util.RUNTIME_DIR)
    for loop in lab_loops():
        util.run(["losetup", "-d", loop], check=False)
    if subprocess.run(["ip", "link", "show", BRIDGE], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode == 0:
        util.run(["ip", "link", "del", BRIDGE], check=False)
    for d in (VAR_DIR, util.RUNTIME_DIR, RUN_DIR):
        if os.path.exists(d):
            shutil.rmtree(d, ignore_errors=True)
    if not quiet:
        log(f"lab down in {time.time() - t0:.1f} s")


def status():
    lab = load()
    if not lab:
        print("lab: down (no lab state)")
        return 1
    eng = engine.running()
    print(f"lab {lab['name']} stage {lab['stage']}: engine {'running' if eng else 'STOPPED'}; "
          f"project {SITE_DIR}")
    if not eng:
        return 1
    fh = first_hive(lab)
    nodes = {}
    r = util.dexec(fh["short"], "docker node ls --format '{{.Hostname}} {{.Status}} "
                   "{{.Availability}} {{.ManagerStatus}}'", check=False, timeout=20)
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts:
            nodes[parts[0]] = " ".join(parts[1:])
    print(f"{'server':16} {'ip':14} {'role':18} {'container':10} {'ssh':5} swarm")
    for s in lab["servers"]:
        st = util.docker("inspect", "-f", "{{.State.Status}}", s["short"], check=False).stdout.strip()
        ok = ssh(lab, s, "true", check=False, timeout=10).returncode == 0 if st == "running" else False
        roles = ("hive" if s["hive"] else "") + ("+" if s["hive"] and s["repository"] else "") + \
                ("repository" if s["repository"] else "")
        if s["short"] == fh["short"]:
            roles += ",first_hive"
        print(f"{s['full']:16} {s['ip']:14} {roles:18} {st:10} {'ok' if ok else 'FAIL':5} "
              f"{nodes.get(s['short'], '-') if s['hive'] else '-'}")
    node = service_running(lab)
    print(f"service {lab['service']}: " + (f"running on {node}" if node else "NOT running"))
    try:
        print("drbd: " + ("healthy" if drbd_healthy(lab) else "NOT healthy"))
    except Exception as e:  # noqa: BLE001
        print(f"drbd: unknown ({e})")
    faults = util.load_json(util.FAULTS_FILE, [])
    print("faults injected: " + (", ".join(f"{f['fault']}@{f['target']}" for f in faults) or "none"))
    return 0
