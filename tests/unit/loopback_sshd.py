"""A real OpenSSH server on loopback for the transport's tests (Debian package openssh-server;
tests/run-all.sh installs it). Each one has its own host key, accepts this user's test key only,
listens on 127.0.0.1 at a free port, and logs to a file the test can read."""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)

needs_sshd = pytest.mark.skipif(SSHD is None or shutil.which("ssh-keygen") is None,
                                reason="OpenSSH server not installed (apt-get install openssh-server)")


def keygen(path: Path, kind="ed25519") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "", "-f", str(path)], check=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    def __init__(self, base: Path, client_key: Path, name: str):
        self.dir = base / name
        self.dir.mkdir(parents=True)
        os.chmod(self.dir, 0o700)
        self.host_key = keygen(self.dir / "host_key")
        (self.dir / "authorized_keys").write_text((client_key.parent / (client_key.name + ".pub")).read_text())
        self.port = free_port()
        self.log = self.dir / "sshd.log"
        self.user = getpass.getuser()
        self.proc = None

    def public_key(self) -> str:
        return (self.dir / "host_key.pub").read_text().split()[1]

    def start(self, host_key: Path | None = None):
        if host_key is not None:
            self.host_key = host_key
        cfg = self.dir / "sshd_config"
        cfg.write_text(f"ListenAddress 127.0.0.1:{self.port}\nHostKey {self.host_key}\n"
                       f"AuthorizedKeysFile {self.dir}/authorized_keys\nStrictModes no\n"
                       "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
                       "PermitRootLogin prohibit-password\nAllowTcpForwarding yes\nLogLevel DEBUG1\n"
                       f"PidFile {self.dir}/sshd.pid\n")
        os.makedirs("/run/sshd", exist_ok=True)   # sshd's privilege separation directory
        self.proc = subprocess.Popen([SSHD, "-D", "-f", str(cfg), "-E", str(self.log)])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"sshd exited: {self.log.read_text()}")
                time.sleep(0.05)
        raise RuntimeError("sshd did not listen")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def sshds(tmp_path):
    """make(name) -> a started Sshd; all of them stopped at the end. client_key: the key they accept."""
    client_key = keygen(tmp_path / "id_test")
    started = []

    def make(name: str) -> Sshd:
        d = Sshd(tmp_path / "sshd", client_key, name).start()
        started.append(d)
        return d
    make.client_key = client_key
    yield make
    for d in started:
        d.stop()
