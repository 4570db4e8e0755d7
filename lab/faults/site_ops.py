"""What faults do to the lab's site, shared by the area modules: run a command on a server,
pick the server a fault targets by default, stop and scale the ldap service, change the DRBD
simulation's state and put its resource back to clean."""
import time

from .. import site, util


def sx(s, cmd, check=True, timeout=300, input=None):
    """Run a shell command on the lab server s (docker exec through the lab's engine, never SSH)."""
    return util.dexec(s["short"], cmd, check=check, timeout=timeout, input=input)


def alive_hive(lab):
    """A hive whose container runs (to issue swarm commands from)."""
    for s in [site.first_hive(lab)] + site.hives_of(lab):
        r = util.docker("inspect", "-f", "{{.State.Running}}", s["short"], check=False)
        if r.stdout.strip() == "true":
            return s
    raise RuntimeError("no hive is running")


def default_target(lab, target, kind):
    """The server named by target, else the fault's default: kind is repo, last-hive, second-hive
    or (anything else) the first hive."""
    if target:
        return site.by_name(lab, target)
    hv = site.hives_of(lab)
    if kind == "repo":
        return site.repo_of(lab)
    if kind == "last-hive":
        return hv[-1]
    if kind == "second-hive":
        return hv[1] if len(hv) > 1 else hv[0]
    return hv[0]


def scale(lab, n):
    sx(alive_hive(lab), f"docker service scale -d {lab['service']}={n} >/dev/null")


def _open_anywhere(lab):
    sim = site.drbdsim()
    with sim.Locked(site.drbd_state_path(), write=False) as st:
        res = st["resources"][lab["volume"]]
        return [n for n in res["nodes"] if res["local"][n].get("open")]


def _no_task(lab):
    r = sx(alive_hive(lab), f"docker service ps {lab['service']} --filter desired-state=running -q",
           check=False)
    return r.returncode == 0 and not r.stdout.strip()


def stop_service(lab):
    scale(lab, 0)
    util.wait_for(lambda: _no_task(lab), 60, what="the service tasks to stop")
    util.wait_for(lambda: not _open_anywhere(lab), 30, what="the volume to be unmounted")


def sim_update(lab, fn):
    sim = site.drbdsim()
    with sim.Locked(site.drbd_state_path()) as st:
        sim.settle(st)
        fn(st["resources"][lab["volume"]], time.time())
        sim.settle(st)


def remove_service(lab, name):
    """docker service rm, then wait until swarm no longer lists it."""
    h = alive_hive(lab)
    sx(h, f"docker service rm {name} >/dev/null 2>&1; true", check=False)
    util.wait_for(lambda: not sx(h, f"docker service ls -q -f name={name}",
                                 check=False).stdout.strip(), 30, what=f"{name} removed")


def ldap_node(lab):
    node = site.service_running(lab)
    if not node:
        return None
    return site.by_name(lab, node)


def task_container(s, lab):
    r = sx(s, f"docker ps -q -f label=com.docker.swarm.service.name={lab['service']}")
    return r.stdout.strip().split("\n")[0]


def df_bytes(s, path):
    """(size, used) in bytes of the filesystem holding path on s."""
    out = sx(s, f"df -P -B1 {path} | tail -1").stdout.split()
    return int(out[1]), int(out[2])


def drbd_reset(lab):
    """Back to a clean resource: up everywhere (through its unit), UpToDate, connected."""
    for s in site.hives_of(lab):
        if util.docker("inspect", "-f", "{{.State.Running}}", s["short"],
                       check=False).stdout.strip() == "true":
            sx(s, f"systemctl reset-failed drbd-resource@{lab['volume']}.service 2>/dev/null; "
                  f"systemctl start drbd-resource@{lab['volume']}.service; "
                  f"drbdadm adjust {lab['volume']}", check=False)

    sim_update(lab, lambda res, now: site.drbdsim().make_clean(res))
