"""End-to-end scenarios against the hive lab (lab/). Skipped unless HH_LAB=1.

The lab is brought up by tests/run-all.sh (make test) and its project directory passed in
HH_SITE; these tests inject faults, run the suite as an operator would (a separate pytest
process with --hive-root), read the JSON report the run wrote (reports/latest.json, or
latest-partial.json for a run narrowed by -k, replay-latest*.json for a replay), and always heal
the lab afterwards.
"""
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(config, items):
    if os.environ.get("HH_LAB") == "1" and os.environ.get("HH_SITE"):
        return
    skip = pytest.mark.skip(reason="needs the hive lab: run `make test` (or HH_LAB=1 HH_SITE=<project dir>)")
    for item in items:
        item.add_marker(skip)


class Suite:
    """Runs the health suite against the lab as a separate process, like an operator."""

    def __init__(self, site: str, reports: Path):
        self.site = site
        self.reports = reports

    def run(self, *args, timeout=900):
        self.reports.mkdir(parents=True, exist_ok=True)
        started = time.time_ns()
        cmd = [sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(REPO),
               "--hive-root", self.site, "-o", f"report_dir={self.reports}", *args]
        p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        written = [f for f in (self.reports / f"{stem}.json" for stem in
                               ("latest", "latest-partial", "replay-latest", "replay-latest-partial"))
                   if f.exists() and f.stat().st_mtime_ns >= started]
        doc = json.loads(written[0].read_text()) if written else None
        return Result(p.returncode, p.stdout + p.stderr, doc)


class Result:
    def __init__(self, rc, output, doc):
        self.rc, self.output, self.doc = rc, output, doc

    @property
    def checks(self):
        return self.doc["checks"] if self.doc else []

    def failed(self):
        return {c["id"]: c["message"] for c in self.checks if c["outcome"] in ("failed", "error")}

    def outcome(self, fragment):
        return {c["id"]: c["outcome"] for c in self.checks if fragment in c["id"]}

    def __repr__(self):
        return f"<suite rc={self.rc}>\n{self.output[-6000:]}"


def poll(suite, done, *args, timeout=90):
    """Run the suite every 5 s until done(result) or the timeout; returns the last result."""
    deadline = time.time() + timeout
    while True:
        r = suite.run(*args)
        if done(r) or time.time() > deadline:
            return r
        time.sleep(5)


def wait_for_green(suite, timeout=90):
    """A failover leaves the service freshly restarted: with earlier failed tasks still in its
    history that reads as a restart loop until the new task has stayed up service_stable_seconds."""
    return poll(suite, lambda r: r.rc == 0, timeout=timeout)


def lab(*args, check=True, timeout=600):
    p = subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, capture_output=True,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"python -m lab {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout.strip()


@pytest.fixture(scope="session")
def site():
    return os.environ["HH_SITE"]


@pytest.fixture(scope="session")
def suite(site, tmp_path_factory):
    return Suite(site, tmp_path_factory.mktemp("reports"))


@pytest.fixture
def fault(suite):
    """inject(name, target=None); after the test, whatever happened, the lab is healed and the
    next scenario starts only from a lab the suite finds all green."""
    injected = []

    def inject(name, target=None):
        injected.append(name)
        return lab("inject", name, *([target] if target else []))
    yield inject
    if injected:
        lab("heal")
        healed = wait_for_green(suite)
        assert healed.rc == 0, f"the lab is not green after heal of {', '.join(injected)}\n{healed!r}"


def ssh(site, host, command, timeout=60):
    """Run a command on a lab server the way an operator does: ssh -F <ctx>/ssh_config."""
    cfg = Path(site) / ".hive" / "staging" / "ssh_config"
    p = subprocess.run(["ssh", "-F", str(cfg), host, command], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"ssh {host} {command!r} failed ({p.returncode}): {p.stderr}")
    return p.stdout


class LdapVolume:
    """Reads and writes a file inside the ldap service's DRBD volume, through its running task."""

    def __init__(self, site):
        self.site = site

    def _task(self):
        node = ssh(self.site, "s-hive0.lab", "sudo docker service ps ldap --filter desired-state=running "
                                              "--format '{{.Node}} {{.CurrentState}}'").split()
        assert node and node[1] == "Running", f"ldap is not running: {node}"
        host = f"{node[0]}.lab"
        container = ssh(self.site, host, "sudo docker ps -q -f label=com.docker.swarm.service.name=ldap").split()[0]
        return host, container

    def write(self, name, text):
        """Write text + newline; returns the md5 the file must keep."""
        host, c = self._task()
        ssh(self.site, host, f"echo {text} | sudo docker exec -i {c} sh -c 'cat > /data/{name} && sync'")
        return hashlib.md5(f"{text}\n".encode()).hexdigest()

    def checksum(self, name):
        """md5 of the file as read back through the service (its image has no md5sum)."""
        host, c = self._task()
        return hashlib.md5(ssh(self.site, host, f"sudo docker exec {c} cat /data/{name}").encode()).hexdigest()


@pytest.fixture
def ldap_volume(site):
    return LdapVolume(site)
