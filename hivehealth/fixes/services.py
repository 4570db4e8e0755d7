"""Runbook 7.8: a service looping because its volume's XFS filesystem is corrupt.

The task's error text only tells that the service loops on a failed mount of a local volume.
What is repaired, and where, comes from the site: the one DRBD volume the service's own spec
mounts (a key of drbd_device_map), its device /dev/drbd<minor> from that map, a hive whose copy
is UpToDate. A service is free to print anything as its error; none of it reaches a command.
"""
from hivehealth.checks.test_services import service_state
from hivehealth.remedy import names
from hivehealth.remedy.plan import RISKY, Cmd, Plan, Step, all_of, remedy
from hivehealth.judge.services import service_spec
from hivehealth.parsers import ParseError, fs
from hivehealth.parsers.docker import local_volume_mount_failure


@remedy(service_state, tier=RISKY)
def repair_corrupt_volume(ctx, name, verdict):
    """Scale the service to 0, xfs_repair the volume's device on a hive whose copy is UpToDate,
    scale it back to its replica count."""
    if not any(local_volume_mount_failure(e or "") for e in verdict.data.get("errors", [])):
        return None
    name = names.service(name)
    spec = service_spec(ctx, name)
    if spec is None:
        return Plan(refused=f"no manager gave the spec of {name}: which volume it mounts is not known")
    drbd = sorted({v for v in spec.volumes if v in ctx.site.drbd_device_map})
    if len(drbd) != 1:
        mounts = ", ".join(str(v) for v in spec.volumes) or "none"
        what = "no volume" if not drbd else f"{len(drbd)} volumes ({', '.join(drbd)})"
        return Plan(refused=f"{name} mounts {what} of the site's drbd_device_map (its volume mounts: {mounts}); "
                            f"which device to repair is not known, and a task's error text never decides it")
    volume, device = names.drbd_device(ctx.site, drbd[0])
    mounted, unread = [], []
    for h in ctx.site.hives:
        r = ctx.host(h).get("df")
        if r is None:
            continue
        try:
            if any(f.source == device for f in fs.parse_df_posix(r.stdout)):
                mounted.append(h.name)
        except ParseError:
            unread.append(h.name)
    if mounted:
        return Plan(refused=f"{device} is mounted on {', '.join(mounted)}; never repair a mounted filesystem")
    if unread:
        return Plan(refused=f"the df of {', '.join(unread)} cannot be read: whether {device} is mounted there "
                            f"is not known; never repair a filesystem that may be mounted")
    replicas = names.replicas(spec.replicas if spec.replicas else verdict.data.get("replicas_desired") or 1)
    repairer = _uptodate_hive(ctx, volume)
    if repairer is None:
        return Plan(refused=f"no reachable hive holds an UpToDate copy of {volume} to repair")
    manager = verdict.data.get("manager") or repairer
    scale = ("docker", "service", "scale", "-d")
    return Plan(steps=[
        Step(manager, Cmd(*scale, f"{name}=0", root=True), f"runbook 7.8: stop {name} looping on {device}"),
        Step(repairer, all_of(Cmd("grep", "-q", f"^{device} ", "/proc/mounts", negate=True),
                              Cmd("xfs_repair", device, root=True)),
             f"runbook 7.8: repair {volume}'s XFS ({device}, drbd_device_map) on {repairer}, whose copy is UpToDate"),
        Step(manager, Cmd(*scale, f"{name}={replicas}", root=True), f"start {name} at {replicas} replicas"),
        Step(manager, Cmd("docker", "service", "ls", "--filter", f"name={name}", "--format",
                          "{{.Name}} {{.Replicas}}", root=True),
             "wait until it runs again", until=lambda out: f"{name} {replicas}/{replicas}" in out, wait=90),
    ], settle=ctx.number("service_stable_seconds"))


def _uptodate_hive(ctx, volume):
    from hivehealth.judge.cluster import drbd_views
    first = sorted(ctx.site.hives, key=lambda s: "first_hive" not in s.roles)
    for hive in first:
        views = drbd_views(ctx, hive)
        if isinstance(views, list) and any(v.name == volume and any(d.disk == "UpToDate" for d in v.devices)
                                           for v in views):
            return hive.name
    return None
