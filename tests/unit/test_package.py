"""The suite as a package: `pip install` of the checkout into a fresh virtualenv gives a
`hive-health` command that works from any directory, makes plain `pytest` in a hive project
check that site, and leaves every other pytest run alone. No server is contacted: a recording
and a project whose servers refuse connections stand in for a site."""
import json

import pytest

import installed
from test_cli import _unreachable_project
from test_states import FORMAT1_BUNDLE, FORMAT1_EXPECT, compare


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    return installed.install(tmp_path_factory.mktemp("package"))


def _doc(reports, stem="latest-partial"):
    return json.loads((reports / f"{stem}.json").read_text())


def test_hive_health_from_any_directory_replays_with_the_checks_ids(venv, tmp_path):
    r = installed.run(venv, "hive-health", "--replay", str(FORMAT1_BUNDLE), "-o", f"report_dir={tmp_path / 'r'}",
                      cwd=tmp_path)
    doc = _doc(tmp_path / "r", "replay-latest")
    assert r.returncode == 1, r.stdout + r.stderr
    assert compare("format1-example", FORMAT1_EXPECT, doc) == []
    assert doc["checks"] and all(c["id"].startswith("checks/test_") for c in doc["checks"]), doc["checks"][0]["id"]
    assert "Warning" not in r.stdout, r.stdout


def test_hive_root_in_two_words_and_plain_pytest_in_the_project_check_the_same_site(venv, tmp_path):
    site = _unreachable_project(tmp_path / "site")
    r = installed.run(venv, "hive-health", "--hive-root", str(site), "-k", "disk", "-o",
                      f"report_dir={tmp_path / 'a'}", cwd=tmp_path)
    a = _doc(tmp_path / "a")
    assert r.returncode == 1, r.stdout + r.stderr
    assert len(a["checks"]) == 4 and all(c["outcome"] == "failed" and "unreachable" in c["message"]
                                         for c in a["checks"]), a["checks"]
    ids = sorted(c["id"] for c in a["checks"])
    assert ids[0] == "checks/test_disk.py::test_disk[s-hive0.pdns]"
    for command in ("pytest", "hive-health"):      # typed in the project directory, and in a folder of it
        for cwd in (site, site / "inventory"):
            (site / "reports" / "latest-partial.json").unlink(missing_ok=True)
            r = installed.run(venv, command, "-k", "disk", cwd=cwd)
            assert r.returncode == 1, r.stdout + r.stderr
            assert sorted(c["id"] for c in _doc(site / "reports")["checks"]) == ids, (command, cwd)
            assert not (site / "inventory" / "reports").exists()


def test_pytest_anywhere_else_is_untouched(venv, tmp_path):
    (tmp_path / "test_mine.py").write_text("import pytest\n\ndef test_mine():\n    assert 1 + 1 == 3\n\n"
                                           "def test_later():\n    pytest.skip('not today')\n")
    r = installed.run(venv, "pytest", "-q", "-rs", cwd=tmp_path)
    assert r.returncode == 1 and "1 failed, 1 skipped" in r.stdout, r.stdout + r.stderr
    assert "SKIPPED [1] test_mine.py:7: not today" in r.stdout, r.stdout       # pytest's own skip line
    assert "assert (1 + 1) == 3" in r.stdout or "assert 2 == 3" in r.stdout      # its own asserts, rewritten
    assert "hive-health" not in r.stdout and not (tmp_path / "reports").exists()
    r = installed.run(venv, "pytest", "--help", cwd=tmp_path)
    assert "--hive-root" in r.stdout        # installed (its options are known) but inert
