"""--fix: the runbook's remedies, held to their tier, behind guards, one fixer per site.

A remedy is a pytest fixture (see fixes/) whose value is a `Remedy`: the check it answers, its
tier, and a planner that returns a `Plan` (steps: server, command, why) or refuses with a
reason. For a failing check the engine finds its remedies, plans, checks tier and guards,
takes the site lock, runs each step (audited), re-gathers the facts and re-runs the check.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import pytest

from .audit import Audit
from .lock import LockTimeout, SiteLock
from .redact import redact, redact_tree
from .verdict import Verdict

SAFE, RISKY, DESTRUCTIVE = "safe", "risky", "destructive"
TIERS = (SAFE, RISKY, DESTRUCTIVE)


@dataclass
class Step:
    host: str
    command: str                    # shell; `$SUDO` prefixes what needs root
    why: str
    until: Callable[[str], bool] | None = None   # repeat until this holds on the output
    wait: float = 0                 # seconds to keep repeating (with until)
    ok_codes: tuple = (0,)

    def render(self) -> str:
        text = f"[{self.host}] {self.command.replace('$SUDO ', 'sudo ')}"
        if self.until:
            text += f"   (repeated for up to {self.wait:g} s until done)"
        return f"{text}\n      why: {self.why}"


@dataclass
class Plan:
    remedy: str = ""                # filled from the Remedy when left empty
    tier: str = ""
    steps: list[Step] = field(default_factory=list)
    refused: str | None = None      # a guard's reason; nothing runs
    notes: list[str] = field(default_factory=list)  # what the operator does next / by hand
    settle: float = 0               # seconds to let the site settle before the re-check
    diagnose: list[Step] = field(default_factory=list)  # read-only; run when still failing

    def render(self) -> str:
        head = f"{self.remedy} [{self.tier}]"
        if self.refused:
            return f"{head}: refused: {self.refused}"
        lines = [head + ":"] + [f"  {i}. {s.render()}" for i, s in enumerate(self.steps, 1)]
        lines += [f"  then: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass
class Remedy:
    name: str
    answers: str                    # name of the check function it answers (e.g. "disk_usage")
    tier: str
    planner: Callable               # (ctx, obj, verdict) -> Plan | None (None: not for this failure)
    doc: str = ""

    def plan(self, ctx, obj, verdict) -> Plan | None:
        plan = self.planner(ctx, obj, verdict)
        if plan is not None:
            plan.remedy, plan.tier = plan.remedy or self.name, plan.tier or self.tier
        return plan


_REGISTRY: dict[str, list[str]] = {}    # check name -> remedy fixture names, in declaration order
_REMEDIES: dict[str, Remedy] = {}       # remedy fixture name -> its Remedy


def remedies_for(check: str) -> list[Remedy]:
    """The remedies declared for a check (its evaluate function's name), in declaration order."""
    return [_REMEDIES[n] for n in _REGISTRY.get(check, []) if n in _REMEDIES]


def applicable(request, ctx, check: str, obj, verdict) -> list[dict]:
    """What --fix would plan for this failure, without running anything: each remedy whose
    planner takes it (name, tier, the rendered plan or the guard's refusal). A planner that
    cannot plan on this state is reported as such, never taken as applying."""
    out = []
    for name in _REGISTRY.get(check, []):
        rem = request.getfixturevalue(name)
        try:
            plan = rem.plan(ctx, obj, verdict)
        except Exception as e:      # a state the planner does not know: no plan, said so
            out.append({"name": rem.name, "tier": rem.tier, "refused": f"cannot plan on this state: {e}"})
            continue
        if plan is not None:
            out.append(redact_tree({"name": plan.remedy, "tier": plan.tier, "refused": plan.refused,
                                    "plan": plan.render()}))
    return out


def remedy(answers: str, tier: str):
    """Declare a remedy fixture: the decorated function is its planner.

        @remedy("disk_usage", tier=SAFE)
        def prune_docker(ctx, server, verdict) -> Plan | None: ...

    The fixture (named after the function) yields the Remedy, so a site can override it in
    its own conftest.py."""
    assert tier in TIERS, tier

    def wrap(planner):
        name = planner.__name__
        _REGISTRY.setdefault(answers, []).append(name)
        rem = Remedy(name, answers, tier, planner, (planner.__doc__ or "").strip())
        _REMEDIES[name] = rem

        @pytest.fixture(name=name)
        def fixture():
            return rem
        fixture.__doc__ = planner.__doc__
        fixture.remedy = rem
        return fixture
    return wrap


def allowed(config, plan: Plan, stage: str) -> str | None:
    """None if the operator's flags allow this tier, else the flag that would."""
    if plan.tier == SAFE:
        return None
    if plan.tier == RISKY:
        if config.option.allow_risky or config.option.allow_destructive:
            return None
        return "--allow-risky"
    given = config.option.allow_destructive
    if not given:
        return "--allow-destructive"
    if stage == "production" and given != "production":
        return "--allow-destructive=production (this is the production stage)"
    return None


class RemedyPlugin:
    """Registered when --fix or --fix-plan is given."""

    def __init__(self, config):
        self.config = config
        self.plan_only = config.option.fix_plan
        self.audit = Audit(config)

    def remedy(self, request, state, evaluate, obj, verdict: Verdict) -> Verdict:
        names = _REGISTRY.get(evaluate.__name__, [])
        if names and not self.plan_only:
            try:
                waited = SiteLock(state.site, self.config, request.node.nodeid).wait_free()
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
                with SiteLock(state.site, self.config, request.node.nodeid) as lock:
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
                self.audit.record(request.node.nodeid, plan, step, result)
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
    from .remote import Unreachable
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

