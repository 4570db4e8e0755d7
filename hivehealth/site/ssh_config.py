"""A host's SSH options, resolved the way OpenSSH's client resolves them for `ssh -F ssh_config`.

With OpenSSH's `ssh` installed, the options are its own: `ssh -G -F <file> <host>` applies
Include, Match (exec too, as `ssh` would), Host patterns in order, canonicalisation and the
client's defaults, and prints one `key value` line per option. Without it, paramiko's reader is
used, with Include inlined; it does not evaluate `Match exec` (refused, naming the line),
canonicalisation, or tokens beyond paramiko's own, and an Include inside a Host block applies as
if it stood at that point of the file.

Two kinds of problems: a broken file (a line outside any server's Host block, in a Match block
or in an included file) is the site's problem (ConfigError, with file and line); a bad line
inside a Host block concerns only the servers that block applies to (HostError): the others are
resolved without it, which is what OpenSSH would read for them, since a block that does not
apply to a host sets nothing for it (OpenSSH still refuses the whole file, so such a server
would be unreachable by `ssh` too).
"""
from __future__ import annotations

import copy
import functools
import getpass
import glob
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field


from hivehealth.safe_write import write_atomic

SSH_G_TIMEOUT = 30          # `Match exec` runs a command: never wait on it forever


class ConfigError(Exception):
    """The file is broken for every host."""

    def __init__(self, path, line: int | None, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        super().__init__(f"{self.path}{f', line {line}' if line else ''}: {problem}")


class HostError(Exception):
    """Only this host's options are broken; str() is the operator's reason."""

    def __init__(self, reason: str, line: int | None = None, problem: str | None = None):
        self.line, self.problem = line, problem or reason
        super().__init__(reason)


@dataclass
class Options:
    host: str                       # the name asked for (the Host entry)
    hostname: str
    port: int
    user: str
    identityfiles: list[str] = field(default_factory=list)
    identitiesonly: bool = False
    knownhosts: list[str] = field(default_factory=list)        # UserKnownHostsFile
    globalknownhosts: list[str] = field(default_factory=list)  # GlobalKnownHostsFile
    strict: str = "ask"             # StrictHostKeyChecking: yes, no, ask, accept-new
    hashknownhosts: bool = False
    connecttimeout: float | None = None
    proxycommand: str | None = None
    proxyjump: str | None = None
    hostkeyalias: str | None = None


@functools.lru_cache(maxsize=None)
def _has_dash_g(ssh: str) -> bool:
    """OpenSSH before 6.8 has no -G: paramiko's reader is used then."""
    try:
        return subprocess.run([ssh, "-G", "-F", "/dev/null", "localhost"], capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=SSH_G_TIMEOUT).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def openssh() -> str | None:
    """OpenSSH's client, if installed and able to print a host's options (ssh -G)."""
    ssh = shutil.which("ssh")
    return ssh if ssh and _has_dash_g(ssh) else None


def read_text(path) -> str:
    """The file as text; bytes that are not UTF-8 (a comment in Latin-1) are kept as escapes:
    OpenSSH reads bytes, and only a Host name needs to be text (inventory checks those)."""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="surrogateescape")


# --- where a line sits: which Host block, if any --------------------------------------------

_KEYWORD = re.compile(r"^\s*(\w+)\s*(?:=\s*|\s+|$)(.*)$")


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """Per line (index = line - 1): ("top"|"host"|"match", Host patterns)."""
    out, scope = [], ("top", [])
    for line in text.splitlines():
        m = _KEYWORD.match(line)
        if m and m.group(1).lower() == "host":
            scope = ("host", m.group(2).split())
        elif m and m.group(1).lower() == "match":
            scope = ("match", [])
        out.append(scope)
    return out


def _glob_rx(pattern: str) -> re.Pattern:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in pattern.lower()) + r"\Z", re.S)


def host_matches(host: str, patterns: list[str]) -> bool:
    """OpenSSH's Host line: any pattern matches and no negated one does (case-insensitive)."""
    host = host.lower()
    hit = False
    for p in patterns:
        neg = p.startswith("!")
        if _glob_rx(p[1:] if neg else p).match(host):
            if neg:
                return False
            hit = True
    return hit


# --- OpenSSH ------------------------------------------------------------------------------------

_ERROR = re.compile(r"^(?P<file>.+?):? line (?P<line>\d+): (?P<msg>.+)$")


def _ssh_g(config: str, host: str, user: str | None, port: int | None) -> subprocess.CompletedProcess:
    cmd = [openssh(), "-G", "-F", config]
    if user:
        cmd += ["-l", user]
    if port:
        cmd += ["-p", str(port)]
    try:
        return subprocess.run(cmd + ["--", host], capture_output=True, stdin=subprocess.DEVNULL,
                              timeout=SSH_G_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise HostError(f"ssh -G -F {config} {host} did not answer within {SSH_G_TIMEOUT} s "
                        f"(a Match exec command that hangs?)") from None


def _resolve_openssh(path: str, host: str, user: str | None, port: int | None) -> dict[str, list[str]]:
    text = read_text(path)
    scopes = _blocks(text)
    lines = text.splitlines(keepends=True)
    blanked: set[int] = set()
    with tempfile.TemporaryDirectory(prefix="hh-sshcfg-") as tmp:
        config = path
        for _ in range(4):
            p = _ssh_g(config, host, user, port)
            if p.returncode == 0:
                return _parse_g(p.stdout.decode("utf-8", errors="surrogateescape"))
            err = p.stderr.decode("utf-8", errors="replace")
            errors = [m for m in map(_ERROR.match, err.splitlines()) if m]
            if not errors:
                last = [x for x in err.splitlines() if x.strip()][-1:] or [f"exit {p.returncode}"]
                raise HostError(f"ssh -G -F {path} {host}: {last[0]}")
            mine, first = [], None
            for m in errors:
                n, msg = int(m.group("line")), m.group("msg").rstrip(".")
                same_file = os.path.abspath(m.group("file")) in (os.path.abspath(path), os.path.abspath(config))
                kind, patterns = scopes[n - 1] if same_file and n <= len(scopes) else ("other", [])
                if kind != "host":
                    raise ConfigError(path if same_file else m.group("file"), n, msg)
                if host_matches(host, patterns):
                    mine.append(f"{path}, line {n}: {msg}")
                    first = first or (n, msg)
                else:
                    blanked.add(n)
            if mine:
                raise HostError("; ".join(mine), *first)
            # the bad lines belong to other servers' blocks: read the file without them
            config = os.path.join(tmp, "ssh_config")
            write_atomic(config, "".join("\n" if i + 1 in blanked else x for i, x in enumerate(lines))
                         .encode("utf-8", "surrogateescape"), 0o600)
    raise HostError(f"ssh -G -F {path} {host} kept failing")


def _parse_g(out: str) -> dict[str, list[str]]:
    opts: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        if key:
            opts.setdefault(key.lower(), []).append(value)
    return opts


def _from_openssh(path: str, host: str, o: dict[str, list[str]]) -> Options:
    def one(key, default=None):
        return o.get(key, [default])[-1]
    strict = {"true": "yes", "false": "no"}.get(one("stricthostkeychecking", "ask"),
                                                one("stricthostkeychecking", "ask"))
    timeout = one("connecttimeout", "none")
    return Options(
        host=host, hostname=one("hostname", host), port=int(one("port", "22")),
        user=one("user") or getpass.getuser(),
        identityfiles=o.get("identityfile", []),
        identitiesonly=one("identitiesonly", "no") == "yes",
        knownhosts=" ".join(o.get("userknownhostsfile", [])).split(),
        globalknownhosts=" ".join(o.get("globalknownhostsfile", [])).split(),
        strict=strict, hashknownhosts=one("hashknownhosts", "no") == "yes",
        connecttimeout=None if timeout == "none" else float(timeout),
        proxycommand=None if one("proxycommand", "none") == "none" else one("proxycommand"),
        proxyjump=None if one("proxyjump", "none") == "none" else one("proxyjump"),
        hostkeyalias=None if one("hostkeyalias", "none") == "none" else one("hostkeyalias"))


# --- paramiko, without OpenSSH --------------------------------------------------------------------

def _inline_includes(path: str, depth: int = 0) -> str:
    """The file with each Include replaced by the files it names (OpenSSH: relative to ~/.ssh)."""
    if depth > 16:
        raise ConfigError(path, None, "Include nested too deeply")
    out = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        m = _KEYWORD.match(line)
        if m and m.group(1).lower() == "match" and re.search(r"(^|\s)!?exec(\s|$)", m.group(2), re.I):
            raise ConfigError(path, n, "Match exec needs OpenSSH's ssh to evaluate, and it is not installed")
        if not (m and m.group(1).lower() == "include"):
            out.append(line)
            continue
        for pattern in m.group(2).split():
            pattern = os.path.expanduser(pattern)
            if not os.path.isabs(pattern):
                pattern = os.path.join(os.path.expanduser("~/.ssh"), pattern)
            for inc in sorted(glob.glob(pattern)):
                try:
                    out.append(_inline_includes(inc, depth + 1))
                except OSError as e:
                    raise ConfigError(path, n, f"cannot read included {inc}: {e.strerror}") from None
    return "\n".join(out)


def _resolve_paramiko(path: str, host: str, user: str | None, port: int | None) -> Options:
    import paramiko         # only without OpenSSH's client: a run that needs no reader never loads it
    try:
        cfg = paramiko.SSHConfig.from_text(_inline_includes(path))
    except paramiko.ssh_exception.ConfigParseError as e:
        raise ConfigError(path, None, str(e)) from None
    try:
        o = cfg.lookup(host)
    except Exception as e:   # paramiko's lookup raises what its token and Match code raise
        raise HostError(f"{path}: cannot resolve {host}: {e}") from None

    def number(key, default):
        value = o.get(key, default)
        try:
            return float(value) if value is not None else None
        except ValueError:
            raise HostError(f"{path}: {key} {value!r} for {host} is not a number") from None
    strict = str(o.get("stricthostkeychecking", "ask")).lower()
    knownhosts = o.get("userknownhostsfile", "~/.ssh/known_hosts ~/.ssh/known_hosts2").split()
    return Options(
        host=host, hostname=o.get("hostname", host), port=int(port or number("port", 22)),
        user=user or o.get("user") or getpass.getuser(),
        identityfiles=o.get("identityfile", ["~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ed25519"]),
        identitiesonly=str(o.get("identitiesonly", "no")).lower() == "yes",
        knownhosts=[os.path.expanduser(k) for k in knownhosts],
        globalknownhosts=o.get("globalknownhostsfile", "/etc/ssh/ssh_known_hosts").split(),
        strict={"true": "yes", "false": "no", "off": "no"}.get(strict, strict),
        hashknownhosts=str(o.get("hashknownhosts", "no")).lower() == "yes",
        connecttimeout=number("connecttimeout", None),
        proxycommand=None if o.get("proxycommand", "none") == "none" else o["proxycommand"],
        proxyjump=None if o.get("proxyjump", "none") == "none" else o["proxyjump"],
        hostkeyalias=o.get("hostkeyalias"))


# --- both --------------------------------------------------------------------------------------

_CACHE: dict[tuple, Options] = {}
_CACHE_LOCK = threading.Lock()


def resolve(path: str, host: str, user: str | None = None, port: int | None = None) -> Options:
    """The options `ssh -F path [-l user] [-p port] host` would use. Raises ConfigError for a
    broken file, HostError for a broken entry of this host, OSError for an unreadable file.
    Kept per process while the file is unchanged: the site is read before gathering, and each
    connection asks again."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_mtime_ns, st.st_size, host, user, port, openssh())
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is None:
        if openssh():
            hit = _from_openssh(path, host, _resolve_openssh(path, host, user, port))
        else:
            hit = _resolve_paramiko(path, host, user, port)
        with _CACHE_LOCK:
            _CACHE[key] = hit
    return copy.deepcopy(hit)


def check(path: str, hosts: list[str]) -> dict[str, str]:
    """Resolve every host now (files only): ConfigError when the file is broken for all of them
    (one message naming file and line), else the reasons of the hosts whose entry is broken."""
    problems: dict[str, HostError] = {}
    for h in hosts:
        try:
            resolve(path, h)
        except HostError as e:
            problems[h] = e
    if hosts and len(problems) == len(hosts) and len({str(e) for e in problems.values()}) == 1:
        e = next(iter(problems.values()))
        raise ConfigError(path, e.line, e.problem)
    return {h: str(e) for h, e in problems.items()}


def parse_jump(spec: str) -> tuple[str | None, str, int | None]:
    """One ProxyJump hop: [user@]host[:port], or ssh://[user@]host[:port]; IPv6 in brackets."""
    s = spec.strip().removeprefix("ssh://")
    user, _, hostport = s.rpartition("@")
    m = re.fullmatch(r"\[(?P<h6>[^\]]+)\](?::(?P<p6>\d+))?|(?P<h>[^:@/\s]+)(?::(?P<p>\d+))?", hostport)
    if not m or not s:
        raise HostError(f"ProxyJump hop {spec!r} is not [user@]host[:port]")
    host = m.group("h6") or m.group("h")
    port = m.group("p6") or m.group("p")
    return user or None, host, int(port) if port else None


_TOKEN = re.compile(r"%(.)")


def expand(text: str, o: Options) -> str:
    """OpenSSH's % tokens in ProxyCommand and IdentityFile (those a connection defines)."""
    values = {"%": "%", "h": o.hostname, "p": str(o.port), "r": o.user, "n": o.host,
              "d": os.path.expanduser("~"), "u": getpass.getuser(), "k": o.hostkeyalias or o.hostname}

    def sub(m):
        if m.group(1) not in values:
            raise HostError(f"token %{m.group(1)} in {text!r} is not supported")
        return values[m.group(1)]
    return _TOKEN.sub(sub, text)
