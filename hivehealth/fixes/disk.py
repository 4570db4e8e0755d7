"""Runbook 7.1 / 7.2 / 7.3 / 7.5: a full disk."""
from hivehealth.checks.test_disk import disk_usage
from hivehealth.remedy.plan import SAFE, Plan, Step, remedy

BIGGEST_CONSUMERS = (
    # 7.5 without `ls merged`: each container's writable layer, named by its swarm service
    "$SUDO docker ps -a -s --format '{{.Size}}\\t{{.Label \"com.docker.swarm.service.name\"}}\\t{{.Names}}' "
    "| sort -h -r | head -5; "
    # 7.2: service logs on the repository server
    "[ -d /var/log/services ] && $SUDO du -s -k /var/log/services/* 2>/dev/null | sort -n -r | head -5; "
    # 7.3: the registry volume
    "[ -d /var/lib/docker/volumes/registry_regdata ] && $SUDO du -s -B G /var/lib/docker/volumes/registry_regdata; "
    "true"
)


@remedy(disk_usage, tier=SAFE)
def prune_docker(ctx, server, verdict):
    """Runbook 7.1: `docker system prune -f` removes stopped containers, unused networks and
    dangling images (on the repository server also the build_image_* containers, which only
    makes the next build slower)."""
    has_docker = ctx.host(server).get("containers") is not None or server.is_repository
    if not has_docker and ctx.site.kind != "hive":
        return None
    return Plan(steps=[
        Step(server.name, "$SUDO docker system prune -f",
             "runbook 7.1: free what docker no longer uses")],
        diagnose=[Step(server.name, BIGGEST_CONSUMERS,
                       "still full: the biggest consumers runbook 7.2/7.3/7.5 look for")])
