"""Lab faults of the area hive_state: the hive project's own state (checks/test_hive_state.py)."""
import os

from .. import util
from . import Fault


def _persistents():
    return os.path.join(util.SITE_DIR, ".hive", "persistents.yml")


def inj_no_format_left(lab, target):
    import yaml
    path = _persistents()
    with open(path) as f:
        text = f.read()
    doc = yaml.safe_load(text) or {}
    doc.setdefault("no_format", {})["global"] = True
    with open(path, "w") as f:
        yaml.safe_dump(doc, f, default_flow_style=False, sort_keys=False)
    return None, f"no_format: {{global: true}} left in {path} after a recovery", {"orig": text}


def heal_no_format_left(lab, s, rec):
    with open(_persistents(), "w") as f:
        f.write(rec["orig"])


FAULTS = [
    Fault("hive_state:no-format-left", inj_no_format_left, heal_no_format_left,
          "no_format: {global: true} left in .hive/persistents.yml"),
]
