"""--fix: for a failing check, its remedies run under the site lock (gathering again first if
another fix ran since this run's facts), are planned, held to their tier and guards, and each
step is run (audited); the fix is counted, the facts gathered again and the check re-run. A
check whose state is unknown gets no change, at most its plan's read-only diagnosis."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from hivehealth.ids import item_check_id
from hivehealth.judge.verdict import UNKNOWN, Verdict
from hivehealth.redact import redact, redact_tree
from hivehealth.remedy.audit import Audit
from hivehealth.remedy.lock import LockError, SiteLock, lock_dir, read_sequence
from hivehealth.remedy.plan import Decision, Plan, Step, Watch, allowed, remedies_for, step_hosts


class RemedyPlugin:
    """Registered when --fix or --fix-plan is given."""

    def __init__(self, config, state, operator: str):
        self.config = config
        self.state = state              # the run's site and facts (handed down by the plugin)
        self.operator = operator
        self.plan_only = config.option.fix_plan
        self.audit = Audit(config, operator)
        # the fix count the facts were gathered at (the controller passes it to xdist workers)
        self.facts_seq = (getattr(config, "workerinput", None) or {}).get(SEQ_KEY)
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_SeqToWorkers(self), "hivehealth-fixseq-xdist")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_sessionstart(self, session):
        """Before the facts are gathered: the fix count they will reflect."""
        if not hasattr(self.config, "workerinput"):
            self.facts_seq = self._sequence()
        yield

    def _sequence(self):
        try:
            return read_sequence(lock_dir(self.state.site, self.config))
        except OSError:
            return None

    def remedy(self, request, state, evaluate, obj, verdict: Verdict) -> Verdict:
        names = remedies_for(evaluate)
        if not names:
            return verdict
        remedies = [request.getfixturevalue(n) for n in names]
        if self.plan_only:
            return self._run(request, state, evaluate, obj, verdict, remedies, None)
        try:
            with SiteLock(state.site, self.config, item_check_id(request.node), self.operator) as lock:
                seq = lock.sequence()
                if lock.waited or seq is None or seq != self.facts_seq:
                    verdict = self._look_again(state, evaluate, obj, lock.waited, seq)
                    if verdict.ok:
                        return verdict
                return self._run(request, state, evaluate, obj, verdict, remedies, lock)
        except LockError as e:
            verdict.notes.append(f"--fix: not run: {e}")
            return verdict

    def _run(self, request, state, evaluate, obj, verdict, remedies, lock) -> Verdict:
        """Plan each remedy in turn; apply (holding the lock) until the check passes."""
        log = FixLog(before=verdict.message())
        planned = changed = False
        for rem in remedies:
            plan = rem.plan(state.context(), obj, verdict)
            if plan is None:
                continue
            planned = True
            _refuse_foreign_hosts(plan, state.site)
            if verdict.status == UNKNOWN:
                # an unknown state is no reason to change anything: read-only diagnosis at most
                log.plans.append(plan.render() + "\n  (not run: the state is unknown)")
                self._diagnose(state, plan, verdict)
                continue
            log.plans.append(plan.render())
            held = self._held_back(plan, state)
            if held:
                verdict.notes.append(held)
                continue
            try:
                self.audit.check()
            except OSError as e:
                verdict.notes.append(f"--fix: {plan.remedy} not run: the audit log cannot be written ({e})")
                continue
            ok = self._apply(request, state, plan, log)
            changed = True
            self.facts_seq = None          # this fix moved the site: the next check gathers again
            unrecorded = self._count_fix(lock, plan)
            if plan.settle:
                time.sleep(plan.settle)
            state.regather(_hosts_of(state, plan))
            after = state.context().judge(evaluate, obj)
            log.after = after.message() if not after.ok else "healthy"
            after.notes[:0] = plan.notes + unrecorded
            if after.ok:
                after.data["fixed"] = True
                verdict = after
                break
            if log.stopped:
                after.notes.insert(0, f"--fix: {plan.remedy} stopped before its next step: {log.stopped}")
            else:
                after.notes.insert(0, f"--fix: {plan.remedy} ran{' ' if ok else ' with a failing step'}"
                                      f" but the check still fails")
            self._diagnose(state, plan, after)
            verdict = after
            if verdict.status == UNKNOWN:
                verdict.notes.append("--fix: after it the state is unknown: no further remedy is tried")
                break
        if verdict.status == UNKNOWN and not changed:
            verdict.notes.append("--fix: nothing was changed: the state is unknown, and an unknown "
                                 "state is no reason to change anything")
        elif not planned:
            verdict.notes.append("--fix: no remedy applies to this failure")
        if not planned:
            return verdict
        request.node.add_report_section("call", "hive-health fix", log.render())
        request.node.user_properties.append(("hivehealth-fix", log.to_dict(verdict.ok)))
        return verdict

    @staticmethod
    def _count_fix(lock, plan: Plan) -> list[str]:
        """Bump the site's fix count; a note when it cannot be written."""
        try:
            lock.bump()
            return []
        except LockError as e:
            return [f"--fix: {plan.remedy} ran, but other fixers cannot learn of it: {e}"]

    def _diagnose(self, state, plan: Plan, verdict: Verdict):
        """The plan's read-only diagnosis steps, their output added to the verdict's notes."""
        if self.plan_only or plan.refused:
            return
        for step in plan.diagnose:
            out = run_step(state, state.site.server(step.host), step).output.strip()
            verdict.notes.append(f"{step.why}:\n" + "\n".join("    " + line for line in out.splitlines()))

    def _look_again(self, state, evaluate, obj, waited: str | None, seq) -> Verdict:
        """Another fixer changed the site after these facts were gathered (or held it until
        now): gather again and judge afresh before planning anything."""
        state.regather(state.site.servers)
        self.facts_seq = seq
        fresh = state.context().judge(evaluate, obj)
        if fresh.ok:
            why = waited or "another fix ran after this run gathered its facts"
            fresh.notes.append(f"--fix: healthy once the other fixer was done ({why})")
        return fresh

    def _held_back(self, plan: Plan, state) -> str | None:
        """Why this plan does not run now: a guard, the operator's flags, or plan-only mode."""
        if plan.refused:
            return f"--fix: {plan.remedy} refused: {plan.refused}"
        need = allowed(self.config, plan, state.site.stage)
        if need:
            return f"--fix: {plan.remedy} is {plan.tier}; held back: add {need} to run it"
        if self.plan_only:
            return "--fix-plan: would run " + plan.render()
        return None

    def _apply(self, request, state, plan: Plan, log: "FixLog") -> bool:
        queue = list(plan.steps)
        while queue:
            step = queue.pop(0)
            if isinstance(step, Watch):
                decision = self._watch(request, state, plan, step, log)
                if decision is None:
                    return False
                if decision.stop:
                    log.stopped = decision.stop
                    return False
                strangers = _foreign_hosts(decision.then, state.site)
                if strangers:
                    log.stopped = (f"a next step would run on {', '.join(map(repr, strangers))}, which "
                                   f"is not a server of the site's inventory")
                    return False
                queue[:0] = decision.then
                continue
            server = state.site.server(step.host)
            deadline = time.time() + step.wait
            while True:
                result = run_step(state, server, step)
                log.commands.append((step.host, step.shown, result.rc, result.output))
                try:
                    self.audit.record(item_check_id(request.node), plan, step, result)
                except OSError as e:     # no further command runs unrecorded
                    log.commands.append((step.host, "(audit log)", 1, f"not written, no further step runs: {e}"))
                    return False
                if result.rc not in step.ok_codes:
                    return False
                if step.until is None or step.until(result.output) or time.time() > deadline:
                    break
                time.sleep(2)
            if step.until is not None and not step.until(result.output):
                log.commands.append((step.host, "(gave up waiting)", 1, f"not done after {step.wait:g} s"))
                return False
        return True


    def _watch(self, request, state, plan: Plan, watch: Watch, log: "FixLog") -> Decision | None:
        """Read every host of the watch, decide; again until decided or out of time (None)."""
        deadline = time.time() + watch.wait
        while True:
            answers = {}
            for host in watch.hosts:
                read = watch.read_on(host)
                result = run_step(state, state.site.server(host), read)
                self.audit.record(item_check_id(request.node), plan, read, result)
                log.commands.append((host, read.shown, result.rc, result.output))
                answers[host] = (result.rc, result.output)
            decision = watch.decide(answers)
            if decision.done or decision.stop:
                return decision
            if time.time() > deadline:
                log.commands.append((", ".join(watch.hosts), "(gave up waiting)", 1,
                                     f"not done after {watch.wait:g} s: {decision.waiting_for}"))
                log.stopped = f"gave up after {watch.wait:g} s waiting for {decision.waiting_for}"
                return None
            time.sleep(2)


SEQ_KEY = "hivehealth_fixseq"


class _SeqToWorkers:
    """xdist: workers judge the controller's facts, so they start from its fix count."""

    def __init__(self, plugin: RemedyPlugin):
        self.plugin = plugin

    def pytest_configure_node(self, node):
        node.workerinput[SEQ_KEY] = self.plugin.facts_seq


@dataclass
class StepResult:
    rc: int
    output: str


def run_step(state, server, step: Step) -> StepResult:
    from hivehealth.site.transport import Unreachable
    script = ('if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi\n'
              f"export LC_ALL=C\n{{ {step.command}\n}} 2>&1\n")
    try:
        r = state.pool.run(server, script, float(state.config.getini("command_timeout")) + step.wait)
    except Unreachable as e:
        return StepResult(255, f"unreachable: {e}")
    return StepResult(r.rc, r.stdout + r.stderr)


def _foreign_hosts(steps, site) -> list[str]:
    servers = {s.name for s in site.servers}
    return sorted({h for s in steps for h in step_hosts(s) if h not in servers})


def _refuse_foreign_hosts(plan: Plan, site):
    """A step runs only on a server of the site's inventory, named exactly as there."""
    strangers = _foreign_hosts(plan.steps + plan.diagnose, site)
    if strangers and not plan.refused:
        plan.refused = (f"a step would run on {', '.join(map(repr, strangers))}, which is not a server "
                        f"of the site's inventory")


def _hosts_of(state, plan: Plan):
    names = {h for s in plan.steps for h in step_hosts(s)}
    # a cluster object's check reads every hive: re-gather them all
    return [s for s in state.site.servers if s.name in names or s.is_hive]


@dataclass
class FixLog:
    before: str
    plans: list[str] = field(default_factory=list)
    commands: list[tuple] = field(default_factory=list)
    after: str = "not re-checked"
    stopped: str | None = None      # why the remedy stopped before its last step

    def render(self) -> str:
        cmds = "\n".join(f"[{h}] $ {c}   (exit {rc})\n{out.rstrip()}" for h, c, rc, out in self.commands)
        return redact(f"before: {self.before}\n\nplan:\n" + "\n".join(self.plans)
                      + f"\n\ncommands:\n{cmds or '(none run)'}"
                      + (f"\n\nstopped: {self.stopped}" if self.stopped else "")
                      + f"\n\nafter: {self.after}")

    def to_dict(self, fixed: bool) -> dict:
        return redact_tree({"fixed": fixed, "before": self.before, "plans": self.plans, "after": self.after,
                            "stopped": self.stopped,
                            "commands": [{"host": h, "command": c, "rc": rc} for h, c, rc, _ in self.commands]})

