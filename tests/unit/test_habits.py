"""The habits of pytest and Ansible, through the installed `hive-health` command: --version,
the usage line, --lf/--ff/--sw, --limit, and the nightly wrapper a pip or pipx install gives."""
import subprocess
import sys
from importlib import metadata

from hivehealth import __version__
from test_verdict import HIVE_HEALTH, hive_health


def test_version_names_the_suite_and_what_it_runs_on(tmp_path):
    rc, out, err = hive_health("--version", cwd=tmp_path)
    assert rc == 0, out + err
    line = out.strip()
    assert line.startswith(f"hive-health {__version__} (")
    for name in ("pytest", "pytest-testinfra", "paramiko"):
        assert f"{name} {metadata.version(name)}" in line
    assert not (tmp_path / "reports").exists()
    rc, out, err = hive_health("-V", cwd=tmp_path)
    assert rc == 0 and out.strip() == line, out + err


def test_the_usage_line_names_hive_health_however_it_was_started(tmp_path):
    for argv in ([str(HIVE_HEALTH)], [sys.executable, "-m", "hivehealth.cli"]):
        p = subprocess.run([*argv, "--no-such-option"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 4, p.stdout + p.stderr
        assert "usage: hive-health [options]" in p.stderr
        assert "hive-health: error: unrecognized arguments: --no-such-option" in p.stderr
        assert "pytest.main()" not in p.stderr and "cli.py" not in p.stderr
