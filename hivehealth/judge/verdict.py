"""What a check concludes about one server or cluster object.

Where server text becomes a message (the problems, the evidence) it is made fit for any output
once: secrets redacted and control characters made visible (hivehealth.redact.for_output), so
that no terminal, page or file shows an escape sequence a server sent as anything but text."""
from __future__ import annotations

from dataclasses import dataclass, field

from hivehealth.gather.probe import CommandResult
from hivehealth.redact import for_output, redact

OK, WARN, FAIL, UNKNOWN, SKIP = "ok", "warn", "fail", "unknown", "skip"


@dataclass
class Evidence:
    host: str
    command: str
    rc: int
    output: str

    @classmethod
    def of(cls, host: str, r: CommandResult, limit: int = 1500) -> "Evidence":
        # redacted whole, before the cut: a cut could part a secret from the name that marks it
        text = redact(r.stdout if r.stdout.strip() else r.stderr)
        if len(text) > limit:
            text = text[:limit] + f"\n... ({len(text) - limit} more characters)"
        return cls(host, r.command, r.rc, for_output(text.rstrip()))   # a cut key is caught too

    def render(self) -> str:
        return for_output(f"[{self.host}] $ {self.command}   (exit {self.rc})\n{self.output}")


@dataclass
class Verdict:
    subject: str                       # "s-hive0.lab" or "DRBD resource ldap_data"
    status: str = OK
    problems: list[str] = field(default_factory=list)
    alert: str | None = None           # the zabbix/runbook alert text this check mirrors
    evidence: list[Evidence] = field(default_factory=list)
    data: dict = field(default_factory=dict)   # what a remedy needs (shape, hosts, sizes...)
    notes: list[str] = field(default_factory=list)   # advice shown with a failure

    @property
    def ok(self) -> bool:
        return self.status == OK

    def fail(self, problem: str):
        """A definite fault outranks every other status: a warning or an unknown found first in
        the same check does not hide it."""
        self.problems.append(problem)
        self.status = FAIL

    def warn(self, problem: str):
        """Transient and self-healing (a resync, a drained node, a service converging): the nightly
        run notes it, the maintenance gate (--gate) counts it as not ready."""
        self.problems.append(problem)
        if self.status in (OK, SKIP):
            self.status = WARN

    def unknown(self, problem: str):
        """A state the check cannot read is reported, never passed."""
        self.problems.append(problem)
        self.status = UNKNOWN if self.status != FAIL else FAIL

    def skip(self, reason: str):
        self.status = SKIP
        self.problems = [reason]

    def about(self, name: str) -> str:
        """The prefix of a problem that concerns server or object `name`: none when the subject
        already names it first (`s-hive0.lab`, `s-hive0.lab /var/lib/registry`), since message()
        puts the subject before every problem."""
        if self.subject == name or self.subject.startswith(f"{name} "):
            return ""
        return f"{name}: "

    def cite(self, host: str, r: CommandResult | None):
        if r is not None:
            self.evidence.append(Evidence.of(host, r))

    def message(self) -> str:
        head = f"{self.subject}: " + "; ".join(self.problems)
        if self.alert:
            head += f"\n  zabbix alert: Problem: {self.alert}"
        for n in self.notes:
            head += f"\n  {n}"
        return for_output(head)

    def full_report(self) -> str:
        text = self.message()
        if self.evidence:
            text += "\n\nevidence:\n" + "\n\n".join(e.render() for e in self.evidence)
        return for_output(text)
