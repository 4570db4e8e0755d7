"""The host side of the guests: their disks, the replication network (a bridge and taps inside
a network namespace the lab makes) and the QEMU processes (TCG, nice 19).

Each guest has two NICs: QEMU user networking with `restrict=on` (the guest reaches nothing)
whose only way in is `hostfwd=tcp:127.0.0.1:PORT-:22` (the site's ssh_config points there), and
a tap on the bridge inside the namespace (10.77.0.0/24, DRBD and the swarm). QEMU itself runs in
the host's namespace, so the hostfwd listens on the host's loopback; the tap is opened inside
the lab's namespace and handed to QEMU as an open file descriptor.
"""
import ctypes
import fcntl
import os
import signal
import struct
import subprocess

from .. import util

VAR_DIR = "/var/lib/hive-lab-qemu"          # overlays, data and config disks, pid files, consoles
NETNS = "hivelab-drbd"
BRIDGE = "br0"
CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000


def guest_dir(g):
    return os.path.join(VAR_DIR, g["short"])


def pidfile(g):
    return os.path.join(guest_dir(g), "qemu.pid")


def console_log(g):
    return os.path.join(guest_dir(g), "console.log")


# ---------------------------------------------------------------- the replication network
def netns_exists():
    return os.path.exists(f"/run/netns/{NETNS}")


def ip(*args, check=True):
    return util.run(["ip", "-n", NETNS] + list(args), check=check)


def make_network(guests):
    if not netns_exists():
        util.run(["ip", "netns", "add", NETNS])
    ip("link", "set", "lo", "up")
    if ip("link", "show", BRIDGE, check=False).returncode != 0:
        ip("link", "add", BRIDGE, "type", "bridge")
    ip("link", "set", BRIDGE, "up")
    for g in guests:
        if ip("link", "show", g["tap"], check=False).returncode != 0:
            ip("tuntap", "add", "dev", g["tap"], "mode", "tap")
        ip("link", "set", g["tap"], "master", BRIDGE)
        ip("link", "set", g["tap"], "up")


def remove_network():
    if netns_exists():
        util.run(["ip", "netns", "del", NETNS], check=False)


def open_tap(name):
    """An fd of the tap `name` inside the lab's namespace (opened there, used from here)."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{NETNS}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {NETNS}")
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR)
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the host's namespace")
    finally:
        os.close(own)
        os.close(target)
    return fd


# ---------------------------------------------------------------- disks
def make_disks(g, base, data_size):
    d = guest_dir(g)
    os.makedirs(d, exist_ok=True)
    util.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base,
              os.path.join(d, "root.qcow2")])
    data = os.path.join(d, "data.raw")
    util.run(["truncate", "-s", data_size, data])


def make_config_disk(g, tree):
    """An ext4 image holding `tree` (made from the directory, no mount needed)."""
    img = os.path.join(guest_dir(g), "config.raw")
    if os.path.exists(img):
        os.remove(img)
    util.run(["truncate", "-s", "32M", img])
    util.run(["mkfs.ext4", "-q", "-F", "-L", "hivecfg", "-d", tree, img])


# ---------------------------------------------------------------- QEMU
def qemu_pid(g):
    try:
        pid = int(open(pidfile(g)).read().strip())
        cmd = open(f"/proc/{pid}/cmdline").read()
    except (OSError, ValueError):
        return None
    return pid if guest_dir(g) in cmd else None


def start(g, kernel, memory):
    """Start the guest's QEMU (returns at once; wait for SSH to know it booted)."""
    if qemu_pid(g):
        return
    d = guest_dir(g)
    fd = open_tap(g["tap"])
    cmd = ["nice", "-n", "19", "qemu-system-x86_64", "-name", g["short"], "-nodefaults",
           "-accel", "tcg,tb-size=256", "-cpu", "max", "-m", str(memory), "-smp", "1",
           "-kernel", kernel["kernel"], "-initrd", kernel["initrd"],
           # apparmor=0: the guests have no apparmor_parser, without which docker starts no
           # container while AppArmor is enabled
           "-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0 apparmor=0",
           # fixed PCI slots, so the guest sees vda = root, vdb = data, vdc = config
           "-drive", f"file={d}/root.qcow2,if=none,id=root,format=qcow2",
           "-device", "virtio-blk-pci,drive=root,addr=0x4,serial=hive-lab-root",
           "-drive", f"file={d}/data.raw,if=none,id=data,format=raw",
           "-device", "virtio-blk-pci,drive=data,addr=0x5,serial=hive-lab-data",
           "-drive", f"file={d}/config.raw,if=none,id=cfg,format=raw,readonly=on",
           "-device", "virtio-blk-pci,drive=cfg,addr=0x6,serial=hive-lab-config",
           "-netdev", f"user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:{g['ssh_port']}-:22",
           "-device", f"virtio-net-pci,netdev=mgmt,mac={g['mac_mgmt']},addr=0x2",
           "-netdev", f"tap,id=repl,fd={fd}",
           "-device", f"virtio-net-pci,netdev=repl,mac={g['mac_repl']},addr=0x3",
           "-display", "none", "-vga", "none", "-serial", f"file:{console_log(g)}", "-monitor", "none",
           "-pidfile", pidfile(g)]
    log_path = os.path.join(d, "qemu.log")
    logf = open(log_path, "ab")
    try:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, pass_fds=(fd,),
                                start_new_session=True)
    finally:
        os.close(fd)
        logf.close()

    def started():
        if proc.poll() is not None:
            raise SystemExit(f"QEMU of {g['full']} exited ({proc.returncode}): "
                             f"{open(log_path).read()[-1500:]}")
        return qemu_pid(g)
    util.wait_for(started, 30, what=f"QEMU of {g['full']} to start")


def kill(g, sig=signal.SIGKILL):
    """Power the guest off the hard way (SIGKILL: no shutdown, as a pulled plug)."""
    pid = qemu_pid(g)
    if not pid:
        return False
    os.kill(pid, sig)
    util.wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30, what=f"QEMU of {g['full']} to exit")
    return True
