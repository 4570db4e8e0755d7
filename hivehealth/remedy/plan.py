"""--fix: the runbook's remedies, held to their tier, behind guards, one fixer per site.

A remedy is a pytest fixture (see fixes/) whose value is a `Remedy`: the check it answers, its
tier, and a planner that returns a `Plan` (steps: server, command, why) or refuses with a
reason. The runner (hivehealth.remedy.runner) applies them.

A step's command is argv (`Cmd`), never shell text: each argument is quoted, sudo is a flag, and
data reaches an argument only as a name validated by hivehealth.names; a planner that meets a
name its tool does not allow is refused, naming it. A check whose state is unknown gets no
change, at most its plan's read-only diagnosis.
"""
from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, field
from typing import Callable

import pytest

from hivehealth.parsers import ParseError
from hivehealth.redact import redact_tree
from hivehealth.remedy.guards import Unseen
from hivehealth.remedy.names import InvalidName, Name

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
class Decision:
    """What a Watch concludes from every host's answer: done (go on with `then`, then the
    plan's next steps), stop (the remedy ends here: why, and what the operator does next), or
    neither (keep reading: `waiting_for` says what is not there yet)."""
    done: bool = False
    stop: str | None = None
    then: list = field(default_factory=list)    # Steps / Watches to run before the plan's next
    waiting_for: str = ""


@dataclass
class Watch:
    """Read one command on several servers, then decide from all the answers together; read
    again every 2 s until the decision is done or stop, at most `wait` seconds. Every read is
    run and audited like a step. A remedy whose safety depends on the state of the whole
    cluster watches every server, never only the one it acts on."""
    hosts: list[str]
    run: Cmd | Compound
    why: str
    decide: Callable[[dict[str, tuple[int, str]]], Decision]   # host -> (exit code, output)
    wait: float = 0
    ok_codes: tuple = (0,)

    def __post_init__(self):
        if not isinstance(self.run, (Cmd, Compound)):
            raise TypeError(f"a watch runs a Cmd (argv), never shell text: {self.run!r}")

    @property
    def shown(self) -> str:
        return self.run.shell("sudo ")

    def read_on(self, host: str) -> Step:
        """The read on one host, as a step (what runs and what the audit records)."""
        return Step(host, self.run, self.why, wait=0, ok_codes=tuple(range(256)))

    def render(self) -> str:
        wait = f", again every 2 s for up to {self.wait:g} s until decided" if self.wait else ""
        return f"[{', '.join(self.hosts)}] {self.shown}   (read on each{wait})\n      why: {self.why}"


def step_hosts(step) -> list[str]:
    """The servers a step or a watch runs on."""
    return list(step.hosts) if isinstance(step, Watch) else [step.host]


@dataclass
class Plan:
    remedy: str = ""                # filled from the Remedy when left empty
    tier: str = ""
    steps: list = field(default_factory=list)   # Step / Watch, in order
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
    answers: Callable               # the check function it answers (e.g. checks.test_disk.disk_usage)
    tier: str
    planner: Callable               # (ctx, obj, verdict) -> Plan | None (None: not for this failure)
    doc: str = ""

    def plan(self, ctx, obj, verdict) -> Plan | None:
        """The planner's plan; refused when it would pass a name its tool does not allow, when
        a guard cannot see a server it must see (guards.Unseen), or when a fact it reads does
        not parse."""
        try:
            plan = self.planner(ctx, obj, verdict)
        except InvalidName as e:
            plan = Plan(refused=f"{e}; it is passed to no command")
        except Unseen as e:
            plan = Plan(refused=str(e))
        except ParseError as e:
            plan = Plan(refused=f"cannot read what the guard needs: {e}; nothing is changed")
        if plan is None:
            return None
        plan.remedy, plan.tier = plan.remedy or self.name, plan.tier or self.tier
        return plan


_REGISTRY: dict[Callable, list[str]] = {}    # check function -> remedy fixture names, in declaration order
_DECLARED: list[tuple[str, Callable]] = []   # (where the remedy is, what it answers), for validate()


def remedy(answers: Callable, tier: str):
    """Declare a remedy fixture: the decorated function is its planner.

        from hivehealth.checks.test_disk import disk_usage

        @remedy(disk_usage, tier=SAFE)
        def prune_docker(ctx, server, verdict) -> Plan | None: ...

    `answers` is the check function itself (what the check hands to `verify`), so a renamed
    or mistyped check is an error when the suite starts (validate), never a remedy that
    silently stops applying. The fixture (named after the function) yields the Remedy, so a
    site can override it in its own conftest.py."""
    if tier not in TIERS:
        raise ValueError(f"remedy tier {tier!r}: one of {', '.join(TIERS)}")

    def wrap(planner):
        name = planner.__name__
        where = f"{planner.__module__}.{name}"
        if isinstance(answers, str) or not callable(answers):
            raise TypeError(f"remedy {where}: give the check function it answers (imported from its "
                            f"check module), not {answers!r}")
        _REGISTRY.setdefault(answers, []).append(name)
        _DECLARED.append((where, answers))
        rem = Remedy(name, answers, tier, planner, (planner.__doc__ or "").strip())
        _REMEDIES[name] = rem

        @pytest.fixture(name=name)
        def fixture():
            return rem
        fixture.__doc__ = planner.__doc__
        fixture.remedy = rem
        return fixture
    return wrap


def validate() -> list[str]:
    """What is wrong with the declared remedies: each must answer a check function, i.e. a
    top-level function of a check module (test_<area>.py) other than its test functions."""
    problems = []
    for where, fn in _DECLARED:
        module = sys.modules.get(getattr(fn, "__module__", None) or "")
        name = getattr(fn, "__name__", "")
        if module is None or getattr(module, name, None) is not fn \
                or not module.__name__.rsplit(".", 1)[-1].startswith("test_") or name.startswith("test_"):
            problems.append(f"remedy {where} answers {getattr(fn, '__qualname__', fn)!r}, which is not the "
                            f"check function of a check module (test_<area>.py)")
    return problems


def remedies_for(check: Callable) -> list[str]:
    """The remedy fixtures that answer this check function, in declaration order."""
    return list(_REGISTRY.get(check, []))


_REMEDIES: dict[str, Remedy] = {}       # remedy fixture name -> its Remedy


def remedies_named(check: str) -> list[Remedy]:
    """The remedies declared for a check function of this name (what a report records), in
    declaration order."""
    return [_REMEDIES[n] for fn, names in _REGISTRY.items() if fn.__name__ == check
            for n in names if n in _REMEDIES]


def applicable(request, ctx, check: Callable, obj, verdict) -> list[dict]:
    """What --fix would plan for this failure, without running anything: each remedy whose
    planner takes it (name, tier, the rendered plan or the guard's refusal). A planner that
    cannot plan on this state is reported as such, never taken as applying."""
    out = []
    for name in remedies_for(check):
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
