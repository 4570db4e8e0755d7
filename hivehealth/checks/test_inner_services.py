"""Services inside standalone-type containers (zabbix "At least one of the services in standalone
type container <svc> is in a failed state (<h>)" and "Service <inner> in container <svc>
restarted (<h>)").

hive-builder's `standalone: true` runs /sbin/init (systemd) inside the service's container and
labels it HIVE_STANDALONE=True; the agent's docker-service.py runs systemctl in each such
container through docker exec: failed inner services (> 0) and each inner service's time since
it became active (< 28800 s). This check reads the same on each hive, per container: the failed
inner units, and those active for less than `inner_restart_window`.

No remedy: look inside with `dsh <svc>` (hive-builder's shell into the running task), then
`systemctl status <inner>` and `journalctl -u <inner>`; its log is also
/var/log/services/<svc>.<inner>.log on the repository server.
"""
import pytest

from hivehealth.gather.sections import declare
from hivehealth.parsers import agent
from hivehealth.judge.verdict import Verdict
from hivehealth.shell import command


# standalone-type containers (label HIVE_STANDALONE=True: systemd runs inside), as the agent's
# docker-service.py reads them: systemctl in each container through docker exec.
_INNER_SERVICES = r"""ids=$($DOCKER ps -q --no-trunc --filter label=HIVE_STANDALONE=True) || exit $?
for c in $ids; do
  echo "container $c $($DOCKER inspect -f '{{index .Config.Labels "com.docker.swarm.service.name"}}' "$c")"
  o=$($DOCKER exec "$c" sh -c 'echo "uptime $(cut -d" " -f1 /proc/uptime)"; echo "userspace $(systemctl show -p UserspaceTimestampMonotonic --value)"; echo; u=$(systemctl list-units --type=service --all --plain --no-legend --no-pager | cut -d" " -f1) || exit $?; [ -z "$u" ] || systemctl show -p Id -p LoadState -p ActiveState -p SubState -p Result -p NRestarts -p ActiveEnterTimestampMonotonic $u' 2>&1)
  echo "exit $?"
  printf '%s\n' "$o" | sed 's/^/| /'
done
exit 0"""

# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    inner_services=("hive", _INNER_SERVICES),
)

SKIPPED_TYPES = ("oneshot",)


@pytest.mark.roles("hive")
def test_inner_services(server, verify):
    verify(inner_services, server)


def judge_container(c: agent.InnerContainer, window: float) -> tuple[list[str], list[str]]:
    """(failed inner units, inner units active for less than `window`) of one container."""
    failed = sorted(u.unit for u in c.units if u.props.get("ActiveState") == "failed")
    fresh = []
    if c.uptime is not None and c.uptime >= window:
        for u in c.units:
            age = u.age(c.uptime)
            if (age is not None and 0 <= age < window and u.props.get("ActiveState") == "active"
                    and u.props.get("Type") not in SKIPPED_TYPES):
                fresh.append(f"{u.unit} (active for {age:.0f} s, NRestarts "
                             f"{u.restarts if u.restarts is not None else '?'})")
    return failed, fresh


def inner_services(ctx, server) -> Verdict:
    window = ctx.number("inner_restart_window", unit="s")
    hive = ctx.site.name
    v = Verdict(server.name)
    containers = ctx.parsed(v, server, "inner_services", agent.parse_inner_services,
                            "the standalone containers' inner services")
    if containers is None:
        return v
    if not containers:
        v.skip(f"{server.name}: no standalone-type container (label HIVE_STANDALONE=True) runs here")
        return v
    v.data["containers"] = {}
    for c in containers:
        name = c.service or c.id[:12]
        if c.error:
            v.unknown(f"container {name}: cannot read its inner services: {c.error}")
            continue
        failed, fresh = judge_container(c, window)
        v.data["containers"][name] = {"failed": failed, "restarted": fresh}
        if failed:
            v.alert = (f"At least one of the services in standalone type container {name} is in a "
                       f"failed state ({hive})")
            v.fail(f"container {name}: failed inner service(s) {', '.join(failed)}; look: "
                   f"{command('dsh', name)}, then systemctl status / journalctl -u <unit>")
        if fresh:
            v.alert = v.alert or f"Service {fresh[0].split()[0]} in container {name} restarted ({hive})"
            v.warn(f"container {name}: inner service(s) active for less than {window:g} s: "
                   + ", ".join(fresh))
    if not v.alert:
        v.alert = (f"At least one of the services in standalone type container <svc> is in a "
                   f"failed state ({hive})")
    return v
