"""Each server answers (zabbix "Zabbix agent is not available (for 3m)").

The suite reaches every server over SSH once per run; a server that does not answer fails its
other checks with `unreachable: <reason>` too. This item is the one place that says so once,
under a name `-k unreachable`, `-k reachable` and `--alert` find. On a server that answers, the
zabbix agent's own unit is read too: an agent that is down raises the same zabbix problem while
SSH works.
"""
import pytest

from hivehealth.gather.sections import declare
from hivehealth.parsers import ParseError, systemd
from hivehealth.judge.verdict import Verdict
from hivehealth.shell import command


# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    zabbix_agent=("all", "systemctl show -p Id -p LoadState -p ActiveState -p SubState "
                         "zabbix-agent.service zabbix-agent2.service"),
)

ALERT = "Zabbix agent is not available (for 3m)"


@pytest.mark.roles("all")
def test_unreachable(server, verify):
    verify(reachability, server)


def reachability(ctx, server) -> Verdict:
    v = Verdict(server.name, alert=ALERT)
    host = ctx.host(server)
    if host.unreachable:
        v.fail(f"unreachable: {host.unreachable}")
        v.notes.append("look: is the server up (the cloud console / hypervisor), does "
                       "`ssh <server>` answer, is sshd running; then every other check of it")
        return v
    r = host.get("zabbix_agent")
    if r is None or not r.stdout.strip():
        return v    # reached; the agent's unit is an extra
    try:
        units = systemd.parse_show(r.stdout)
    except ParseError:
        return v
    loaded = [u for u in units if u.get("LoadState") == "loaded"]
    if not loaded:
        v.notes.append("reached over SSH; no zabbix agent unit is installed here")
        return v
    v.cite(server.name, r)
    if not any(u.get("ActiveState") == "active" for u in loaded):
        u = loaded[0]
        v.fail(f"reached over SSH, but {u.get('Id')} is {u.get('ActiveState')}/{u.get('SubState')}: "
               f"zabbix cannot reach its agent; look: {command('journalctl', '-u', u.get('Id'))}")
    return v
