"""The suite installed the way an operator installs it: `pip install` of this checkout into a
fresh virtualenv (packages from the configured index only), run from outside the checkout."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def install(where: Path) -> Path:
    """A fresh venv in `where` with the package installed from a copy of the checkout's files
    (a copy: a build in the checkout itself would leave build/ behind, and stale modules in it);
    returns the venv's bin directory."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split("\n")
    src = where / "src"
    for name in filter(None, files):
        if (REPO / name).is_file() and not name.startswith(("lab/", "tests/", "bench/", "docs/", "reports/")):
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(src)],
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"pip install of the checkout failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    return venv / "bin"


def run(bin_dir: Path, command: str, *args, cwd: Path, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir / command), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
