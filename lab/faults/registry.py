"""Lab faults of the area registry: the repository's registry data (checks/test_registry.py)."""
from .. import site
from ..util import log
from . import Fault
from .site_ops import df_bytes, sx


def inj_registry_bloat(lab, target):
    s = site.repo_of(lab)
    size, used = df_bytes(s, "/var/lib/docker")
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
    size, used = df_bytes(s, "/var/lib/docker")
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


FAULTS = [
    Fault("registry:bloat", inj_registry_bloat, heal_registry_bloat,
          "registry_regdata above 50 % of the repository's /var/lib/docker"),
]
