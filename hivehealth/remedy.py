"""--fix: the runbook's remedies, held to their tier, behind guards, one fixer per site.

A remedy is a pytest fixture (see fixes/) whose value is a `Remedy`: the check it answers, its
tier, and a planner that returns a `Plan` (steps: server, command, why) or refuses with a
reason. For a failing check the engine finds its remedies, takes the site lock (gathering again
if another fix ran since this run's facts), plans, checks tier and guards, runs each step
(audited), counts the fix, re-gathers the facts and re-runs the check.

A step's command is argv (`Cmd`), never shell text: each argument is quoted, sudo is a flag, and
data reaches an argument only as a name validated by hivehealth.names; a planner that meets a
name its tool does not allow is refused, naming it. A check whose state is unknown gets no
change, at most its plan's read-only diagnosis.
"""
from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass, field
from typing import Callable

import pytest

from .audit import Audit
from .lock import LockError, SiteLock, lock_dir, read_sequence
from .names import InvalidName, Name
from .redact import redact, redact_tree
from .verdict import UNKNOWN, Verdict

SAFE, RISKY, DESTRUCTIVE = "safe", "risky", "destructive"
TIERS = (SAFE, RISKY, DESTRUCTIVE)


CONSTANT = re.compile(r'[-A-Za-z0-9 \t_./=:,@%+{}"^]*')
PROGRAM = re.compile(r"[a-z][a-z0-9_.-]*")


class UnsafeArgument(InvalidName):
    """A command argument that is neither a validated name nor plain constant text."""


def _arg(value) -> str:
    """One argv element. A validated name (names.Name) or an int passes as it is; any other text
    must look like a constant (no shell or glob character, no backslash, no newline), so that a
    remedy that builds an argument from unvalidated data fails here, naming it."""
    if isinstance(value, Name):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and CONSTANT.fullmatch(value):
        return value
    raise UnsafeArgument("command argument", value,
                         "only validated names (hivehealth.names) may carry data into a command")


class Cmd:
    """One program with its arguments. Each argument reaches the program as exactly one word
    (shlex.quote); `root=True` runs it through sudo when the login is not root. A remedy never
    writes shell text: it composes Cmds with all_of / each / pipe."""

    def __init__(self, program: str, *args, root: bool = False, negate: bool = False,
                 quiet: bool = False):
        if not isinstance(program, str) or not PROGRAM.fullmatch(program):
            raise TypeError(f"a command starts with a program name, not {program!r}")
        self.argv = (program, *(_arg(a) for a in args))
        self.root, self.negate, self.quiet = root, negate, quiet

    def shell(self, sudo: str = "$SUDO ") -> str:
        text = ("! " if self.negate else "") + (sudo if self.root else "") + shlex.join(self.argv)
        return text + (" 2>/dev/null" if self.quiet else "")


class Compound:
    """Commands joined by one shell operator (&&, ;, |); a nested compound is grouped."""

    def __init__(self, op: str, parts):
        if not parts or not all(isinstance(p, (Cmd, Compound)) for p in parts):
            raise TypeError("a compound command joins Cmds")
        if op == "|" and not all(isinstance(p, Cmd) and not p.negate for p in parts):
            raise TypeError("a pipeline joins simple commands")
        self.op, self.parts = op, list(parts)

    def shell(self, sudo: str = "$SUDO ") -> str:
        def one(p):
            text = p.shell(sudo)
            return f"{{ {text}; }}" if isinstance(p, Compound) and p.op != "|" else text
        sep = "; " if self.op == ";" else f" {self.op} "
        return sep.join(one(p) for p in self.parts)


def all_of(*parts) -> Compound:
    """Each command only if the one before it succeeded (&&)."""
    return Compound("&&", parts)


def each(*parts) -> Compound:
    """Every command, whatever the one before it did (;)."""
    return Compound(";", parts)


def pipe(*parts) -> Compound:
    return Compound("|", parts)


@dataclass
class Step:
    host: str                       # a server of the site's inventory (checked before it runs)
    run: Cmd | Compound
    why: str
    until: Callable[[str], bool] | None = None   # repeat until this holds on the output
    wait: float = 0                 # seconds to keep repeating (with until)
    ok_codes: tuple = (0,)

    def __post_init__(self):
        if not isinstance(self.run, (Cmd, Compound)):
            raise TypeError(f"a step runs a Cmd (argv), never shell text: {self.run!r}")

    @property
    def command(self) -> str:
        """The shell text: every argument quoted, `$SUDO` where root is needed."""
        return self.run.shell()

    @property
    def shown(self) -> str:
        """As the operator would type it."""
        return self.run.shell("sudo ")

    def render(self) -> str:
        text = f"[{self.host}] {self.shown}"
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
        """The planner's plan; refused when it would pass a name its tool does not allow."""
        try:
            plan = self.planner(ctx, obj, verdict)
        except InvalidName as e:
            plan = Plan(refused=f"{e}; it is passed to no command")
        if plan is None:
            return None
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
        from .plugin import STATE
        state = self.config.stash.get(STATE, None)
        if state is None:
            return None
        try:
            return read_sequence(lock_dir(state.site, self.config))
        except OSError:
            return None

    def remedy(self, request, state, evaluate, obj, verdict: Verdict) -> Verdict:
        names = _REGISTRY.get(evaluate.__name__, [])
        if not names:
            return verdict
        remedies = [request.getfixturevalue(n) for n in names]
        if self.plan_only:
            return self._run(request, state, evaluate, obj, verdict, remedies, None)
        try:
            with SiteLock(state.site, self.config, request.node.nodeid) as lock:
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
        for step in plan.steps:
            server = state.site.server(step.host)
            deadline = time.time() + step.wait
            while True:
                result = run_step(state, server, step)
                self.audit.record(request.node.nodeid, plan, step, result)
                log.commands.append((step.host, step.shown, result.rc, result.output))
                if result.rc not in step.ok_codes:
                    return False
                if step.until is None or step.until(result.output) or time.time() > deadline:
                    break
                time.sleep(2)
            if step.until is not None and not step.until(result.output):
                log.commands.append((step.host, "(gave up waiting)", 1, f"not done after {step.wait:g} s"))
                return False
        return True


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
    from .remote import Unreachable
    script = ('if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi\n'
              f"export LC_ALL=C\n{{ {step.command}\n}} 2>&1\n")
    try:
        r = state.pool.run(server, script, float(state.config.getini("command_timeout")) + step.wait)
    except Unreachable as e:
        return StepResult(255, f"unreachable: {e}")
    return StepResult(r.rc, r.stdout + r.stderr)


def _refuse_foreign_hosts(plan: Plan, site):
    """A step runs only on a server of the site's inventory, named exactly as there."""
    servers = {s.name for s in site.servers}
    strangers = sorted({s.host for s in plan.steps + plan.diagnose if s.host not in servers})
    if strangers and not plan.refused:
        plan.refused = (f"a step would run on {', '.join(map(repr, strangers))}, which is not a server "
                        f"of the site's inventory")


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

