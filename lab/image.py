"""Base image of the lab servers: a debootstrap of Debian trixie, cached as a tarball.

The cache lives outside the work tree (/var/cache/hive-lab/) and is keyed by a hash of
the recipe below plus the files under lab/files/image/, so a change of the recipe
rebuilds and every other run reuses it.  Besides the server rootfs, two tiny image
tarballs for the servers' inner engines are cut out of the same rootfs:
  busybox.tar   -> hive-lab/busybox (service images, fault images)
  registry.tar  -> hive-lab/registry:2 (Debian's docker-registry binary + busybox)
"""
import hashlib
import os
import shutil
import subprocess
import sys
import time

from . import util

CACHE = os.environ.get("HIVE_LAB_CACHE", "/var/cache/hive-lab")
SUITE = "trixie"
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "openssh-server", "openssh-client", "sudo",
    "docker.io", "docker-cli", "python3", "xfsprogs", "util-linux", "iproute2",
    "iptables", "curl", "ca-certificates", "rsyslog", "busybox-static", "procps",
    "kmod", "less", "chrony",
]
EXTRA_PACKAGES = ["docker-registry"]          # installed in a second step (may be absent)
RECIPE_VERSION = "6"


def mirror():
    """The Debian mirror the host's apt uses (so debootstrap goes the same way)."""
    for path in ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]:
        try:
            text = open(path).read()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if "security" not in uri:
                        return uri.rstrip("/")
            if line.startswith("deb ") and "security" not in line:
                parts = line.split()
                for p in parts[1:]:
                    if p.startswith("http"):
                        return p.rstrip("/")
    return "http://deb.debian.org/debian"


def recipe_key():
    h = hashlib.sha256()
    h.update(f"{RECIPE_VERSION}|{SUITE}|{' '.join(PACKAGES)}|{' '.join(EXTRA_PACKAGES)}".encode())
    h.update(open(__file__, "rb").read())
    imgdir = os.path.join(util.LAB_DIR, "files", "image")
    for root, _dirs, files in sorted(os.walk(imgdir)):
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(p[len(imgdir):].encode())
            h.update(open(p, "rb").read())
    return h.hexdigest()[:16]


def paths():
    key = recipe_key()
    d = os.path.join(CACHE, key)
    return {"dir": d, "rootfs": os.path.join(d, "rootfs.tar"),
            "busybox": os.path.join(d, "busybox.tar"),
            "registry": os.path.join(d, "registry.tar"), "key": key}


def ensure_built(log=util.log):
    p = paths()
    if all(os.path.exists(p[k]) for k in ("rootfs", "busybox", "registry")):
        return p
    os.makedirs(p["dir"], exist_ok=True)
    t0 = time.time()
    log(f"building base image {p['key']} (debootstrap {SUITE}, a few minutes) ...")
    build(p, log)
    dt = time.time() - t0
    with open(os.path.join(p["dir"], "build-seconds"), "w") as f:
        f.write(f"{dt:.1f}\n")
    log(f"base image built in {dt:.0f} s -> {p['dir']}")
    return p


def _chroot(root, cmd, check=True):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8")
    return subprocess.run(["chroot", root, "sh", "-c", cmd], env=env, check=check,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def build(p, log):
    work = os.path.join(p["dir"], "work")
    root = os.path.join(work, "rootfs")
    if os.path.exists(work):
        util.umount_tree(work)
        shutil.rmtree(work)
    os.makedirs(work)
    cmd = ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
           SUITE, root, mirror()]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:])
        raise SystemExit("debootstrap failed")
    mounts = []
    try:
        for src, dst, fst in [("proc", "proc", "proc"), ("sysfs", "sys", "sysfs")]:
            subprocess.run(["mount", "-t", fst, src, os.path.join(root, dst)], check=True)
            mounts.append(os.path.join(root, dst))
        # policy-rc.d: nothing starts inside the chroot
        with open(os.path.join(root, "usr/sbin/policy-rc.d"), "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(os.path.join(root, "usr/sbin/policy-rc.d"), 0o755)
        r = _chroot(root, "apt-get install -y -q --no-install-recommends "
                    + " ".join(EXTRA_PACKAGES), check=False)
        if r.returncode != 0:
            log("note: extra packages not installed: " + r.stdout[-500:])
        # copy our overlay files
        overlay = os.path.join(util.LAB_DIR, "files", "image")
        subprocess.run(["cp", "-a", overlay + "/.", root + "/"], check=True)
        r = _chroot(root, "sh /usr/local/sbin/hive-lab-image-setup", check=False)
        if r.returncode != 0:
            sys.stderr.write(r.stdout[-4000:])
            raise SystemExit("image setup failed")
        os.remove(os.path.join(root, "usr/sbin/policy-rc.d"))
    finally:
        for m in reversed(mounts):
            subprocess.run(["umount", "-l", m])
    _cut_small_images(root, p)
    tmp = p["rootfs"] + ".tmp"
    subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", root, "-cf", tmp, "."], check=True)
    os.rename(tmp, p["rootfs"])
    shutil.rmtree(work)


def _libs_of(root, binary):
    """Shared libraries a binary needs, resolved inside root (via the chroot's ldd)."""
    r = _chroot(root, f"ldd {binary} 2>/dev/null || true", check=False)
    libs = []
    for line in r.stdout.splitlines():
        parts = line.split()
        for part in parts:
            if part.startswith("/"):
                libs.append(part)
    return libs


def _cut_small_images(root, p):
    import tarfile
    bb = os.path.join(root, "usr/bin/busybox")
    if not os.path.exists(bb):
        bb = os.path.join(root, "bin/busybox")

    def add_busybox(t):
        for d in ["bin", "tmp", "data", "etc", "var", "var/lib", "proc", "sys", "dev"]:
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o1777 if d == "tmp" else 0o755
            t.addfile(ti)
        t.add(bb, "bin/busybox")
        for applet in ["sh", "sleep", "date", "echo", "cat", "ls", "dd", "rm", "df", "du",
                       "head", "mkdir", "touch", "sync", "tail", "wc", "find", "cp", "mv",
                       "env", "ps", "true", "false", "hostname", "tar", "gzip", "sha256sum"]:
            ti = tarfile.TarInfo("bin/" + applet)
            ti.type = tarfile.SYMTYPE
            ti.linkname = "busybox"
            t.addfile(ti)
        for name, content in [("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
                              ("etc/group", "root:x:0:\n")]:
            data = content.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            import io
            t.addfile(ti, io.BytesIO(data))

    with tarfile.open(p["busybox"] + ".tmp", "w") as t:
        add_busybox(t)
    os.rename(p["busybox"] + ".tmp", p["busybox"])

    reg = os.path.join(root, "usr/bin/docker-registry")
    with tarfile.open(p["registry"] + ".tmp", "w") as t:
        add_busybox(t)
        if os.path.exists(reg):
            t.add(reg, "bin/registry")
            for lib in _libs_of(root, "/usr/bin/docker-registry"):
                real = os.path.realpath(os.path.join(root, lib.lstrip("/")))
                t.add(real, lib.lstrip("/"))
        import io
        cfg = (b"version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n"
               b"    rootdirectory: /var/lib/registry\n  delete:\n    enabled: true\n"
               b"http:\n  addr: :5000\n")
        for d in ["etc/docker", "etc/docker/registry", "var/lib/registry"]:
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            t.addfile(ti)
        ti = tarfile.TarInfo("etc/docker/registry/config.yml")
        ti.size = len(cfg)
        t.addfile(ti, io.BytesIO(cfg))
    os.rename(p["registry"] + ".tmp", p["registry"])
