"""Runbook 7.8: a service looping because its volume's XFS filesystem is corrupt."""
import re

from hivehealth.checks.test_services import service_state
from hivehealth.remedy.plan import RISKY, Plan, Step, remedy
from hivehealth.judge.services import service_spec

MOUNT_ERROR = re.compile(r"mount (/dev/\S+?):/var/lib/docker/volumes/([^/]+)/_data: "
                         r"(invalid argument|structure needs cleaning)", re.I)


@remedy(service_state, tier=RISKY)
def repair_corrupt_volume(ctx, name, verdict):
    """Scale the service to 0, xfs_repair the volume's device on a hive whose copy is UpToDate,
    scale it back to its replica count."""
    found = next((m for e in verdict.data.get("errors", []) for m in [MOUNT_ERROR.search(e or "")] if m), None)
    if not found:
        return None
    device, volume = found.group(1), found.group(2)
    mounted = [h.name for h in ctx.site.hives
               if (r := ctx.host(h).get("df")) is not None and re.search(rf"^{re.escape(device)}\s", r.stdout, re.M)]
    if mounted:
        return Plan(refused=f"{device} is mounted on {', '.join(mounted)}; never repair a mounted filesystem")
    spec = service_spec(ctx, name)
    replicas = spec.replicas if spec and spec.replicas else verdict.data.get("replicas_desired") or 1
    repairer = _uptodate_hive(ctx, volume)
    if repairer is None:
        return Plan(refused=f"no reachable hive holds an UpToDate copy of {volume} to repair")
    manager = verdict.data.get("manager") or repairer
    return Plan(steps=[
        Step(manager, f"$SUDO docker service scale -d {name}=0", f"runbook 7.8: stop {name} looping on {device}"),
        Step(repairer, f"! grep -q '^{device} ' /proc/mounts && $SUDO xfs_repair {device}",
             f"runbook 7.8: repair {volume}'s XFS on {repairer}, whose copy is UpToDate"),
        Step(manager, f"$SUDO docker service scale -d {name}={replicas}", f"start {name} at {replicas} replicas"),
        Step(manager, f"$SUDO docker service ls --filter name={name} --format '{{{{.Name}}}} {{{{.Replicas}}}}'",
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
