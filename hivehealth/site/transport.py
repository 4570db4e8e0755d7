"""Running a shell script on a server: one connection per server per process, reused.

Three transports:
- hive: paramiko with the site's ssh_config, read exactly as `hive ssh -F ssh_config` reads it
  (HostName, Port, User, IdentityFile, UserKnownHostsFile, StrictHostKeyChecking, ProxyCommand);
- local: this machine, through sh;
- testinfra: any host spec testinfra understands (--hosts), through its backends.
Every failure to reach a server becomes `Unreachable` with a reason an operator can act on.
"""
from __future__ import annotations

import os
import shlex
import socket
import subprocess
import threading
import time
from dataclasses import dataclass

import paramiko

from hivehealth.site.inventory import Server


class Unreachable(Exception):
    """The server could not be reached or did not answer; str() is the operator's reason."""


@dataclass
class ExecResult:
    rc: int
    stdout: str
    stderr: str
    sent_at: float | None = None           # when the command was sent, on an open connection
    first_output_at: float | None = None   # when the first stdout byte arrived (clock window)


def _known_hosts_files(opts: dict) -> list[str]:
    value = opts.get("userknownhostsfile")
    if value is None:
        return [os.path.expanduser("~/.ssh/known_hosts")]
    return [os.path.expanduser(p) for p in value.split()]


class HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """StrictHostKeyChecking as OpenSSH: 'yes' (and 'ask' with no terminal) refuses unknown keys."""

    def __init__(self, strict: str, files: list[str]):
        self.strict = (strict or "ask").lower()
        self.files = files

    def missing_host_key(self, client, hostname, key):
        if self.strict in ("no", "off", "accept-new"):
            client.get_host_keys().add(hostname, key.get_name(), key)
            return
        raise Unreachable(
            f"host key of {hostname} is not in {' '.join(self.files)} and StrictHostKeyChecking is "
            f"{self.strict}; it was never accepted (runbook FAQ 7.18 if the server was rebuilt)")


class SSHTransport:
    def __init__(self, server: Server, connect_timeout: float):
        self.server = server
        self.connect_timeout = connect_timeout
        self._client: paramiko.SSHClient | None = None

    def _options(self) -> dict:
        try:
            cfg = paramiko.SSHConfig.from_path(self.server.ssh_config)
        except OSError as e:
            raise Unreachable(f"cannot read ssh_config {self.server.ssh_config}: {e.strerror}") from None
        return cfg.lookup(self.server.name)

    def _connect(self) -> paramiko.SSHClient:
        o = self._options()
        host = o.get("hostname", self.server.name)
        port = int(o.get("port", 22))
        files = _known_hosts_files(o)
        client = paramiko.SSHClient()
        for f in files:
            if f != "/dev/null" and os.path.exists(f):
                try:
                    client.load_host_keys(f)
                except (OSError, paramiko.SSHException) as e:
                    raise Unreachable(f"cannot read known_hosts {f}: {e}") from None
        client.set_missing_host_key_policy(HostKeyPolicy(o.get("stricthostkeychecking"), files))
        keys = [os.path.expanduser(k) for k in o.get("identityfile", [])]
        only = str(o.get("identitiesonly", "no")).lower() == "yes"
        timeout = float(o.get("connecttimeout", self.connect_timeout))
        where = f"{self.server.name} ({host}:{port})"
        try:
            sock = paramiko.ProxyCommand(o["proxycommand"]) if o.get("proxycommand") else _tcp(host, port, timeout)
            client.connect(host, port, username=o.get("user"), key_filename=keys or None,
                           look_for_keys=not only and not keys, allow_agent=not only,
                           timeout=timeout, banner_timeout=timeout, auth_timeout=timeout, sock=sock)
        except paramiko.BadHostKeyException as e:
            raise Unreachable(
                f"host key of {where} does not match {' '.join(files)} (got {e.key.get_name()} "
                f"{e.key.get_fingerprint().hex()}): the server was rebuilt or the connection is "
                f"intercepted; not accepted. Runbook FAQ 7.18: check the server, then remove its "
                f"entry from known_hosts and run hive build-infra") from None
        except paramiko.AuthenticationException as e:
            raise Unreachable(f"authentication failed for {o.get('user')}@{where}: {e}") from None
        except (socket.timeout, TimeoutError):
            raise Unreachable(f"connect to {where} timed out after {timeout:g} s") from None
        except Unreachable:
            raise
        except (OSError, paramiko.SSHException, EOFError) as e:
            raise Unreachable(f"cannot connect to {where}: {e or type(e).__name__}") from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
        return client

    def open_client(self) -> paramiko.SSHClient:
        """The open connection, opened if needed; site checks (testinfra) share it."""
        if self._client is None or not self._client.get_transport() or \
                not self._client.get_transport().is_active():
            self._client = self._connect()
        return self._client

    def run(self, script: str, timeout: float) -> ExecResult:
        client = self.open_client()
        try:
            chan = client.get_transport().open_session(timeout=self.connect_timeout)
            chan.settimeout(timeout)
            sent = time.time()
            chan.exec_command("sh -s")
            chan.sendall(script.encode())
            chan.shutdown_write()
            out, err, first = _drain(chan)
            rc = chan.recv_exit_status()
            chan.close()
        except (socket.timeout, TimeoutError):
            self.close()
            raise Unreachable(f"{self.server.name} did not finish its commands within {timeout:g} s") from None
        except (OSError, paramiko.SSHException, EOFError) as e:
            self.close()
            raise Unreachable(f"connection to {self.server.name} failed: {e or type(e).__name__}") from None
        return ExecResult(rc, out, err, sent, first)

    def close(self):
        if self._client is not None:
            self._client.close()
            self._client = None


def _tcp(host: str, port: int, timeout: float) -> socket.socket:
    """The TCP connection, with Nagle off as OpenSSH does: the SSH handshake is a string of
    small messages, and on a link with latency each would otherwise wait for a delayed ACK."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _drain(chan) -> tuple[str, str, float | None]:
    """Read stdout, then stderr, noting when stdout's first bytes arrived. The probe keeps every
    command's stderr in its own section, so the channel's stderr stays far below the window
    that could block stdout."""
    out, first = [], None
    while True:
        data = chan.recv(65536)
        if not data:
            break
        if first is None:
            first = time.time()
        out.append(data)
    err = chan.makefile_stderr("rb").read()
    return b"".join(out).decode(errors="replace"), err.decode(errors="replace"), first


class LocalTransport:
    def __init__(self, server: Server):
        self.server = server

    def run(self, script: str, timeout: float) -> ExecResult:
        try:
            p = subprocess.run(["sh", "-s"], input=script, capture_output=True, text=True,
                               timeout=timeout, errors="replace")
        except subprocess.TimeoutExpired:
            raise Unreachable(f"local commands did not finish within {timeout:g} s") from None
        return ExecResult(p.returncode, p.stdout, p.stderr)

    def close(self):
        pass


class TestinfraTransport:
    """Hosts given with --hosts go through testinfra's own backends (ssh, paramiko, docker...)."""

    def __init__(self, server: Server, connect_timeout: float):
        import testinfra
        self.server = server
        self.host = testinfra.get_host(server.spec, ssh_config=server.ssh_config,
                                       timeout=int(connect_timeout))

    def run(self, script: str, timeout: float) -> ExecResult:
        result: dict = {}

        def target():
            try:
                result["r"] = self.host.run("timeout -k 5 %s sh -c %s" % (int(timeout), shlex.quote(script)))
            except Exception as e:   # testinfra raises backend-specific errors
                result["e"] = e
        t = threading.Thread(target=target, daemon=True)
        t.start()
        t.join(timeout + 10)
        if t.is_alive():
            raise Unreachable(f"{self.server.name} did not answer within {timeout:g} s")
        if "e" in result:
            raise Unreachable(f"cannot run commands on {self.server.spec}: {result['e']}")
        r = result["r"]
        return ExecResult(r.rc, r.stdout, r.stderr)

    def close(self):
        pass


class Pool:
    """One transport per server for this process (one SSH connection per server per worker)."""

    def __init__(self, connect_timeout: float = 10):
        self.connect_timeout = connect_timeout
        self._transports: dict[str, object] = {}
        self._lock = threading.Lock()

    def transport(self, server: Server):
        with self._lock:
            t = self._transports.get(server.name)
            if t is None:
                if server.spec == "local":
                    t = LocalTransport(server)
                elif server.spec == "hive":
                    t = SSHTransport(server, self.connect_timeout)
                else:
                    try:
                        t = TestinfraTransport(server, self.connect_timeout)
                    except Exception as e:
                        raise Unreachable(f"cannot use host spec {server.spec}: {e}") from None
                self._transports[server.name] = t
            return t

    def run(self, server: Server, script: str, timeout: float) -> ExecResult:
        return self.transport(server).run(script, timeout)

    def close(self):
        for t in self._transports.values():
            t.close()
        self._transports.clear()
