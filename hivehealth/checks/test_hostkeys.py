"""Host keys (FAQ 7.18): a server whose key no longer matches known_hosts is never accepted.

The SSH transport (hivehealth/site/transport.py) honours the site's ssh_config exactly as `hive ssh`:
with `StrictHostKeyChecking yes` a changed or unknown key refuses the connection, and the
server's facts carry `unreachable: host key of ... does not match ...` (or `... is not in ...`).
This check turns that into the runbook's recovery, and cross-checks that the context dir's
known_hosts holds an entry for every server (keyed by HostName, or [HostName]:port).

FAQ 7.18 recovery, on the mother, only after making sure the server really was rebuilt (a
changed key is also what an intercepted connection looks like):
  rm .hive/<stage>/known_hosts   (and ~/.ssh/known_hosts)
  hive build-infra               (re-scans the keys)
  hive ssh -t <server>           (to test)
Not applicable (skip): servers not reached through a hive ssh_config, and servers whose
ssh_config does not pin keys (vagrant: UserKnownHostsFile /dev/null, StrictHostKeyChecking no).
"""
import os

import pytest

from hivehealth.judge.verdict import Verdict
from hivehealth.parsers.hostkeys import refused_host_key
from hivehealth.site import ssh_config
from hivehealth.shell import command

ALERT = "Host key verification failed. (FAQ 7.18)"


@pytest.mark.roles("all")
def test_hostkeys(server, verify):
    verify(host_key, server)


def recovery(ctx, server) -> str:
    stage = ctx.site.stage or "<stage>"
    kh = f"{ctx.site.context_dir}/known_hosts" if ctx.site.context_dir else f".hive/{stage}/known_hosts"
    return (f"FAQ 7.18: first make sure {server.name} was really rebuilt (a changed key is also "
            f"what an intercepted connection looks like); then on the mother: {command('rm', kh)} "
            f"(and ~/.ssh/known_hosts), hive build-infra, then {command('hive', 'ssh', '-t', server.name)}")


def known_entry(files: list[str], host: str, port: int) -> tuple[bool, list[str]]:
    """Whether any known_hosts file has a key for host (or [host]:port); the files read."""
    import paramiko         # loaded when a key is looked up, not by every run that collects the checks
    name = host if port == 22 else f"[{host}]:{port}"
    read = []
    for f in files:
        f = os.path.expanduser(f)
        if not os.path.exists(f):
            continue
        keys = paramiko.HostKeys()
        try:
            keys.load(f)
        except (OSError, ValueError, paramiko.SSHException):   # unreadable, not UTF-8, malformed
            continue
        read.append(f)
        if keys.lookup(name) is not None:
            return True, read
    return False, read


def host_key(ctx, server) -> Verdict:
    v = Verdict(server.name, alert=ALERT)
    why = ctx.host(server).unreachable or ""
    refused = refused_host_key(why)
    if refused is not None:     # the transport refused the key (now, or in a recording)
        v.fail(f"host key refused, not accepted: {refused}; {recovery(ctx, server)}")
        v.data["refused"] = True
        return v
    if ctx.site.kind != "hive" or server.spec != "hive":
        v.skip(f"{server.name} is not reached through a hive ssh_config: no known_hosts to check")
        return v
    if not server.ssh_config:
        v.skip(f"no ssh_config for {server.name} (a replayed recording holds none): its known_hosts "
               f"cannot be checked")
        return v
    try:   # the options the transport used: as `ssh -F ssh_config` resolves them
        o = ssh_config.resolve(server.ssh_config, server.name)
    except OSError as e:
        v.unknown(f"cannot read ssh_config {server.ssh_config}: {e.strerror}")
        return v
    except (ssh_config.ConfigError, ssh_config.HostError) as e:
        v.unknown(f"cannot read {server.name}'s options: {e}")
        return v
    files = o.knownhosts or ["~/.ssh/known_hosts"]
    strict = o.strict
    if files == ["/dev/null"] or strict in ("no", "off"):
        v.skip(f"ssh_config does not pin {server.name}'s host key (UserKnownHostsFile "
               f"{' '.join(files)}, StrictHostKeyChecking {strict}; vagrant or shared repository): "
               f"nothing to verify")
        return v
    host, port = (o.hostkeyalias, 22) if o.hostkeyalias else (o.hostname, o.port)
    present, read = known_entry(files, host, port)
    if not present:
        where = " ".join(files)
        v.fail(f"no key for {host if port == 22 else f'[{host}]:{port}'} in {where}"
               f"{'' if read else ' (file missing)'} (expected one entry per server): with "
               f"StrictHostKeyChecking {strict} the connection is refused; {recovery(ctx, server)}")
        return v
    if why:
        v.unknown(f"cannot verify the host key: {why}")
    return v
