"""Lab faults of the area inodes: inodes used up on docker's filesystem (checks/test_inodes.py)."""
from . import Fault
from .site_ops import default_target, sx


INODE_HOG = "hh-lab-inode-hog"


def _inodes(s, path):
    out = sx(s, f"df -P -i {path} | tail -1").stdout.split()
    return int(out[1]), int(out[2])


def inj_inode_hog(lab, target):
    """A stopped container whose writable layer holds 100000 empty files: docker's filesystem
    loses that many inodes, and `docker system prune -f` gives them back."""
    s = default_target(lab, target, "last-hive")
    before = _inodes(s, "/var/lib/docker")
    sx(s, f"docker run --name {INODE_HOG} hive-lab/busybox:latest sh -c "
          "'mkdir /many && cd /many && i=0; while [ $i -lt 100000 ]; do : > f$i; i=$((i+1)); done' "
          ">/dev/null", timeout=600)
    after = _inodes(s, "/var/lib/docker")
    return s, (f"{s['full']}:/var/lib/docker inodes used {before[1]} -> {after[1]} of {after[0]} "
               f"(a stopped container with 100000 small files)"), {}


def heal_inode_hog(lab, s, rec):
    sx(s, f"docker rm -f {INODE_HOG} >/dev/null 2>&1; true", check=False)


FAULTS = [
    Fault("inodes:small-files", inj_inode_hog, heal_inode_hog,
          "a stopped container with 100000 small files on /var/lib/docker [last hive]"),
]
