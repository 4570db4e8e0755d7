"""`hive-health`: the suite from any directory.

    cd /home/admin/site && hive-health --fix -k drbd
    hive-health --hive-root /home/admin/site --gate

pytest with the engine loaded first (so `--hive-root DIR` is an option with its value, never
a path pytest looks for its configuration in), the package's own checks, and the package
directory as rootdir (so checks keep their ids, `checks/test_<area>.py::...`). The site is
--hive-root DIR (or $HIVE_ROOT), or a hive project given as an argument (`hive-health SITE`),
else the nearest hive project at or above the current directory; this machine only with
--local (hivehealth.plugin, hivehealth.site.inventory). Reports go to `report_dir` under the
site's own pytest.ini's directory, else the pytest.ini in use, else the site's directory
(hivehealth.options.base_dir).
"""
from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest

from hivehealth import __version__

PACKAGE = Path(__file__).resolve().parent


def arguments(argv: list[str]) -> list[str]:
    return ["-p", "hivehealth.plugin", "--rootdir", str(PACKAGE), "-ra", "--tb=line",
            # this command is itself part of the package pytest would rewrite (its asserts are
            # the checks', which use none): nothing to warn about
            "-W", "ignore:Module already imported so cannot be rewritten; hivehealth:pytest.PytestAssertRewriteWarning",
            *argv, str(PACKAGE / "checks")]


# what a bug report needs beside the suite's own version: the engine and the SSH layer
COMPONENTS = ("pytest", "pytest-testinfra", "paramiko")


def version_line() -> str:
    """`hive-health 1.0 (pytest 9.0.3, pytest-testinfra 10.2.2, paramiko 3.5.1, Python 3.11.7)`"""
    parts = []
    for name in COMPONENTS:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} not installed")
    parts.append(f"Python {sys.version.split()[0]}")
    return f"hive-health {__version__} ({', '.join(parts)})"


class Command:
    """The usage line and argument errors name the command the operator typed, whatever file
    started it (the console script, `python -m hivehealth.cli`, bin/hive-health)."""

    def pytest_addoption(self, parser):
        parser.prog = "hive-health"


def main(argv: list[str] | None = None) -> int:
    return run(list(sys.argv[1:] if argv is None else argv))


def run(args: list[str], plugins=()) -> int:
    """The command with `args`; `plugins` join the run (hivehealth.cron reads its settings)."""
    options = args[:args.index("--")] if "--" in args else args
    if "--version" in options or "-V" in options:
        print(version_line())
        if options.count("--version") + options.count("-V") < 2:
            return 0
        # twice: pytest's own detail (its plugins) follows
        args = [a if a != "-V" else "--version" for a in args]
    return int(pytest.main(arguments(args), plugins=[Command(), *plugins]))


if __name__ == "__main__":
    sys.exit(main())
