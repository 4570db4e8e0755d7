"""Runbook 7.7: DRBD sync failures, by the shape test_drbd names."""
from hivehealth.checks.test_drbd import drbd_state
from hivehealth.remedy import names
from hivehealth.remedy.plan import RISKY, SAFE, Cmd, Plan, Step, all_of, each, remedy
from hivehealth.judge.services import service_using_volume

SETTLED = ("Inconsistent", "Sync", "WFBitMap", "Connecting", "Outdated", "Consistent", "StandAlone")


def _settled(output: str) -> bool:
    """`drbdadm status <res>` shows every disk and peer disk UpToDate and nothing in flight."""
    return "UpToDate" in output and not any(word in output for word in SETTLED)


def drbdadm(*args) -> Cmd:
    return Cmd("drbdadm", *args, root=True)


@remedy(drbd_state, tier=SAFE)
def reconnect_one_sided(ctx, name, verdict):
    """7.7(b): one side shows WFBitMapS / peer-disk Consistent; reconnect from the side whose
    view looks normal."""
    if verdict.data.get("shape") != "one-sided":
        return None
    clean = verdict.data.get("clean_side")
    if not clean:
        return Plan(refused="no host has a clean view of the resource to reconnect from")
    name = names.drbd_resource(name)
    return Plan(steps=[
        Step(clean, all_of(drbdadm("disconnect", name), drbdadm("connect", name)),
             f"runbook 7.7(b): {clean}'s view is the normal one"),
        Step(clean, drbdadm("status", name), "wait until the peers are back in sync",
             until=_settled, wait=60)])


@remedy(drbd_state, tier=RISKY)
def force_primary_all_outdated(ctx, name, verdict):
    """7.7(a): every copy Outdated. The first hive's copy is declared authoritative
    (`primary --force`), the others resync from it."""
    if verdict.data.get("shape") != "all-outdated":
        return None
    views = verdict.data.get("views", {})
    unreadable = [h for h, v in views.items() if v is None or isinstance(v, str)]
    if unreadable:
        return Plan(refused=f"cannot see every copy ({', '.join(unreadable)}): one of them may be "
                            f"UpToDate or newer; forcing a primary could discard it")
    up_to_date = [h for h, v in views.items() if any(d.disk == "UpToDate" for d in v.devices)]
    if up_to_date:
        return Plan(refused=f"{', '.join(up_to_date)} still has an UpToDate copy; forcing another "
                            f"primary would discard it")
    standalone = [f"{h} -> {c.peer}" for h, v in views.items() for c in v.connections if c.state == "StandAlone"]
    if standalone:
        return Plan(refused=f"StandAlone connection ({', '.join(standalone)}): split brain; "
                            f"resolve it by hand first")
    name = names.drbd_resource(name)
    first = next(s for s in ctx.site.hives if "first_hive" in s.roles)
    others = [h.name for h in ctx.site.hives if h.name != first.name]
    svc = service_using_volume(ctx, name)
    steps = []
    if svc and svc.replicas:
        svc_name, replicas = names.service(svc.name), names.replicas(svc.replicas)
        steps.append(Step(first.name, Cmd("docker", "service", "scale", "-d", f"{svc_name}=0", root=True),
                          f"runbook 7.7: stop {svc.name} (was {svc.replicas} replicas) before touching DRBD"))
    steps.append(Step(first.name, drbdadm("primary", "--force", name),
                      "runbook 7.7(a): the first hive's copy becomes authoritative"))
    steps += [Step(h, each(drbdadm("disconnect", name), drbdadm("connect", name)),
                   "runbook 7.7(a): resync from the first hive") for h in others]
    steps.append(Step(first.name, drbdadm("status", name), "wait until every copy is UpToDate",
                      until=_settled, wait=120))
    steps.append(Step(first.name, drbdadm("secondary", name), "runbook 7.7(a): back to Secondary"))
    if svc and svc.replicas:
        steps.append(Step(first.name, Cmd("docker", "service", "scale", "-d", f"{svc_name}={replicas}", root=True),
                          f"start {svc.name} again at its {svc.replicas} replicas"))
    return Plan(steps=steps, settle=3)


@remedy(drbd_state, tier=SAFE)
def explain_split_brain(ctx, name, verdict):
    """StandAlone: split brain. No automatic action: which copy survives is the operator's call."""
    if verdict.data.get("shape") != "standalone":
        return None
    name = names.drbd_resource(name)
    return Plan(refused=(
        "split brain needs a human decision: choose the node whose changes are discarded (the victim); "
        f"on it: drbdadm disconnect {name}; drbdadm secondary {name}; "
        f"drbdadm connect --discard-my-data {name}; on the survivor: drbdadm connect {name}. "
        "Back up the victim's data first if in doubt"))
