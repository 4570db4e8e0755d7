"""Every bundle of the hostile corpus (tests/data/bundles/hostile/, one trick each, see its
README) replayed through the real command line, as an operator replays a support bundle: from
the directory holding it, and from inside it. None runs code, writes outside the report folder,
crashes or stalls.

The corpus holds no importable hostile module and no FIFO (git keeps neither safely): a copy of a
bundle gets its `*.hostile` files under their real names (conftest.py, health/test_hostile.py)
and its `*.fifo` files as FIFOs, which block whoever opens them to read."""
import json
import os
import shutil
from pathlib import Path

import pytest

from bundle_run import crashed, hive_health, plain_pytest

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bundles" / "hostile"
BUNDLES = sorted(p.name for p in CORPUS.iterdir() if (p / "site.json").is_file())
MARKER = "HOSTILE-CODE-RAN"
TIMEOUT = 60


def armed_copy(name: str, work: Path) -> Path:
    """The corpus (every bundle, and what lies beside them) copied into `work`, links kept as
    links; the bundle `name` armed."""
    shutil.copytree(CORPUS, work / "corpus", symlinks=True)
    bundle = work / "corpus" / name
    for path in sorted(bundle.rglob("*")):
        if path.name.endswith(".hostile"):
            path.rename(path.with_name(path.name.removesuffix(".hostile")))
        elif path.name.endswith(".fifo"):
            path.unlink()
            os.mkfifo(path.with_name(path.name.removesuffix(".fifo")))
    return bundle


def snapshot(root: Path, skip: Path) -> dict[str, tuple]:
    """Every file and directory under root but `skip`, with what a write would change."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if Path(path) != skip:
                st = os.lstat(path)
                out[path] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


# (how the bundle is given, the directory the command starts in, relative to the corpus copy)
WAYS = {"beside": lambda name: (name, "."), "inside": lambda name: (".", name)}


# every bundle from beside it with the command, and from inside it with plain pytest (which would
# import a conftest.py there by itself); from inside it with the command where the trick is "."
CASES = [(name, how) for name in BUNDLES for how in ("hive-health beside", "pytest inside")] + \
    [(name, "hive-health inside") for name in BUNDLES
     if json.loads((CORPUS / name / "site.json").read_text())["site"]["root"] == "."]


@pytest.mark.parametrize("name, how", CASES)
def test_a_hostile_bundle_replays_as_data(tmp_path, name, how):
    command, where = how.split()
    bundle = armed_copy(name, tmp_path)
    given, start = WAYS[where](name)
    cwd = (bundle.parent / start).resolve()
    reports = tmp_path / "reports"
    before = snapshot(tmp_path, reports)
    run = hive_health if command == "hive-health" else plain_pytest
    rc, out = run("--replay", given, "-o", f"report_dir={reports}", "-rs", cwd=cwd, timeout=TIMEOUT)

    assert not list(tmp_path.rglob(MARKER)), f"the bundle's code ran:\n{out}"
    assert not crashed(out), out
    assert rc in (0, 1), out
    assert (reports / "replay-latest.json").is_file() and (reports / "replay-latest.html").is_file(), out
    assert snapshot(tmp_path, reports) == before, "the replay wrote outside its report folder"
    assert "HH-OUTSIDE-SECRET" not in out + (reports / "replay-latest.json").read_text() + \
        (reports / "replay-latest.html").read_text(errors="replace")
