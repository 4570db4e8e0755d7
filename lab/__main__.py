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
    sub.add_parser("down", help="remove everything the lab made")
    sub.add_parser("status", help="servers and their state")
    sub.add_parser("build-image", help="build (or find cached) base image")
    i = sub.add_parser("inject", help="inject a fault")
    i.add_argument("fault")
    i.add_argument("target", nargs="?")
    sub.add_parser("heal", help="undo every injected fault; wait until healthy")
    sub.add_parser("faults", help="list the faults")
    a = ap.parse_args(argv)

    if os.geteuid() != 0:
        sys.exit("the hive lab must run as root")
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


if __name__ == "__main__":
    sys.exit(main())
