"""--fix: for a failing check, its remedies are planned, held to their tier and guards, and run
under the site lock (each command audited); then the facts are gathered again and the check
re-run."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from hivehealth.ids import item_check_id
from hivehealth.judge.verdict import Verdict
from hivehealth.redact import redact, redact_tree
from hivehealth.remedy.audit import Audit
from hivehealth.remedy.lock import LockTimeout, SiteLock
from hivehealth.remedy.plan import Plan, Step, allowed, remedies_for


class RemedyPlugin:
    """Registered when --fix or --fix-plan is given."""

    def __init__(self, config, operator: str):
        self.config = config
        self.operator = operator
        self.plan_only = config.option.fix_plan
        self.audit = Audit(config, operator)

    def remedy(self, request, state, evaluate, obj, verdict: Verdict) -> Verdict:
        names = remedies_for(evaluate)
        if names and not self.plan_only:
            try:
                waited = SiteLock(state.site, self.config, item_check_id(request.node), self.operator).wait_free()
            except LockTimeout as e:
                verdict.notes.append(f"--fix: not run: {e}")
                return verdict
            if waited:
                verdict = self._look_again(state, evaluate, obj, waited)
                if verdict.ok:
                    return verdict
        log = FixLog(before=verdict.message())
        planned = False
        for rem in (request.getfixturevalue(n) for n in names):
            plan = rem.plan(state.context(), obj, verdict)
            if plan is None:
                continue
            planned = True
            log.plans.append(plan.render())
            held = self._held_back(plan, state)
            if held:
                verdict.notes.append(held)
                continue
            try:
                with SiteLock(state.site, self.config, item_check_id(request.node), self.operator) as lock:
                    if lock.waited:
                        # another fixer took the site after wait_free above
                        fresh = self._look_again(state, evaluate, obj, lock.waited)
                        if fresh.ok:
                            log.after = "healthy (fixed meanwhile by another run)"
                            verdict = fresh
                            break
                        plan = rem.plan(state.context(), obj, fresh)
                        held = "--fix: no longer applies" if plan is None else self._held_back(plan, state)
                        if held:
                            fresh.notes.append(held)
                            verdict = fresh
                            continue
                    ok = self._apply(request, state, plan, log)
                    if plan.settle:
                        time.sleep(plan.settle)
                    state.regather(_hosts_of(state, plan))
                    after = state.context().judge(evaluate, obj)
            except LockTimeout as e:
                verdict.notes.append(f"--fix: {plan.remedy} not run: {e}")
                break
            log.after = after.message() if not after.ok else "healthy"
            after.notes[:0] = plan.notes
            if after.ok:
                after.data["fixed"] = True
                verdict = after
                break
            after.notes.insert(0, f"--fix: {plan.remedy} ran{' ' if ok else ' with a failing step'}"
                                  f" but the check still fails")
            for step in plan.diagnose:
                out = run_step(state, state.site.server(step.host), step).output.strip()
                after.notes.append(f"{step.why}:\n" + "\n".join("    " + line for line in out.splitlines()))
            verdict = after
        if not planned:
            if names:
                verdict.notes.append("--fix: no remedy applies to this failure")
            return verdict
        request.node.add_report_section("call", "hive-health fix", log.render())
        request.node.user_properties.append(("hivehealth-fix", log.to_dict(verdict.ok)))
        return verdict

    @staticmethod
    def _look_again(state, evaluate, obj, waited: str) -> Verdict:
        """Another fixer held the site, so what this run gathered may show it mid-change:
        gather again and judge afresh before planning anything."""
        state.regather(state.site.servers)
        fresh = state.context().judge(evaluate, obj)
        if fresh.ok:
            fresh.notes.append(f"--fix: healthy once the other fixer was done ({waited})")
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
        for step in plan.steps:
            server = state.site.server(step.host)
            deadline = time.time() + step.wait
            while True:
                result = run_step(state, server, step)
                self.audit.record(item_check_id(request.node), plan, step, result)
                log.commands.append((step.host, step.command, result.rc, result.output))
                if result.rc not in step.ok_codes:
                    return False
                if step.until is None or step.until(result.output) or time.time() > deadline:
                    break
                time.sleep(2)
            if step.until is not None and not step.until(result.output):
                log.commands.append((step.host, "(gave up waiting)", 1, f"not done after {step.wait:g} s"))
                return False
        return True


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


def _hosts_of(state, plan: Plan):
    names = {s.host for s in plan.steps}
    # a cluster object's check reads every hive: re-gather them all
    return [s for s in state.site.servers if s.name in names or s.is_hive]


@dataclass
class FixLog:
    before: str
    plans: list[str] = field(default_factory=list)
    commands: list[tuple] = field(default_factory=list)
    after: str = "not re-checked"

    def render(self) -> str:
        cmds = "\n".join(f"[{h}] $ {c}   (exit {rc})\n{out.rstrip()}" for h, c, rc, out in self.commands)
        return redact(f"before: {self.before}\n\nplan:\n" + "\n".join(self.plans)
                      + f"\n\ncommands:\n{cmds or '(none run)'}\n\nafter: {self.after}")

    def to_dict(self, fixed: bool) -> dict:
        return redact_tree({"fixed": fixed, "before": self.before, "plans": self.plans, "after": self.after,
                            "commands": [{"host": h, "command": c, "rc": rc} for h, c, rc, _ in self.commands]})

