"""Runbook 7.1 / 7.2 / 7.3 / 7.5: a full disk."""
from hivehealth.checks.test_disk import disk_usage
from hivehealth.remedy.plan import SAFE, Cmd, Plan, Step, all_of, each, pipe, remedy

SERVICE_LOGS = "/var/log/services"
REGISTRY_VOLUME = "/var/lib/docker/volumes/registry_regdata"
BIGGEST_CONSUMERS = each(
    # 7.5 without `ls merged`: each container's writable layer, named by its swarm service
    pipe(Cmd("docker", "ps", "-a", "-s", "--format",
             '{{.Size}}\t{{.Label "com.docker.swarm.service.name"}}\t{{.Names}}', root=True),
         Cmd("sort", "-h", "-r"), Cmd("head", "-5")),
    # 7.2: service logs on the repository server
    all_of(Cmd("test", "-d", SERVICE_LOGS),
           pipe(Cmd("find", SERVICE_LOGS, "-mindepth", "1", "-maxdepth", "1", "-exec", "du", "-s", "-k", "{}", "+",
                    root=True, quiet=True),
                Cmd("sort", "-n", "-r"), Cmd("head", "-5"))),
    # 7.3: the registry volume
    all_of(Cmd("test", "-d", REGISTRY_VOLUME), Cmd("du", "-s", "-B", "G", REGISTRY_VOLUME, root=True)),
    Cmd("true"))


@remedy(disk_usage, tier=SAFE)
def prune_docker(ctx, server, verdict):
    """Runbook 7.1: `docker system prune -f` removes stopped containers, unused networks and
    dangling images (on the repository server also the build_image_* containers, which only
    makes the next build slower)."""
    has_docker = ctx.host(server).get("containers") is not None or server.is_repository
    if not has_docker and ctx.site.kind != "hive":
        return None
    return Plan(steps=[
        Step(server.name, Cmd("docker", "system", "prune", "-f", root=True),
             "runbook 7.1: free what docker no longer uses")],
        diagnose=[Step(server.name, BIGGEST_CONSUMERS,
                       "still full: the biggest consumers runbook 7.2/7.3/7.5 look for")])
