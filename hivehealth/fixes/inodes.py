"""Inodes running out: what docker no longer uses goes first (runbook 7.1's remedy) [safe].

Image layers, stopped containers' writable layers and the build cache are the many small files
of /var/lib/docker; `docker system prune -f` removes the unused ones (on the repository server
also the build_image_* containers, which only makes the next build slower). When that is not
enough, the diagnosis names the directories with the most inodes.
"""
from hivehealth.checks.test_inodes import inode_usage
from hivehealth.remedy.plan import SAFE, Cmd, Plan, Step, each, pipe, remedy

# fixed paths only: nothing from the site chooses what is counted
DOCKER_DIRS = ("/var/lib/docker/overlay2", "/var/lib/docker/containers", "/var/lib/docker/image",
               "/var/lib/docker/buildkit", "/var/log", "/tmp", "/var/tmp", "/home")
VOLUMES = "/var/lib/docker/volumes"
BIGGEST_CONSUMERS = each(
    pipe(Cmd("du", "--inodes", "-x", "-s", *DOCKER_DIRS, root=True, quiet=True),
         Cmd("sort", "-n", "-r"), Cmd("head", "-10")),
    # each docker volume on its own (a glob would need a shell to expand it)
    pipe(Cmd("find", VOLUMES, "-mindepth", "1", "-maxdepth", "1", "-exec", "du", "--inodes", "-x", "-s",
             "{}", "+", root=True, quiet=True),
         Cmd("sort", "-n", "-r"), Cmd("head", "-5")),
    Cmd("true"))


@remedy(inode_usage, tier=SAFE)
def prune_docker_inodes(ctx, server, verdict):
    """Runbook 7.1: `docker system prune -f` frees the inodes of what docker no longer uses."""
    if not verdict.data.get("mounts"):
        return None
    diagnose = [Step(server.name, BIGGEST_CONSUMERS,
                     "still short of inodes: the directories holding the most files")]
    if not verdict.data.get("docker"):
        return Plan(refused="the filesystem short of inodes is not docker's: no remedy deletes "
                            "files there (the check's note says where to look)")
    return Plan(steps=[
        Step(server.name, Cmd("docker", "system", "prune", "-f", root=True),
             "runbook 7.1: remove stopped containers, dangling images and build cache, "
             "the small files that use up /var/lib/docker's inodes")],
        diagnose=diagnose)
