"""The guests' base disk: a debootstrap of Debian bookworm as a qcow2, cached outside the tree.

Cached in /var/cache/hive-lab-qemu/<recipe hash>/ (HIVE_LAB_QEMU_CACHE to move it); the hash
covers this file and files/guest/, so a changed recipe builds anew. The guests boot the
kernel of the host's installed linux-image package (/boot), and its modules are copied into
the base; the DRBD module is never part of the base: each guest gets the one the person
running the lab built, on its config disk (see vm.py).
"""
import hashlib
import os
import shutil
import subprocess
import sys
import time

from .. import image as docker_lab_image
from .. import util

CACHE = os.environ.get("HIVE_LAB_QEMU_CACHE", "/var/cache/hive-lab-qemu")
SUITE = "bookworm"
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "udev", "openssh-server", "sudo", "kmod",
    "drbd-utils", "lvm2", "thin-provisioning-tools", "xfsprogs", "docker.io", "iproute2",
    "iptables", "busybox-static", "procps", "util-linux", "less", "coreutils",
]
# modules the guests never load (saves ~200 MB in the base); the kernel's own drbd (8.4) is
# left out so that only the DRBD 9 module the lab is given can load
MODULES_LEFT_OUT = ["drivers/block/drbd", "drivers/gpu", "drivers/media", "drivers/net/wireless", "drivers/infiniband",
                    "drivers/staging", "sound", "drivers/iio", "drivers/bluetooth", "net/wireless",
                    "net/mac80211", "drivers/net/ethernet", "drivers/scsi", "drivers/usb"]
ROOT_SIZE = "3G"
RECIPE_VERSION = "1"
FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files", "guest")


def guest_kernel():
    """The newest kernel of the host's linux-image packages (the guests' kernel)."""
    versions = sorted(f[len("vmlinuz-"):] for f in os.listdir("/boot") if f.startswith("vmlinuz-")
                      and os.path.exists(f"/boot/initrd.img-{f[len('vmlinuz-'):]}")
                      and os.path.isdir(f"/lib/modules/{f[len('vmlinuz-'):]}"))
    if not versions:
        raise SystemExit("no kernel with initrd and modules in /boot: "
                         "apt-get install linux-image-amd64 linux-headers-amd64")
    kver = versions[-1]
    return {"version": kver, "kernel": f"/boot/vmlinuz-{kver}", "initrd": f"/boot/initrd.img-{kver}"}


def recipe_key(kver):
    h = hashlib.sha256()
    h.update(f"{RECIPE_VERSION}|{SUITE}|{kver}|{' '.join(PACKAGES)}|{MODULES_LEFT_OUT}".encode())
    h.update(open(__file__, "rb").read())
    for root, _dirs, files in sorted(os.walk(FILES)):
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(p[len(FILES):].encode())
            h.update(open(p, "rb").read())
    return h.hexdigest()[:16]


def paths():
    k = guest_kernel()
    key = recipe_key(k["version"])
    d = os.path.join(CACHE, key)
    return dict(k, key=key, dir=d, base=os.path.join(d, "base.qcow2"),
                busybox=os.path.join(d, "busybox.tar"))


def ensure_built(log=util.log):
    p = paths()
    if os.path.exists(p["base"]) and os.path.exists(p["busybox"]):
        return p
    os.makedirs(p["dir"], exist_ok=True)
    t0 = time.time()
    log(f"building the guest base {p['key']} (debootstrap {SUITE}, kernel {p['version']}) ...")
    build(p, log)
    dt = time.time() - t0
    with open(os.path.join(p["dir"], "build-seconds"), "w") as f:
        f.write(f"{dt:.1f}\n")
    log(f"guest base built in {dt:.0f} s -> {p['base']}")
    return p


def _chroot(root, cmd):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8")
    return subprocess.run(["chroot", root, "sh", "-c", cmd], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


SETUP = r"""
set -e
rm -f /etc/ssh/ssh_host_*
for u in getty@tty1.service systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer \
         e2scrub_all.timer fstrim.timer dpkg-db-backup.timer drbd.service; do
  systemctl mask "$u" >/dev/null 2>&1 || true
done
systemctl enable systemd-networkd.service hive-lab-config.service serial-getty@ttyS0.service >/dev/null 2>&1
getent group docker >/dev/null || groupadd -r docker
id admin >/dev/null 2>&1 || useradd -m -u 1000 -s /bin/bash -G sudo,docker admin
passwd -l admin >/dev/null
echo 'admin ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/admin
chmod 440 /etc/sudoers.d/admin
install -d -m 700 -o admin -g admin /home/admin/.ssh
echo '/dev/vda / ext4 defaults,errors=remount-ro 0 1' > /etc/fstab
: > /etc/machine-id
echo 'LANG=C.UTF-8' > /etc/default/locale
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* /usr/share/locale/*
"""


def build(p, log):
    work = os.path.join(p["dir"], "work")
    root = os.path.join(work, "rootfs")
    if os.path.exists(work):
        util.umount_tree(work)
        shutil.rmtree(work)
    os.makedirs(work)
    t0 = time.time()
    r = subprocess.run(["nice", "-n", "19", "debootstrap", "--variant=minbase",
                        "--include=" + ",".join(PACKAGES), SUITE, root, docker_lab_image.mirror()],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:])
        raise SystemExit("debootstrap failed")
    log(f"debootstrap {SUITE}: {time.time() - t0:.0f} s")
    subprocess.run(["cp", "-a", FILES + "/.", root + "/"], check=True)
    r = _chroot(root, SETUP)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:])
        raise SystemExit("guest setup failed")
    mods = f"/lib/modules/{p['version']}"
    excludes = [f"--exclude=kernel/{m}" for m in MODULES_LEFT_OUT]
    os.makedirs(root + mods)
    subprocess.run(f"tar -C {mods} -cf - {' '.join(excludes)} . | tar -C {root + mods} -xf -",
                   shell=True, check=True)
    subprocess.run(["depmod", "-b", root, p["version"]], check=True)
    # the service image (busybox) is cut the way the docker lab cuts its own
    docker_lab_image._cut_small_images(root, {"busybox": p["busybox"],
                                              "registry": os.path.join(work, "registry.tar")})
    os.makedirs(os.path.join(root, "usr/share/hive-lab"), exist_ok=True)
    shutil.copy(p["busybox"], os.path.join(root, "usr/share/hive-lab/busybox.tar"))
    raw = os.path.join(work, "root.raw")
    subprocess.run(["truncate", "-s", ROOT_SIZE, raw], check=True)
    subprocess.run(["nice", "-n", "19", "mkfs.ext4", "-q", "-F", "-L", "root", "-d", root, raw],
                   check=True)
    tmp = p["base"] + ".tmp"
    subprocess.run(["nice", "-n", "19", "qemu-img", "convert", "-O", "qcow2", raw, tmp], check=True)
    os.rename(tmp, p["base"])
    shutil.rmtree(work)
