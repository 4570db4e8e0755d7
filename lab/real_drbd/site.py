"""Bring the real-DRBD lab up and down: three QEMU guests with the given DRBD 9 module,
hive-builder's resource and unit, a docker swarm and a service on the volume, and the
project directory in the docker lab's layout (its ssh_config reaches the guests on loopback).
"""
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from .. import site as docker_site
from .. import util
from . import image, vm
from .vm import VAR_DIR

RUN_DIR = os.path.join(util.LAB_DIR, ".run-real-drbd")
SITE_DIR = os.path.join(RUN_DIR, "site")
STATE_FILE = os.path.join(RUN_DIR, "lab.json")
SUBNET_PREFIX = "10.77.0"
CIDR = f"{SUBNET_PREFIX}.0/24"
SSH_PORT_BASE = 22410
LV_SIZE = "512M"
DATA_DISK = "1G"
MODULES = ("drbd.ko", "drbd_transport_tcp.ko")
BOOT_TIMEOUT = 600          # three TCG guests on 2 busy cores
STAGE = "staging"
CONFIG_FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files", "config")


def plan(hives=3, name="lab", memory=768):
    servers = []
    for i in range(hives):
        short = f"s-hive{i}"
        servers.append({
            "idx": i, "short": short, "full": f"{short}.{name}", "ip": f"{SUBNET_PREFIX}.{10 + i}",
            # every guest is a hive; the last one is also the repository server
            # (hive-builder's separate_repository: false)
            "hive": True, "repository": i == hives - 1,
            "ssh_host": "127.0.0.1", "ssh_port": SSH_PORT_BASE + i, "tap": f"tap{i}",
            "mac_mgmt": f"52:54:00:4c:00:{10 + i:02x}", "mac_repl": f"52:54:00:4c:01:{10 + i:02x}",
        })
    return {"mode": "real-drbd", "hives": hives, "separate": False, "name": name, "stage": STAGE,
            "servers": servers, "first_hive": 0, "volume": docker_site.VOLUME,
            "service": docker_site.SERVICE, "minor": docker_site.DRBD_MINOR, "memory": memory,
            "site_dir": SITE_DIR, "cidr": CIDR}


def load():
    return util.load_json(STATE_FILE)


def ssh(lab, g, cmd, check=True, timeout=120, input=None):
    cfg = os.path.join(docker_site.ctx_dir(lab), "ssh_config")
    return util.run(["ssh", "-F", cfg, "-o", "ConnectTimeout=10", "-o", "BatchMode=yes",
                     g["full"], cmd], check=check, timeout=timeout, input=input)


def sudo(lab, g, cmd, **kw):
    return ssh(lab, g, "sudo -n sh -c " + shlex.quote(cmd), **kw)


def answers(lab, g):
    try:
        return ssh(lab, g, "systemctl is-system-running --wait >/dev/null 2>&1; true",
                   check=False, timeout=60).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def wait_ssh(lab, g, timeout=BOOT_TIMEOUT):
    util.wait_for(lambda: answers(lab, g), timeout, interval=3, what=f"{g['full']} to answer SSH")
    return time.time()


# ---------------------------------------------------------------- the module the lab is given
def check_modules(mod_dir, kver):
    """Every .ko in mod_dir, with drbd.ko and drbd_transport_tcp.ko among them, built for the
    guests' kernel and loadable there (each dependency in mod_dir or in that kernel)."""
    if not mod_dir or not os.path.isdir(mod_dir):
        raise SystemExit(f"--drbd-modules {mod_dir!r}: not a directory (it must hold {', '.join(MODULES)} "
                         f"built for the guests' kernel {kver})")
    kos = sorted(f for f in os.listdir(mod_dir) if f.endswith(".ko"))
    missing = [m for m in MODULES if m not in kos]
    if missing:
        raise SystemExit(f"--drbd-modules {mod_dir}: {', '.join(missing)} missing (found: {', '.join(kos) or 'none'})")
    in_kernel = set()
    with open(f"/lib/modules/{kver}/modules.dep") as f:
        for line in f:
            path = line.split(":", 1)[0]
            if "/drivers/block/drbd/" not in path:          # the guests have no in-tree drbd 8.4
                in_kernel.add(os.path.basename(path)[:-3].replace("-", "_"))
    given = {k[:-3].replace("-", "_") for k in kos}
    for k in kos:
        info = {}
        for field in ("vermagic", "depends", "version"):
            r = util.run(["modinfo", "-F", field, os.path.join(mod_dir, k)], check=False)
            if r.returncode != 0:
                raise SystemExit(f"--drbd-modules {mod_dir}: {k} is not a kernel module ({r.stderr.strip()})")
            info[field] = r.stdout.strip()
        if info["vermagic"].split()[:1] != [kver]:
            raise SystemExit(f"--drbd-modules {mod_dir}: {k} was built for {info['vermagic'].split()[:1]}, "
                             f"the guests run {kver}")
        for dep in filter(None, info["depends"].split(",")):
            if dep.replace("-", "_") not in given | in_kernel:
                raise SystemExit(f"--drbd-modules {mod_dir}: {k} needs {dep}.ko, which is neither there "
                                 f"nor in kernel {kver}")
    r = util.run(["modinfo", "-F", "version", os.path.join(mod_dir, "drbd.ko")])
    version = r.stdout.strip()
    if not version.startswith("9."):
        raise SystemExit(f"--drbd-modules {mod_dir}: drbd.ko is DRBD {version}, not 9.x")
    return kos, version


# ---------------------------------------------------------------- each guest's own files
def host_keys(tree):
    d = os.path.join(tree, "root", "etc", "ssh")
    os.makedirs(d, exist_ok=True)
    keys = []
    for t in ("ed25519", "ecdsa", "rsa"):
        path = os.path.join(d, f"ssh_host_{t}_key")
        util.run(["ssh-keygen", "-q", "-t", t, "-N", "", "-C", "", "-f", path])
        keys.append(" ".join(open(path + ".pub").read().split()[:2]))
    return keys


def _write(tree, path, text, mode=0o644, uid=0):
    full = os.path.join(tree, "root", path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)
    os.chmod(full, mode)
    os.chown(full, uid, uid)


def config_tree(lab, g, tree, pubkey, mod_dir, kos):
    _write(tree, "etc/hostname", g["short"] + "\n")
    hosts = "127.0.0.1 localhost\n" + "".join(f"{s['ip']} {s['full']} {s['short']}\n" for s in lab["servers"])
    _write(tree, "etc/hosts", hosts)
    _write(tree, "etc/systemd/network/10-mgmt.network",
           f"[Match]\nMACAddress={g['mac_mgmt']}\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nUseDNS=no\n")
    _write(tree, "etc/systemd/network/20-replication.network",
           f"[Match]\nMACAddress={g['mac_repl']}\n\n[Network]\nAddress={g['ip']}/24\n")
    _write(tree, f"etc/drbd.d/{lab['volume']}.res", docker_site.res_file(lab))
    ssh_dir = os.path.join(tree, "root", "home", "admin", ".ssh")
    os.makedirs(ssh_dir)
    for d in (os.path.join(tree, "root", "home", "admin"), ssh_dir):
        os.chown(d, docker_site.ADMIN_UID, docker_site.ADMIN_UID)
    os.chmod(ssh_dir, 0o700)
    _write(tree, "home/admin/.ssh/authorized_keys", pubkey, 0o600, docker_site.ADMIN_UID)
    keys = host_keys(tree)
    shutil.copy(os.path.join(CONFIG_FILES, "setup"), os.path.join(tree, "setup"))
    os.makedirs(os.path.join(tree, "modules"))
    for k in kos:
        shutil.copy(os.path.join(mod_dir, k), os.path.join(tree, "modules", k))
    return keys


def write_known_hosts(lab, keys):
    lines = [f"[{g['ssh_host']}]:{g['ssh_port']} {k}" for g in lab["servers"] for k in keys[g["short"]]]
    path = os.path.join(docker_site.ctx_dir(lab), "known_hosts")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o644)


# ---------------------------------------------------------------- the cluster inside the guests
def setup_disk(lab, g):
    """hive-builder's build-infra and build-volumes: VG drbdvg, thin pool drbdpool, thin LV
    <vol>, `create-md --force`, the unit enabled and started (it runs `drbdadm adjust`)."""
    vol = lab["volume"]
    sudo(lab, g, f"""set -e
pvcreate -q /dev/disk/by-id/virtio-hive-lab-data >/dev/null && vgcreate -q drbdvg /dev/disk/by-id/virtio-hive-lab-data >/dev/null
lvcreate -q -l 90%FREE --chunksize 1024k --thinpool drbdpool drbdvg >/dev/null
lvcreate -q -V {LV_SIZE} --thin -n {vol} drbdvg/drbdpool >/dev/null
drbdadm create-md --force {vol} >/dev/null 2>&1
mkdir -p /etc/systemd/system/docker.service.requires
ln -sf /etc/systemd/system/drbd-resource@.service /etc/systemd/system/docker.service.requires/drbd-resource@{vol}.service
systemctl daemon-reload
systemctl start drbd-resource@{vol}.service""", timeout=300)


def drbd_views(lab):
    out = {}
    for g in lab["servers"]:
        r = sudo(lab, g, f"drbdadm status {lab['volume']}", check=False, timeout=60)
        out[g["short"]] = r.stdout if r.returncode == 0 else None
    return out


def drbd_healthy(lab):
    """Every node: disk UpToDate, every peer connected with peer-disk UpToDate, nothing syncing."""
    for text in drbd_views(lab).values():
        if text is None:
            return False
        words = text.split()
        peers = [w for w in words if w.startswith("peer-disk:")]
        if "disk:UpToDate" not in words or len(peers) != len(lab["servers"]) - 1:
            return False
        if any(w != "peer-disk:UpToDate" for w in peers) or "connection:" in text or "replication:" in text \
                or "quorum:no" in words:
            return False
    return True


def initial_sync(lab):
    """hive-builder on the first-disk node: `primary --force`, wait-sync, mkfs, secondary."""
    fh = lab["servers"][lab["first_hive"]]
    vol, minor = lab["volume"], lab["minor"]
    sudo(lab, fh, f"drbdadm primary --force {vol}")
    util.wait_for(lambda: drbd_healthy(lab), 600, interval=3, what="the initial sync")
    sudo(lab, fh, f"mkfs.xfs -q /dev/drbd{minor} && drbdadm secondary {vol}", timeout=300)


def swarm_state(lab, g):
    return sudo(lab, g, "docker info --format '{{.Swarm.LocalNodeState}}'", check=False).stdout.strip()


def setup_swarm(lab):
    """Every hive a manager, as hive-builder makes them. Under TCG a join can outlast docker's
    own wait ("will continue in the background"): the node's state is what counts."""
    fh = lab["servers"][lab["first_hive"]]
    if swarm_state(lab, fh) != "active":
        sudo(lab, fh, f"docker swarm init --advertise-addr {fh['ip']} --listen-addr {fh['ip']}:2377 >/dev/null",
             timeout=300)
    token = sudo(lab, fh, "docker swarm join-token -q manager").stdout.strip()
    for g in lab["servers"]:
        # "pending": an earlier join still going on (joining again would add a second node)
        if g is not fh and swarm_state(lab, g) not in ("active", "pending"):
            sudo(lab, g, f"docker swarm join --advertise-addr {g['ip']} --listen-addr {g['ip']}:2377 "
                         f"--token {token} {fh['ip']}:2377 >/dev/null", check=False, timeout=300)
        util.wait_for(lambda: swarm_state(lab, g) == "active", 600, interval=5,
                      what=f"{g['full']} to join the swarm")
    for g in lab["servers"]:
        labels = ["hives", "servers", "hosts", lab["stage"]] + (["first_hive"] if g is fh else []) + \
                 (["repository"] if g["repository"] else [])
        cmd = ("docker node update " + " ".join(f"--label-add {x}=true" for x in labels) +
               f" {g['short']} >/dev/null")
        # a raft still settling answers "update out of sequence": asked again
        util.wait_for(lambda: sudo(lab, fh, cmd, check=False, timeout=300).returncode == 0, 300,
                      interval=5, what=f"the node labels of {g['full']}")


def image_ref(lab):
    repo = [g for g in lab["servers"] if g["repository"]][0]
    return f"{repo['full']}:5000/image_ldap:latest"


def setup_volume_and_image(lab, g):
    """The service image (busybox, cut at image build) and the DRBD-backed docker volume."""
    sudo(lab, g, f"docker import /usr/share/hive-lab/busybox.tar hive-lab/busybox:latest >/dev/null && "
                 f"docker tag hive-lab/busybox:latest {image_ref(lab)} && "
                 f"docker volume create --driver local --opt type=xfs --opt device=/dev/drbd{lab['minor']} "
                 f"{lab['volume']} >/dev/null", timeout=300)


def create_service(lab):
    fh = lab["servers"][lab["first_hive"]]
    script = ('echo "ldap starting on $(hostname)"; '
              'while true; do date > /data/heartbeat; echo "ldap alive"; sleep 10; done')
    sudo(lab, fh, f"docker service create -d --name {lab['service']} --replicas 1 --no-resolve-image "
                  f"--hostname {lab['service']} --label HIVE_STANDALONE=False "
                  f"--mount type=volume,source={lab['volume']},target=/data "
                  f"{image_ref(lab)} sh -c {shlex.quote(script)} >/dev/null", timeout=300)


def service_node(lab):
    """The hive the service's task runs on, or None."""
    fh = lab["servers"][lab["first_hive"]]
    for g in [fh] + [s for s in lab["servers"] if s is not fh]:
        r = sudo(lab, g, f"docker service ps {lab['service']} --filter desired-state=running "
                         "--format '{{.CurrentState}}|{{.Node}}'", check=False, timeout=60)
        if r.returncode == 0:
            for line in r.stdout.splitlines():
                if line.startswith("Running"):
                    return line.split("|")[1]
            return None
    return None


def swarm_healthy(lab):
    fh = lab["servers"][lab["first_hive"]]
    r = sudo(lab, fh, "docker node ls --format '{{.Hostname}} {{.Status}} {{.Availability}} "
                      "{{.ManagerStatus}}'", check=False, timeout=60)
    lines = [x.split() for x in r.stdout.splitlines() if x.strip()]
    return len(lines) == len(lab["servers"]) and all(
        x[1:3] == ["Ready", "Active"] and x[3] in ("Leader", "Reachable") for x in lines)


def setup_services(lab):
    """The swarm, the image and volume on every hive, the service; waits until it runs."""
    setup_swarm(lab)
    with ThreadPoolExecutor(len(lab["servers"])) as ex:
        list(ex.map(lambda g: setup_volume_and_image(lab, g), lab["servers"]))
    create_service(lab)
    util.wait_for(lambda: service_node(lab), 600, interval=5, what=f"service {lab['service']} to run")
    util.wait_for(lambda: drbd_healthy(lab), 300, interval=3, what="DRBD to be UpToDate everywhere")


# ---------------------------------------------------------------- up / down / status
def up(mod_dir, hives=3, name="lab", memory=768):
    t0 = time.time()
    kern = image.guest_kernel()
    kos, version = check_modules(mod_dir, kern["version"])
    if load() or os.path.exists(VAR_DIR) or vm.netns_exists():
        util.log("removing an earlier real-DRBD lab")
        down(quiet=True)
    p = image.ensure_built()
    lab = plan(hives, name, memory)
    lab.update(drbd_version=version, kernel=kern["version"], modules=kos, image_key=p["key"],
               modules_dir=os.path.abspath(mod_dir))
    os.makedirs(os.path.join(SITE_DIR, ".hive"), exist_ok=True)
    util.save_json(STATE_FILE, lab)
    pubkey = docker_site.write_project(lab)
    keys = {}
    for g in lab["servers"]:
        vm.make_disks(g, p["base"], DATA_DISK)
        with tempfile.TemporaryDirectory(prefix="hive-lab-cfg-") as tree:
            keys[g["short"]] = config_tree(lab, g, tree, pubkey, mod_dir, kos)
            vm.make_config_disk(g, tree)
    write_known_hosts(lab, keys)
    vm.make_network(lab["servers"])
    t_boot = time.time()
    for g in lab["servers"]:
        vm.start(g, p, memory)
    with ThreadPoolExecutor(len(lab["servers"])) as ex:
        booted = list(ex.map(lambda g: wait_ssh(lab, g), lab["servers"]))
    lab["boot_seconds"] = round(max(booted) - t_boot, 1)
    util.log(f"{len(lab['servers'])} guests answer SSH after {lab['boot_seconds']} s")
    for g in lab["servers"]:
        got = sudo(lab, g, "{ test -e /sys/module/drbd || modprobe drbd; } && "
                           "cat /sys/module/drbd/version").stdout.strip()
        if got != version:
            raise SystemExit(f"{g['full']} runs DRBD {got!r}, not the given {version}")
    with ThreadPoolExecutor(len(lab["servers"])) as ex:
        list(ex.map(lambda g: setup_disk(lab, g), lab["servers"]))
    t_sync = time.time()
    initial_sync(lab)
    lab["initial_sync_seconds"] = round(time.time() - t_sync, 1)
    setup_services(lab)
    lab["up_seconds"] = round(time.time() - t0, 1)
    util.save_json(STATE_FILE, lab)
    util.log(f"real-DRBD lab up in {lab['up_seconds']} s (boot {lab['boot_seconds']} s, "
             f"initial sync {lab['initial_sync_seconds']} s)")
    return SITE_DIR


def boot(lab, g):
    """Start one guest again (after a power-off) and wait until it answers."""
    p = image.paths()
    t0 = time.time()
    vm.start(g, p, lab["memory"])
    wait_ssh(lab, g)
    return time.time() - t0


def down(quiet=False):
    t0 = time.time()
    lab = load()
    guests = lab["servers"] if lab else [{"short": d} for d in
                                          (os.listdir(VAR_DIR) if os.path.isdir(VAR_DIR) else [])]
    for g in guests:
        vm.kill(g)
    vm.remove_network()
    for d in (VAR_DIR, RUN_DIR):
        if os.path.exists(d):
            shutil.rmtree(d, ignore_errors=True)
    if not quiet:
        util.log(f"real-DRBD lab down in {time.time() - t0:.1f} s")


def status():
    lab = load()
    if not lab:
        print("real-DRBD lab: down (no lab state)")
        return 1
    print(f"real-DRBD lab {lab['name']} stage {lab['stage']}: DRBD {lab['drbd_version']} on kernel "
          f"{lab['kernel']}; project {SITE_DIR}")
    for g in lab["servers"]:
        pid = vm.qemu_pid(g)
        ok = pid and ssh(lab, g, "true", check=False, timeout=30).returncode == 0
        print(f"{g['full']:14} {g['ip']:11} ssh 127.0.0.1:{g['ssh_port']} qemu {pid or 'OFF':>7} "
              f"ssh {'ok' if ok else 'FAIL'}")
    try:
        print(f"service {lab['service']}: running on {service_node(lab) or 'NOTHING'}")
        print("swarm: " + ("healthy" if swarm_healthy(lab) else "NOT healthy"))
        print("drbd: " + ("healthy" if drbd_healthy(lab) else "NOT healthy"))
    except Exception as e:  # noqa: BLE001 - a status line, never a traceback
        print(f"cluster: unknown ({e})")
    return 0
