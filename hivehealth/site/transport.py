"""Running a shell script on a server: one connection per server per process, reused.

Three transports:
- hive: paramiko with the site's ssh_config, resolved per host as `hive ssh` (`ssh -F ssh_config`)
  resolves it (hivehealth.site.ssh_config), ProxyJump through each jump host's own connection;
- local: this machine, through sh;
- testinfra: any host spec testinfra understands (--hosts), through its backends.
Every failure to reach a server becomes `Unreachable` with a reason an operator can act on.
"""
from __future__ import annotations

import fcntl
import getpass
import os
import select
import shlex
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hivehealth.safe_write import open_in_place
from hivehealth.site import ssh_config
from hivehealth.site.inventory import Server

if TYPE_CHECKING:        # paramiko is imported where a connection is made: a replay never loads it
    import paramiko


class Unreachable(Exception):
    """The server could not be reached or did not answer; str() is the operator's reason."""


class LocalProblem(Exception):
    """This machine keeps every server out of reach (the admin key cannot be read): the servers
    are not at fault, so no check of theirs says so; the run stops on this one reason."""


def readable_keys(paths: list[str], where: str | None) -> list[str]:
    """The identity files that exist, each one readable; ssh skips a default key that is not
    there, but one this user cannot read is a LocalProblem naming it."""
    found = []
    for k in paths:
        try:
            with open(k, "rb"):
                found.append(k)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise LocalProblem(
                f"cannot read the SSH key {k}{f' (IdentityFile of {where})' if where else ''}: "
                f"{e.strerror} for user {getpass.getuser()}; run hive-health as the user that runs "
                f"hive for this site, or give that user read access to the key") from None
    return found


class Unfinished(Unreachable):
    """The commands did not finish by their deadline (timed_out), or sent more than is kept;
    .result holds what arrived before (its rc -1)."""

    def __init__(self, reason: str, result: "ExecResult", timed_out: bool):
        super().__init__(reason)
        self.result, self.timed_out = result, timed_out


@dataclass
class ExecResult:
    rc: int
    stdout: str
    stderr: str
    sent_at: float | None = None           # when the command was sent, on an open connection
    first_output_at: float | None = None   # when the first stdout byte arrived (clock window)


class HostKeyPolicy:
    """StrictHostKeyChecking as OpenSSH: 'yes' (and 'ask', with no terminal to ask on) refuses a
    key known_hosts does not have; 'accept-new' and 'no' accept it and record it in the first
    UserKnownHostsFile, as OpenSSH does (hashed when HashKnownHosts is yes or the file's entries
    are hashed already), and refuse it when it cannot be recorded. A key that differs from the
    recorded one never reaches this policy: paramiko refuses it (BadHostKeyException). (paramiko
    only calls missing_host_key: no need to load it to subclass its MissingHostKeyPolicy.)"""

    def __init__(self, o: ssh_config.Options):
        self.strict = (o.strict or "ask").lower()
        self.files = o.knownhosts
        self.hashed = o.hashknownhosts

    def missing_host_key(self, client, hostname, key):
        if self.strict not in ("no", "off", "accept-new"):
            raise Unreachable(
                f"host key of {hostname} is not in {' '.join(self.files)} and StrictHostKeyChecking is "
                f"{self.strict}; it was never accepted (runbook FAQ 7.18 if the server was rebuilt)")
        target = next((f for f in self.files if f != "/dev/null"), None)
        if target is not None:
            try:
                record_host_key(target, hostname, key, self.hashed)
            except OSError as e:
                raise Unreachable(f"StrictHostKeyChecking {self.strict}: the new host key of {hostname} "
                                  f"cannot be recorded in {target} ({e.strerror}); not accepted") from None
        client.get_host_keys().add(hostname, key.get_name(), key)


def record_host_key(path: str, hostname: str, key, hash_names: bool):
    """Append `hostname key` to a known_hosts file, under a lock (several workers may meet the
    same new server). A key recorded meanwhile for this name and type is compared, never replaced."""
    import paramiko
    fd = open_in_place(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8", errors="surrogateescape") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read()
        known = paramiko.HostKeys()
        for line in text.splitlines():
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
            except (paramiko.SSHException, ValueError):   # a line paramiko cannot read
                continue
            if entry is not None:
                for name in entry.hostnames:
                    known.add(name, entry.key.get_name(), entry.key)
        recorded = (known.lookup(hostname) or {}).get(key.get_name())
        if recorded is not None:
            if recorded != key:
                raise Unreachable(f"host key of {hostname} changed while it was being recorded in {path}; "
                                  f"not accepted")
            return
        hashed = hash_names or any(line.startswith("|1|") for line in text.splitlines())
        name = paramiko.HostKeys.hash_host(hostname) if hashed else hostname
        prefix = "" if not text or text.endswith("\n") else "\n"
        f.write(f"{prefix}{name} {key.get_name()} {key.get_base64()}\n")
        f.flush()
        os.fsync(f.fileno())


MAX_JUMPS = 8


class SSHTransport:
    def __init__(self, server: Server, connect_timeout: float):
        self.server = server
        self.connect_timeout = connect_timeout
        self._client: paramiko.SSHClient | None = None
        self._jumps: list[paramiko.SSHClient] = []    # clients of the ProxyJump hosts, kept open

    def _options(self, host: str, user: str | None = None, port: int | None = None) -> ssh_config.Options:
        path = self.server.ssh_config
        try:
            return ssh_config.resolve(path, host, user, port)
        except OSError as e:
            raise Unreachable(f"cannot read ssh_config {path}: {e.strerror}") from None
        except (ssh_config.ConfigError, ssh_config.HostError) as e:
            raise Unreachable(str(e)) from None

    def _connect(self) -> paramiko.SSHClient:
        return self._open(self._options(self.server.name), [])

    def _socket(self, o: ssh_config.Options, chain: list[str], timeout: float):
        """How the SSH session reaches o: a ProxyJump's channel, a ProxyCommand, or TCP."""
        import paramiko
        if o.proxyjump:
            hops = [h for h in o.proxyjump.split(",") if h.strip()]
            try:
                user, host, port = ssh_config.parse_jump(hops[-1])
            except ssh_config.HostError as e:
                raise Unreachable(str(e)) from None     # shown after the server's name, as every reason
            if len(chain) >= MAX_JUMPS or host in chain:
                raise Unreachable(f"ProxyJump loops or is longer than "
                                  f"{MAX_JUMPS} hops: {' -> '.join(chain + [host])}")
            jo = self._options(host, user, port)
            if len(hops) > 1:       # as `ssh -J a,b`: b is reached through a, whatever b's own config says
                jo.proxyjump, jo.proxycommand = ",".join(hops[:-1]), None
            jump = self._open(jo, chain + [host])
            self._jumps.append(jump)
            try:
                return jump.get_transport().open_channel(
                    "direct-tcpip", (o.hostname, o.port), ("127.0.0.1", 0), timeout=timeout)
            except (OSError, paramiko.SSHException, EOFError) as e:
                raise Unreachable(f"jump host {host} could not open a channel to {o.hostname}:{o.port}: "
                                  f"{e or type(e).__name__}") from None
        if o.proxycommand:
            return paramiko.ProxyCommand(_expand(o.proxycommand, o))
        return _tcp(o.hostname, o.port, timeout)

    def _open(self, o: ssh_config.Options, chain: list[str]) -> paramiko.SSHClient:
        import paramiko
        client = paramiko.SSHClient()
        for f in o.globalknownhosts:
            if os.path.exists(f):
                try:
                    client.load_system_host_keys(f)
                except (OSError, paramiko.SSHException) as e:
                    raise Unreachable(f"cannot read known_hosts {f}: {e}") from None
        for f in o.knownhosts:
            if f != "/dev/null" and os.path.exists(f):
                try:
                    client.load_host_keys(f)
                except (OSError, paramiko.SSHException, UnicodeDecodeError) as e:
                    raise Unreachable(f"cannot read known_hosts {f}: {e}") from None
        client.set_missing_host_key_policy(HostKeyPolicy(o))
        keys = readable_keys([os.path.expanduser(_expand(k, o)) for k in o.identityfiles], self.server.ssh_config)
        timeout = o.connecttimeout or self.connect_timeout
        where = f"{o.host} ({o.hostname}:{o.port}{' via ' + o.proxyjump if o.proxyjump else ''})"
        # known_hosts is looked up under HostKeyAlias when set (as OpenSSH does), else under
        # HostName, or [HostName]:port off port 22; the socket below is what is connected
        key_name, key_port = (o.hostkeyalias, 22) if o.hostkeyalias else (o.hostname, o.port)
        try:
            sock = self._socket(o, chain, timeout)
            client.connect(key_name, key_port, username=o.user, key_filename=keys or None,
                           look_for_keys=False, allow_agent=not o.identitiesonly,
                           timeout=timeout, banner_timeout=timeout, auth_timeout=timeout, sock=sock)
        except paramiko.BadHostKeyException as e:
            raise Unreachable(
                f"host key of {where} does not match {' '.join(o.knownhosts)} (got {e.key.get_name()} "
                f"{e.key.get_fingerprint().hex()}): the server was rebuilt or the connection is "
                f"intercepted; not accepted. Runbook FAQ 7.18: check the server, then remove its "
                f"entry from known_hosts and run hive build-infra") from None
        except paramiko.AuthenticationException as e:
            raise Unreachable(f"authentication failed for {o.user}@{where}: {e}") from None
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
            self.close()
            self._client = self._connect()
        return self._client

    def run(self, script: str, timeout: float, limits: tuple | None = None) -> ExecResult:
        """Run script under `sh -s`; timeout is a deadline for the whole command, from sending it
        to its exit status. limits: (line_max, total_max): the longest stdout line kept, and
        the bytes kept of the whole answer, stdout and stderr together (see Kept).
        Unfinished (with what arrived) when the deadline passes or the output goes over total_max."""
        import paramiko
        client = self.open_client()
        line_max, total_max = limits or (None, None)
        budget = Budget(total_max)         # one cap for the whole answer, both streams
        out, err, sent = Kept(line_max, budget), Kept(None, budget), None
        try:
            chan = client.get_transport().open_session(timeout=self.connect_timeout)
            chan.settimeout(timeout)       # sending the script, on a server that does not read it
            sent = time.time()
            chan.exec_command("sh -s")
            chan.sendall(script.encode())
            chan.shutdown_write()
            rc = drain(chan, time.monotonic() + timeout, out, err)
        except (socket.timeout, TimeoutError):
            self.close()            # a channel left mid-command: start clean for the next one
            raise Unfinished(f"{self.server.name} did not finish its commands within {timeout:g} s",
                             ExecResult(-1, out.text(), err.text(), sent, out.first), True) from None
        except OutputFull as e:
            self.close()
            raise Unfinished(f"{self.server.name} sent more than {e.limit} bytes; the rest was not read",
                             ExecResult(-1, out.text(), err.text(), sent, out.first), False) from None
        except (OSError, paramiko.SSHException, EOFError) as e:
            self.close()
            raise Unreachable(f"connection to {self.server.name} failed: {e or type(e).__name__}") from None
        return ExecResult(rc, out.text(), err.text(), sent, out.first)

    def close(self):
        for c in [self._client, *reversed(self._jumps)]:
            if c is not None:
                c.close()
        self._client, self._jumps = None, []


def _expand(text: str, o: ssh_config.Options) -> str:
    try:
        return ssh_config.expand(text, o)
    except ssh_config.HostError as e:
        raise Unreachable(f"{o.host}: {e}") from None


def _tcp(host: str, port: int, timeout: float) -> socket.socket:
    """The TCP connection, with Nagle off as OpenSSH does: the SSH handshake is a string of
    small messages, and on a link with latency each would otherwise wait for a delayed ACK."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except UnicodeError:     # the resolver's IDNA encoding refuses the name before any lookup
        raise Unreachable(f"HostName {host!r} is not a host name: a part between its dots is empty "
                          f"or longer than 63 characters") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class OutputFull(Exception):
    def __init__(self, limit: int):
        super().__init__(limit)
        self.limit = limit


class Budget:
    """Bytes that may be kept of one answer, shared by the streams that make it up."""

    def __init__(self, limit: int | None):
        self.limit, self.used = limit, 0

    def take(self, n: int):
        if self.limit is not None and self.used + n > self.limit:
            raise OutputFull(self.limit)
        self.used += n


class Kept:
    """What is kept of one output stream, whatever the server sends.

    With line_max, a line longer than that keeps its first line_max bytes (the reader sees that
    it was cut: its sizes do not add up) and the rest of it is dropped as it arrives. What is
    kept is taken from the budget: past it, OutputFull (what came before stays kept)."""

    def __init__(self, line_max: int | None = None, budget: Budget | None = None):
        self.line_max = line_max
        self.budget = budget or Budget(None)
        self.lines: list[bytes] = []
        self.cur, self.dropping = bytearray(), False
        self.first: float | None = None     # when the first bytes arrived

    def feed(self, data: bytes):
        if self.first is None and data:
            self.first = time.time()
        if self.line_max is None:
            self.budget.take(len(data))
            self.lines.append(data)
            return
        start = 0
        while start < len(data):
            nl = data.find(b"\n", start)
            end = len(data) if nl < 0 else nl + 1
            piece = data[start:end]
            if not self.dropping:
                room = self.line_max - len(self.cur)
                if len(piece.rstrip(b"\n")) > room:
                    piece, self.dropping = piece[:max(room, 0)], True
                self.budget.take(len(piece))
                self.cur += piece
            if nl >= 0:
                if self.dropping:
                    self.cur += b"\n"
                self.lines.append(bytes(self.cur))
                self.cur, self.dropping = bytearray(), False
            start = end

    def text(self) -> str:
        """What was kept, the line under way included."""
        return "".join(b.decode(errors="replace") for b in [*self.lines, bytes(self.cur)])


def drain(chan, deadline: float, out: Kept, err: Kept) -> int:
    """Read a channel's stdout and stderr as they come (neither can fill the window the other
    needs) until it ends, then its exit status.
    deadline (time.monotonic()) bounds the whole command: socket.timeout when it passes, however
    the server trickles its output."""
    while True:
        if chan.recv_ready():
            out.feed(chan.recv(65536))
            continue
        if chan.recv_stderr_ready():
            err.feed(chan.recv_stderr(65536))
            continue
        if chan.eof_received or chan.closed:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        transport = chan.get_transport()
        if transport is None or not transport.is_active():
            raise EOFError("connection lost")
        # the channel's fileno is readable when either stream has data or the channel ended
        select.select([chan], [], [], min(remaining, 1.0))
    # data fed just before the end is read above: both buffers are empty once eof is seen twice
    while chan.recv_ready() or chan.recv_stderr_ready():
        if chan.recv_ready():
            out.feed(chan.recv(65536))
        else:
            err.feed(chan.recv_stderr(65536))
    if not chan.status_event.wait(max(0.0, deadline - time.monotonic())):
        raise socket.timeout()
    rc = chan.recv_exit_status()
    chan.close()
    return rc


class LocalTransport:
    def __init__(self, server: Server):
        self.server = server

    def run(self, script: str, timeout: float, limits: tuple | None = None) -> ExecResult:
        # limits: this machine runs the probe itself, which caps each section's output. The
        # script runs in its own session: at the deadline all of it is stopped, not only sh.
        p = subprocess.Popen(["sh", "-s"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = p.communicate(script.encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                out, err = p.communicate(timeout=5)
            except subprocess.TimeoutExpired:   # a process that left the session holds the pipes
                p.kill()
                out, err = b"", b""
            raise Unfinished(f"local commands did not finish within {timeout:g} s",
                             ExecResult(-1, _text(out), _text(err)), True) from None
        return ExecResult(p.returncode, _text(out), _text(err))

    def close(self):
        pass


def _text(data: bytes | None) -> str:
    return (data or b"").decode(errors="replace")


class TestinfraTransport:
    """Hosts given with --hosts go through testinfra's own backends (ssh, paramiko, docker...)."""

    def __init__(self, server: Server, connect_timeout: float):
        import testinfra
        self.server = server
        self.host = testinfra.get_host(server.spec, ssh_config=server.ssh_config,
                                       timeout=int(connect_timeout))

    def run(self, script: str, timeout: float, limits: tuple | None = None) -> ExecResult:
        # limits: testinfra's backends read the whole output; the probe's own cap applies
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

    def run(self, server: Server, script: str, timeout: float, limits: tuple | None = None) -> ExecResult:
        return self.transport(server).run(script, timeout, limits)

    def close(self):
        for t in self._transports.values():
            t.close()
        self._transports.clear()
