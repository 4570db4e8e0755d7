"""Service CPU and memory (zabbix "Service <svc>: High CPU usage (over 80% for 5m) (<h>)" and
"Service <svc>: High memory usage (over 90% for 5m) (<h>)", template Docker Swarm Services).

The agent's docker-service.py --stats averages `docker stats` over a service's running
containers: CPU % as docker computes it (100 = one core) and memory % of the container's limit
(the host's memory when the service has no mem_limit). zabbix alerts when the 5-minute average
exceeds 80 / 90. This check takes one `docker stats --no-stream` sample on every hive, averages
per service the same way, and compares with `service_cpu_max` / `service_memory_max`: one sample
is not a 5-minute average, so a failure names the containers to watch with `docker stats`.

No remedy: give the service more (cpu_limit / mem_limit in its definition, then
hive deploy-services -l <svc>) or find why it spins (`dsh <svc>`, its log).
"""
from hivehealth.gather.sections import declare
from hivehealth.parsers import ParseError, agent
from hivehealth.parsers import docker as dockerp
from hivehealth.judge.verdict import Verdict


# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    # one sample of every running container's CPU and memory use (the agent's --stats)
    service_stats=("hive", "$DOCKER stats --no-stream --no-trunc --format '{{json .}}'"),
)


def test_service_usage(service, verify):
    verify(service_usage, service)


def service_samples(ctx, v, name, hives) -> list[tuple[str, agent.ContainerStats]]:
    """(hive, stats) of every running container of service `name` on these hives."""
    found = []
    for hive in hives:
        stats = ctx.parsed(v, hive, "service_stats", agent.parse_stats, "docker stats")
        ps = ctx.host(hive).get("containers")
        if stats is None:
            continue
        try:
            owners = dockerp.container_services(ps.stdout) if ps is not None and ps.ok else {}
        except ParseError:
            owners = {}
        for s in stats:
            svc = owners.get(s.name) or dockerp.service_of(s.name)
            if svc == name:
                found.append((hive.name, s))
    return found


def service_usage(ctx, name) -> Verdict:
    cpu_max = ctx.number("service_cpu_max")
    mem_max = ctx.number("service_memory_max")
    hive = ctx.site.name
    v = Verdict(f"service {name}", alert=f"Service {name}: High CPU usage (over 80% for 5m) ({hive})")
    if not ctx.site.hives or ctx.site.kind == "local":
        v.skip("no swarm hives to read docker stats from")
        return v
    hives = ctx.reachable_hives()
    if not hives:
        v.unknown("no hive answered: docker stats could not be read on any of them")
        return v
    lost = [h.name for h in ctx.site.hives if h not in hives]
    if lost:
        v.notes.append(f"not read on {', '.join(lost)} (unreachable): its containers are not counted")
    samples = service_samples(ctx, v, name, hives)
    if not samples:
        if v.ok:
            v.notes.append(f"no running container of {name}: nothing uses CPU or memory")
        return v
    cpus = [s.cpu_pct for _, s in samples if s.cpu_pct is not None]
    mems = [s.mem_pct for _, s in samples if s.mem_pct is not None]
    each = "; ".join(f"{s.name} on {h}: CPU {s.cpu_pct}%, memory {s.mem_pct}% ({s.mem_usage})"
                     for h, s in samples)
    if not cpus or not mems:
        v.unknown(f"docker stats gave no CPU or memory % for {name}'s containers: {each}")
        return v
    cpu, mem = sum(cpus) / len(cpus), sum(mems) / len(mems)
    v.data.update(cpu=cpu, memory=mem, containers=len(samples))
    if mem > mem_max:
        v.alert = f"Service {name}: High memory usage (over 90% for 5m) ({hive})"
        v.fail(f"memory {mem:.1f} % of its limit (service_memory_max {mem_max:g} %), averaged over "
               f"{len(samples)} container(s): {each}")
    if cpu > cpu_max:
        v.alert = f"Service {name}: High CPU usage (over 80% for 5m) ({hive})"
        v.fail(f"CPU {cpu:.1f} % (100 = one core; service_cpu_max {cpu_max:g} %), averaged over "
               f"{len(samples)} container(s): {each}")
    if not v.ok:
        v.notes.append("one docker stats sample, zabbix averages 5 min: watch it with "
                       "`docker stats` on the node; raise cpu_limit/mem_limit in the service "
                       "definition (hive deploy-services -l <svc>) or find why it spins (dsh <svc>)")
    return v
