"""The suite as an operator installs it: `pip install` of the checkout into a fresh virtualenv,
then the `hive-health` command from another directory and plain `pytest` typed in the hive
project, against the lab. Both give the checkout's answers, under the same check ids."""
import json

import installed


def test_installed_package_checks_the_lab_like_the_checkout(suite, site, tmp_path):
    venv = installed.install(tmp_path / "package")
    checkout = suite.run()
    assert checkout.rc == 0, checkout
    expected = {c["id"]: c["outcome"] for c in checkout.checks}
    assert "checks/test_drbd.py::test_drbd[ldap_data]" in expected
    for name, command, args, cwd in (
            ("hive-health", "hive-health", ["--hive-root", site], tmp_path),
            ("pytest in the project", "pytest", [], site)):
        reports = tmp_path / name.replace(" ", "-")
        r = installed.run(venv, command, *args, "-o", f"report_dir={reports}", cwd=cwd, timeout=900)
        doc = json.loads((reports / "latest.json").read_text())
        assert r.returncode == 0, f"{name}:\n{r.stdout[-6000:]}{r.stderr[-3000:]}"
        assert {c["id"]: c["outcome"] for c in doc["checks"]} == expected, name
