"""The suite as an operator starts it, for the bundle tests: the installed `hive-health` command
(this venv's console script; `python -m hivehealth.cli`, the same code, where it is not installed)
or plain `pytest` with the installed plugin, in a separate process, under a timeout and a memory
limit, so that a regression (a replay that hangs, an alias bomb expanding) fails the test rather
than the machine."""
from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from pathlib import Path

MEMORY_MAX = 2 << 30        # address space of the suite's process
TIMEOUT = 120


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_MAX, MEMORY_MAX))


def hive_health_argv() -> list[str]:
    script = Path(sys.executable).parent / "hive-health"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hivehealth.cli"]


def pytest_argv() -> list[str]:
    script = Path(sys.executable).parent / "pytest"
    return [str(script)] if script.exists() else [shutil.which("pytest") or "pytest"]


def run(argv: list[str], cwd: Path, timeout: float = TIMEOUT) -> tuple[int, str]:
    """(exit status, stdout and stderr); a run past `timeout` raises subprocess.TimeoutExpired."""
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, errors="backslashreplace",
                       timeout=timeout, stdin=subprocess.DEVNULL, preexec_fn=_limits)
    return p.returncode, p.stdout + p.stderr


def hive_health(*args, cwd: Path, timeout: float = TIMEOUT) -> tuple[int, str]:
    return run(hive_health_argv() + ["-p", "no:randomly", *map(str, args)], cwd, timeout)


def plain_pytest(*args, cwd: Path, timeout: float = TIMEOUT) -> tuple[int, str]:
    return run(pytest_argv() + ["-p", "no:randomly", *map(str, args)], cwd, timeout)


def crashed(out: str) -> bool:
    return "Traceback" in out or "INTERNALERROR" in out
