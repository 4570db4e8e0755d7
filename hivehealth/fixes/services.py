"""Runbook 7.8: a service looping because its volume's XFS filesystem is corrupt.

The task's error text only tells that the service loops on a failed mount of a local volume.
What is repaired, and where, comes from the site: the one DRBD volume the service's own spec
mounts (a key of drbd_device_map), its device /dev/drbd<minor> from that map, a hive whose copy
is UpToDate. A service is free to print anything as its error; none of it reaches a command.
Nothing is repaired unless every hive's mount table and DRBD status are seen: a hive that cannot
be seen may hold the volume mounted, as Primary.
"""
from hivehealth.checks.test_services import service_state
from hivehealth.remedy import names
from hivehealth.remedy.guards import demand, drbd, section
from hivehealth.remedy.plan import RISKY, Cmd, Plan, Step, all_of, remedy
from hivehealth.judge.cluster import manager_answers
from hivehealth.judge.services import service_spec
from hivehealth.parsers import fs
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
    in_map = sorted({v for v in spec.volumes if v in ctx.site.drbd_device_map})
    if len(in_map) != 1:
        mounts = ", ".join(str(v) for v in spec.volumes) or "none"
        what = "no volume" if not in_map else f"{len(in_map)} volumes ({', '.join(in_map)})"
        return Plan(refused=f"{name} mounts {what} of the site's drbd_device_map (its volume mounts: {mounts}); "
                            f"which device to repair is not known, and a task's error text never decides it")
    volume, device = names.drbd_device(ctx.site, in_map[0])
    if spec.replicas is None:
        return Plan(refused=f"{name} is not a replicated service (no replica count in its spec): it cannot be "
                            f"scaled to 0 while {device} is repaired")
    replicas = names.replicas(spec.replicas)
    # every hive must be seen: the one that cannot be may hold the volume mounted
    hives = ctx.site.hives
    tables = demand(ctx, hives, section("findmnt", fs.parse_findmnt_json), f"whether {device} is mounted",
                    "never repair a filesystem that may be mounted")
    mounted = [h for h, table in tables.items() if any(_is_volume_device(m.get("source"), device, volume)
                                                       for m in table)]
    if mounted:
        return Plan(refused=f"{device} is mounted on {', '.join(mounted)}; never repair a mounted filesystem")
    views = demand(ctx, hives, drbd, f"the DRBD role of {volume}",
                   "never repair a volume that may be Primary (in use) on a hive")
    primary = [h for h, vs in views.items() if any(v.name == volume and v.role == "Primary" for v in vs)]
    if primary:
        return Plan(refused=f"{volume} is Primary on {', '.join(primary)}: it is in use there; "
                            f"never repair a volume in use")
    repairer = next((h.name for h in sorted(hives, key=lambda s: "first_hive" not in s.roles)
                     if any(v.name == volume and any(d.disk == "UpToDate" for d in v.devices)
                            for v in views[h.name])), None)
    if repairer is None:
        return Plan(refused=f"no hive holds an UpToDate copy of {volume} to repair")
    manager = verdict.data.get("manager") or next((m for m, _ in manager_answers(ctx, "services")), None)
    if manager is None:
        return Plan(refused=f"no manager answered `docker service ls`: nowhere to scale {name} down from")
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


def _is_volume_device(source, device: str, volume: str) -> bool:
    """findmnt's SOURCE names the volume's device: /dev/drbd<minor>, or one of udev's
    /dev/drbd/by-res/<volume>/<n> links if it was mounted by that name."""
    return isinstance(source, str) and (source == device or source.startswith(f"/dev/drbd/by-res/{volume}/"))
