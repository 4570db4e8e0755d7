"""Runbook 7.8: swarm services converged, and not looping on a failing task.

Zabbix: "Service <svc>: Replica count mismatch (<h>)" and "Service <svc> restarted (<h>)".
A restart loop shows as failed or rejected tasks in the service's history; the failure carries
the task's error text (e.g. `failed to mount local volume: ... invalid argument`).

A task still on its way to running (pending, assigned, preparing, starting...) longer than
service_start_grace is stuck, whatever the replica count says, and the failure names the reason
docker gives (e.g. `no suitable node (scheduling constraints not satisfied on 3 nodes)`). The age
is the one `docker service ps` shows: swarm stamps a Pending task anew only when its reason
changes (swarmkit scheduler applySchedulingDecisions skips an unchanged state and error), so a
task that stays unschedulable for the same reason ages from its first refusal.
Jobs (replicated job, global job) run to completion: a finished job is healthy, a job with no
task left to run and completions missing has failed.
"""
from hivehealth.gather.sections import declare
from hivehealth.parsers.durations import state_and_age
from hivehealth.parsers import ParseError
from hivehealth.parsers import docker as dockerp
from hivehealth.judge.services import listed_service
from hivehealth.judge.verdict import Verdict


# what this area reads from each server (the probe gathers it once per run)
declare(
    __name__,
    services=("manager", "$DOCKER service ls --format '{{json .}}'"),
    tasks=("manager",
           "s=$($DOCKER service ls -q) || exit $?; [ -z \"$s\" ] || "
           "$DOCKER service ps --no-trunc --format '{{json .}}' $s"),
    service_specs=("manager",
                   "s=$($DOCKER service ls -q) || exit $?; [ -z \"$s\" ] || "
                   "$DOCKER service inspect --format '{{json .Spec}}' $s"),
)

FAILED_STATES = ("Failed", "Rejected")
# a task on its way to Running (docker's task states before "running", api/types/swarm/task.go)
CONVERGING_STATES = ("New", "Allocated", "Pending", "Assigned", "Accepted", "Preparing", "Ready",
                     "Starting")
# desired states of a task the orchestrator no longer wants
RETIRED = ("Shutdown", "Remove", "Orphaned")


def test_service(service, verify):
    verify(service_state, service)


def service_state(ctx, name) -> Verdict:
    hive = ctx.site.name
    v = Verdict(f"service {name}", alert=f"Service {name}: Replica count mismatch ({hive})")
    found = listed_service(ctx, v, name)
    if found is None:
        return v
    manager, svc = found
    tasks = _tasks(ctx, v, manager, name)
    grace = ctx.number("service_start_grace")
    starting = [t for t in tasks if t.desired_state not in RETIRED
                and state_and_age(t.current_state)[0] in CONVERGING_STATES]
    stuck = [t for t in starting if (state_and_age(t.current_state)[1] or 0) >= grace]
    if svc.replicas_running is None or svc.replicas_desired is None:
        v.unknown(f"cannot read replicas from {svc.replicas!r}")
    elif svc.is_job:
        _job_state(v, svc, tasks, starting)
    elif svc.replicas_running < svc.replicas_desired:
        if starting and not stuck and not _recent_failures(ctx, tasks):
            v.warn(f"converging: {svc.replicas_running} of {svc.replicas_desired} replicas running, "
                   f"{len(starting)} starting")
        else:
            v.fail(f"{svc.replicas_running} of {svc.replicas_desired} replicas running")
    for t in stuck:
        v.fail(f"task {t.name} stuck: {t.current_state} (longer than service_start_grace {grace:g} s)"
               f"{' on ' + t.node if t.node else ''}: {t.error or 'docker gives no reason'}")
    failed = [t for t in tasks if state_and_age(t.current_state)[0] in FAILED_STATES]
    if _looping(ctx, tasks):
        v.alert = f"Service {name} restarted ({hive})"
        v.fail(f"restart loop: {len(failed)} failed tasks in the last "
               f"{ctx.number('service_restart_window'):g} s and no task stable yet")
    errors = [t for t in failed if t.error] or [t for t in tasks if t.error and t.desired_state not in RETIRED]
    if errors and not v.ok and not (stuck and errors[0] in stuck):
        latest = errors[0]
        v.problems.append(f"latest task error on {latest.node or '?'}: {latest.error}")
    v.data.update(replicas_running=svc.replicas_running, replicas_desired=svc.replicas_desired,
                  mode=svc.mode, errors=[t.error for t in errors], manager=manager,
                  stuck=[t.id for t in stuck])
    return v


def _job_state(v, svc, tasks, starting) -> None:
    """A job is done when its completions are; running or starting tasks mean it is under way;
    neither means its tasks ended without completing: the job failed."""
    done = f"{svc.completed}/{svc.total} completed" if svc.total is not None else svc.replicas
    if svc.total is not None and svc.completed >= svc.total:
        v.notes.append(f"{svc.mode} finished: {done}")
    elif svc.replicas_running or starting:
        v.notes.append(f"{svc.mode} under way: {done}, {svc.replicas_running} running")
    elif not tasks:
        v.unknown(f"{svc.mode} at {done} and no task of it listed: cannot tell whether it failed")
    else:
        v.fail(f"{svc.mode} failed: {done} and no task left running")


def _recent_failures(ctx, tasks) -> list:
    """Tasks that failed or were rejected within service_restart_window."""
    window = ctx.number("service_restart_window")
    ages = ((t, *state_and_age(t.current_state)) for t in tasks)
    return [t for t, state, age in ages if state in FAILED_STATES and (age or 0) <= window]


def _looping(ctx, tasks) -> bool:
    """Converged, yet failing again and again: enough recent failures and no task that has
    stayed up for service_stable_seconds."""
    stable = ctx.number("service_stable_seconds")
    if len(_recent_failures(ctx, tasks)) < ctx.number("service_restart_max"):
        return False
    running = [state_and_age(t.current_state) for t in tasks if t.desired_state == "Running"]
    return not any(s == "Running" and (age or 0) >= stable for s, age in running)


def _tasks(ctx, v, manager, name):
    r = ctx.host(manager).get("tasks")
    if r is None or not r.ok:
        v.unknown(f"cannot read the tasks of {name}: {r.failure() if r else 'not gathered'}")
        return []
    try:
        tasks = [t for t in dockerp.parse_tasks(r.stdout) if t.service == name]
    except ParseError as e:
        v.unknown(str(e))
        return []
    v.evidence.append(_task_evidence(manager, r.command, tasks))
    return tasks


def _task_evidence(manager, command, tasks):
    from hivehealth.judge.verdict import Evidence
    lines = [f"{t.name}  {t.node}  desired {t.desired_state}  {t.current_state}  {t.error}".rstrip()
             for t in tasks]
    return Evidence(manager, command + "  (this service's tasks)", 0, "\n".join(lines))
