"""Lab faults of the area registry_api: the registry's API (checks/test_registry_api.py)."""
from .. import site, util
from . import Fault
from .site_ops import sx


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


FAULTS = [
    Fault("registry_api:down", inj_registry_down, heal_registry_down,
          "the registry container stopped: /v2/ refused [repository]"),
]
