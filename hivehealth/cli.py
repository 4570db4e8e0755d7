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
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent


def arguments(argv: list[str]) -> list[str]:
    return ["-p", "hivehealth.plugin", "--rootdir", str(PACKAGE), "-ra", "--tb=line",
            "-p", "no:cacheprovider",
            # this command is itself part of the package pytest would rewrite (its asserts are
            # the checks', which use none): nothing to warn about
            "-W", "ignore:Module already imported so cannot be rewritten; hivehealth:pytest.PytestAssertRewriteWarning",
            *argv, str(PACKAGE / "checks")]


def main(argv: list[str] | None = None) -> int:
    return int(pytest.main(arguments(list(sys.argv[1:] if argv is None else argv))))


if __name__ == "__main__":
    sys.exit(main())
