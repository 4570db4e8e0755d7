"""Service CPU and memory (zabbix "Service <svc>: High CPU usage (over 80% for 5m) (<h>)" and
"Service <svc>: High memory usage (over 90% for 5m) (<h>)", template Docker Swarm Services).

The agent's docker-service.py --stats averages `docker stats` over a service's running
containers: CPU % as docker computes it (100 = one core) and memory % of the container's limit
(the host's memory when the service has no mem_limit). zabbix alerts when the 5-minute average
exceeds 80 / 90. This check reads the same figures from each container's cgroup, with no sampling
wait: its CPU time at the probe's start and again at its end (the probe's own run is the window
the CPU % covers, said in the message), its memory once. A burst shorter than that window counts
for its share of it only. One window of about a second is not a 5-minute average, so a failure
names the containers to watch with `docker stats`.

A recording made before the cgroup reading existed has `docker stats --no-stream` instead: it is
judged the same way, on that one sample.

No remedy: give the service more (cpu_limit / mem_limit in its definition, then
hive deploy-services -l <svc>) or find why it spins (`dsh <svc>`, its log).
"""
from dataclasses import dataclass

from hivehealth.gather.sections import declare_around
from hivehealth.parsers import ParseError, agent, cgroup
from hivehealth.parsers import docker as dockerp
from hivehealth.judge.verdict import Verdict

# Every container's cgroup CPU time and memory: cgroup v2 (systemd's driver, then cgroupfs), then
# v1 (cpuacct and memory hierarchies); see hivehealth/parsers/cgroup.py. The files are world-
# readable: no sudo, no docker CLI.
CGROUP_READING = r"""echo "reading $(date +%s.%N)"
grep -s '^MemTotal:' /proc/meminfo
set --
for c in /sys/fs/cgroup/system.slice/docker-*.scope /sys/fs/cgroup/docker/* \
         /sys/fs/cgroup/cpuacct/system.slice/docker-*.scope /sys/fs/cgroup/cpuacct/docker/* \
         /sys/fs/cgroup/memory/system.slice/docker-*.scope /sys/fs/cgroup/memory/docker/*; do
  for f in cpu.stat memory.current memory.max memory.stat cpuacct.usage memory.usage_in_bytes memory.limit_in_bytes; do
    [ -r "$c/$f" ] && set -- "$@" "$c/$f"
  done
done
[ $# -eq 0 ] || exec awk '{ n = split(FILENAME, p, "/"); f = p[n]; c = substr(FILENAME, 1, length(FILENAME) - length(f) - 1) }
f == "cpu.stat" && $1 == "usage_usec" { print "cpu_usec", c, $2 }
f == "cpuacct.usage" { print "cpu_ns", c, $1 }
f == "memory.current" || f == "memory.usage_in_bytes" { print "mem_usage", c, $1 }
f == "memory.max" || f == "memory.limit_in_bytes" { print "mem_limit", c, $1 }
f == "memory.stat" && ($1 == "inactive_file" || $1 == "total_inactive_file") { print $1, c, $2 }' "$@"
"""

# what this area reads from each server (the probe gathers it once per run): the reading at the
# probe's start and at its end
declare_around(__name__, service_cpu=("hive", CGROUP_READING))


def test_service_usage(service, verify):
    verify(service_usage, service)


@dataclass
class Sample:
    hive: str
    name: str                   # the container
    cpu_pct: float | None
    mem_pct: float | None
    mem_usage: str              # shown as docker stats shows it


def _mib(n: int | None) -> str:
    return "?" if n is None else f"{n / 2 ** 20:.1f}MiB"


def _owners(ps_text: str) -> tuple[dict[str, str], dict[str, str]]:
    """From a hive's `docker ps`: container name -> service, container ID -> name."""
    try:
        names = {str(o.get("ID", "")): str(o.get("Names", "")).split(",")[0].strip()
                 for o in dockerp.parse_json_lines(ps_text, "docker ps --format json")}
        return dockerp.container_services(ps_text), names
    except ParseError:
        return {}, {}


def _cgroup_samples(ctx, v, hive, names: dict[str, str]) -> tuple[list[Sample], float] | None:
    readings = ctx.parsed(v, hive, "service_cpu", cgroup.parse_readings, "the cgroup readings")
    if readings is None:
        return None
    if len(readings) != 2:
        v.unknown(f"{v.about(hive.name)}cannot read the cgroup readings: {len(readings)} reading(s), "
                  f"expected the probe's start and end")
        return None
    start, end = readings
    return [Sample(hive.name, names.get(cid, cid), None if u.cpu_pct is None else round(u.cpu_pct, 2),
                   None if u.mem_pct is None else round(u.mem_pct, 2),
                   f"{_mib(u.mem_bytes)} / {_mib(u.mem_limit)}")
            for cid, u in cgroup.usage(start, end).items()], end.time - start.time


def _stats_samples(ctx, v, hive) -> list[Sample] | None:
    """A recording's `docker stats --no-stream` (one sample)."""
    stats = ctx.parsed(v, hive, "service_stats", agent.parse_stats, "docker stats")
    if stats is None:
        return None
    return [Sample(hive.name, s.name, s.cpu_pct, s.mem_pct, s.mem_usage) for s in stats]


def service_samples(ctx, v, name, hives) -> tuple[list[Sample], list[float]]:
    """The samples of every running container of service `name` on these hives, and the
    windows (seconds) their CPU % covers (none for a docker stats sample)."""
    found, windows = [], []
    for hive in hives:
        host = ctx.host(hive)
        if host.get("service_cpu") is None and host.get("service_stats") is not None:
            ps = host.get("containers")
            owners, _ = _owners(ps.stdout) if ps is not None and ps.ok else ({}, {})
            samples = _stats_samples(ctx, v, hive)
        else:
            # the readings name containers by ID only: docker ps says whose they are
            ps = ctx.section(v, hive, "containers")
            if ps is None:
                continue
            owners, names = _owners(ps.stdout)
            got = _cgroup_samples(ctx, v, hive, names)
            samples = None if got is None else got[0]
            if got is not None:
                windows.append(got[1])
        if samples is not None:
            found += [s for s in samples if (owners.get(s.name) or dockerp.service_of(s.name)) == name]
    return found, windows


def _window(windows: list[float]) -> str:
    if not windows:
        return "one docker stats sample"
    lo, hi = min(windows), max(windows)
    span = f"{lo:.2f} s" if hi - lo < 0.005 else f"{lo:.2f}-{hi:.2f} s"
    return f"over {span} (the probe's run: cgroup CPU time at its start and end)"


def service_usage(ctx, name) -> Verdict:
    cpu_max = ctx.number("service_cpu_max")
    mem_max = ctx.number("service_memory_max")
    hive = ctx.site.name
    v = Verdict(f"service {name}", alert=f"Service {name}: High CPU usage (over 80% for 5m) ({hive})")
    if not ctx.site.hives or ctx.site.kind == "local":
        v.skip("no swarm hives to read containers' CPU and memory from")
        return v
    hives = ctx.reachable_hives()
    if not hives:
        v.unknown("no hive answered: containers' CPU and memory could not be read on any of them")
        return v
    lost = [h.name for h in ctx.site.hives if h not in hives]
    if lost:
        v.notes.append(f"not read on {', '.join(lost)} (unreachable): its containers are not counted")
    samples, windows = service_samples(ctx, v, name, hives)
    if not samples:
        if v.ok:
            v.notes.append(f"no running container of {name}: nothing uses CPU or memory")
        return v
    cpus = [s.cpu_pct for s in samples if s.cpu_pct is not None]
    mems = [s.mem_pct for s in samples if s.mem_pct is not None]
    each = "; ".join(f"{s.name} on {s.hive}: CPU {s.cpu_pct}%, memory {s.mem_pct}% ({s.mem_usage})"
                     for s in samples)
    if not cpus or not mems:
        v.unknown(f"no CPU or memory % for {name}'s containers: {each}")
        return v
    cpu, mem = sum(cpus) / len(cpus), sum(mems) / len(mems)
    window = _window(windows)
    v.data.update(cpu=cpu, memory=mem, containers=len(samples), cpu_window=window)
    if mem > mem_max:
        v.alert = f"Service {name}: High memory usage (over 90% for 5m) ({hive})"
        v.fail(f"memory {mem:.1f} % of its limit (service_memory_max {mem_max:g} %), averaged over "
               f"{len(samples)} container(s): {each}")
    if cpu > cpu_max:
        v.alert = f"Service {name}: High CPU usage (over 80% for 5m) ({hive})"
        v.fail(f"CPU {cpu:.1f} % {window} (100 = one core; service_cpu_max {cpu_max:g} %), averaged "
               f"over {len(samples)} container(s): {each}")
    if not v.ok:
        v.notes.append(f"CPU {window}, zabbix averages 5 min: watch it with `docker stats` on the "
                       "node; raise cpu_limit/mem_limit in the service definition (hive "
                       "deploy-services -l <svc>) or find why it spins (dsh <svc>)")
    return v
