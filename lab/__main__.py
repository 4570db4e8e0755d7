"""python3 -m lab {up,down,status,inject,heal,faults}  (run as root; see lab/README.md)"""
import argparse
import os
import sys


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m lab", description="the hive lab")
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="start the site; prints the project directory last")
    u.add_argument("--hives", type=int, default=3)
    u.add_argument("--separate-repository", dest="separate", action="store_true", default=True)
    u.add_argument("--no-separate-repository", dest="separate", action="store_false")
    u.add_argument("--name", default="lab")
    u.add_argument("--stage", default="staging", choices=["private", "staging", "production"])
    u.add_argument("--disk-size", default="1G")
    u.add_argument("--real-drbd", action="store_true",
                   help="the hives as QEMU guests with the real DRBD 9 module (lab/README.md)")
    u.add_argument("--drbd-modules", metavar="DIR",
                   help="with --real-drbd: drbd.ko, drbd_transport_tcp.ko (and what they need) "
                        "built for the guests' kernel")
    u.add_argument("--memory", type=int, default=768, help="with --real-drbd: MiB per guest")
    d = sub.add_parser("down", help="remove everything the lab made")
    s = sub.add_parser("status", help="servers and their state")
    for p in (d, s):
        p.add_argument("--real-drbd", action="store_true", help="the real-DRBD lab's")
    sub.add_parser("build-image", help="build (or find cached) base image")
    i = sub.add_parser("inject", help="inject a fault")
    i.add_argument("fault")
    i.add_argument("target", nargs="?")
    sub.add_parser("heal", help="undo every injected fault; wait until healthy")
    sub.add_parser("faults", help="list the faults")
    a = ap.parse_args(argv)

    if os.geteuid() != 0:
        sys.exit("the hive lab must run as root")
    if getattr(a, "real_drbd", False):
        return real_drbd(a)
    if a.cmd == "up" and a.drbd_modules:
        sys.exit("--drbd-modules goes with --real-drbd")
    from . import site
    if a.cmd == "up":
        if a.hives < 1:
            sys.exit("--hives must be >= 1")
        path = site.up(a.hives, a.separate, a.name, a.stage, a.disk_size)
        print(path)
        return 0
    if a.cmd == "down":
        site.down()
        return 0
    if a.cmd == "status":
        return site.status()
    if a.cmd == "build-image":
        from . import image
        print(image.ensure_built()["dir"])
        return 0
    from . import faults
    if a.cmd == "faults":
        print(faults.listing())
        return 0
    if a.cmd == "inject":
        print(faults.inject(a.fault, a.target))
        return 0
    if a.cmd == "heal":
        print(faults.heal())
        return 0
    return 2


def real_drbd(a):
    from .real_drbd import site
    if a.cmd == "up":
        if not a.drbd_modules:
            sys.exit("--real-drbd needs --drbd-modules DIR (the DRBD 9 module built for the guests' "
                     "kernel; lab/README.md, Real DRBD)")
        print(site.up(a.drbd_modules, a.hives, a.name, a.memory))
        return 0
    if a.cmd == "down":
        site.down()
        return 0
    return site.status()


if __name__ == "__main__":
    sys.exit(main())
