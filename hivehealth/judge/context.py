"""What a check sees: the site, the gathered facts, and the site's thresholds."""
from __future__ import annotations

import json

from hivehealth import options
from hivehealth.gather.probe import TIMED_OUT, CommandResult, HostFacts
from hivehealth.site.inventory import Server, Site
from hivehealth.parsers import ParseError
from hivehealth.judge.verdict import FAIL, Verdict

# Exit codes after which a command's output is no answer at all, whatever it printed: timeout
# killed it (124; 137 after -k), timeout itself failed (125), it could not run (126, 127), or a
# signal ended it (128 + n).
NO_ANSWER = frozenset({TIMED_OUT, 125, 126, 127})


def gave_no_answer(r: CommandResult) -> bool:
    return r.rc in NO_ANSWER or r.rc >= 128 or r.rc < 0 or not r.stdout.strip()


def cut_short(text: str) -> str | None:
    """Why `text` is not all a command printed, or None when it is complete.

    Every tool the suite runs ends its output with a newline; output whose last line lacks it was
    cut (the process was killed mid-write, the probe's temporary file hit a full disk, a bundle was
    truncated), so its last token may be cut in half: "/var/lib/docker" read as "/var/li". A JSON
    object or array (or the last line of NDJSON) that parses whole is complete with or without it.
    """
    if not text or text.endswith("\n"):
        return None
    last = text.rsplit("\n", 1)[-1]
    for candidate in (text, last):
        if not candidate.lstrip().startswith(("{", "[")):
            continue    # a bare number or word parses as JSON too: "1258" of "12582912"
        try:
            json.loads(candidate)
            return None
        except ValueError:
            pass
    return f"its output ends in the middle of a line ({last.strip()[-60:]!r}): it was cut short"


def complete_lines(text: str) -> str:
    """The lines of `text` that ended: what a cut-short output says for certain."""
    return text[:text.rfind("\n") + 1]


class Context:
    def __init__(self, site: Site, facts: dict[str, HostFacts], ini):
        self.site = site
        self.facts = facts
        self._ini = ini          # callable: name -> str
        # verdicts judged on less than a whole answer: id(verdict) -> {section: (server, why)};
        # such a verdict may fail, but never pass (see judge)
        self._incomplete: dict[int, dict[str, tuple[str, str]]] = {}

    def ini(self, name: str):
        """A site's value of an ini option; its declared default where pytest has none (a
        check imported by a unit test, without the suite's configuration)."""
        try:
            value = self._ini(name)
        except (ValueError, KeyError):
            return options.default(name)
        return options.default(name) if value is None else value

    def number(self, name: str, unit: str = "%") -> float:
        """An ini option that is a number, written bare or with its unit (`80%`, `26h`, `5s`)."""
        raw = self.ini(name)
        try:
            return float(str(raw).strip().rstrip(unit).strip())
        except ValueError:
            raise ValueError(f"pytest.ini option {name} = {raw!r} is not a number") from None

    def lines(self, name: str) -> list[str]:
        raw = self.ini(name)
        items = raw if isinstance(raw, list) else str(raw).splitlines()
        return [i.strip() for i in items if i.strip() and not i.strip().startswith("#")]

    def host(self, server: Server | str) -> HostFacts:
        name = server if isinstance(server, str) else server.name
        return self.facts.get(name) or HostFacts(name, unreachable="no facts were gathered")

    def not_recorded(self, host: HostFacts, name: str) -> bool:
        """A replayed recording whose probe did not ask for section `name` (it was made by a
        version that had no such section): nothing is known, nothing is wrong. A recording made
        before recordings listed their sections (and their version) lacks every newer one."""
        recorded = self.site.recorded
        if recorded is None:
            return False
        if host.sections is None:
            return recorded.get("by") is None
        return name not in host.sections

    def section(self, v: Verdict, server: Server | str, name: str, cite: bool = True,
                quiet: bool = False, partial: bool = False) -> CommandResult | None:
        """The result of one command on a server, or None after telling the verdict why not.

        quiet=True: a missing answer is not recorded as a problem (the caller has a fallback).
        partial=True: the caller can judge what the command printed when it exited non-zero
        (tools like df and du print every item they could read and exit 1 naming the others on
        stderr); the error becomes a note. Otherwise a non-zero exit is no answer.
        Output cut short (see cut_short) is trimmed to its complete lines and the verdict may
        then fail on what they show, never pass.
        """
        r = self._answer(v, server, name, cite, quiet, partial)
        if r is None:
            return None
        short = cut_short(r.stdout)
        if short and not complete_lines(r.stdout).strip():
            if not quiet:
                v.unknown(f"{v.about(self.host(server).server)}cannot read state: `{r.command}` {short}")
            return None
        return self._trimmed(v, server, r, short)

    def _answer(self, v, server, name, cite, quiet, partial) -> CommandResult | None:
        host = self.host(server)
        if host.unreachable:
            if not quiet:
                v.fail(f"{v.about(host.server)}unreachable: {host.unreachable}")
            return None
        r = host.get(name)
        if r is None:
            if quiet:
                return None
            if self.not_recorded(host, name):
                by = self.site.recorded.get("by") or "an older hive-health"
                v.skip(f"{v.about(host.server)}`{name}` is not in this recording ({by} did not "
                       f"ask for it): not checked")
            else:
                v.unknown(f"{v.about(host.server)}`{name}` was not gathered")
            return None
        if cite:
            v.cite(host.server, r)
        if not r.ok and (not partial or gave_no_answer(r)):
            if not quiet:
                v.unknown(f"{v.about(host.server)}cannot read state: {r.failure()}")
            return None
        if not r.ok:
            errors = [ln.strip() for ln in r.stderr.splitlines() if ln.strip()]
            shown = "; ".join(errors[:3]) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
            v.notes.append(f"{host.server}: `{r.command}` exited {r.rc}"
                           + (f" ({shown})" if shown else "") + ": judged on what it printed")
        return r

    def _trimmed(self, v, server, r: CommandResult, short: str | None) -> CommandResult:
        """r with only its complete lines, the verdict marked as judged on part of an answer."""
        if not short:
            return r
        self._incomplete.setdefault(id(v), {})[r.name] = (self.host(server).server, f"`{r.command}` {short}")
        return CommandResult(r.name, r.command, r.rc, complete_lines(r.stdout), r.stderr)

    def replaced(self, v: Verdict, name: str):
        """The check judged without section `name` after all (it fell back to another)."""
        self._incomplete.get(id(v), {}).pop(name, None)

    def judge(self, evaluate, obj) -> Verdict:
        """evaluate(self, obj), with output no parser can read made an unknown, never a traceback."""
        try:
            v = evaluate(self, obj)
        except ParseError as e:
            subject = getattr(obj, "name", obj)     # a server, a resource name, or None (site-wide)
            v = Verdict(evaluate.__name__ if subject is None else str(subject))
            v.unknown(f"cannot read the gathered output: {e}")
            return v
        for server, short in self._incomplete.pop(id(v), {}).values():
            if v.status == FAIL:
                v.notes.append(f"{server}: {short}; judged on its complete lines")
            else:
                v.unknown(f"{v.about(server)}{short}: what it left out may not be fine")
        return v

    def parsed(self, v: Verdict, server: Server | str, name: str, parse, what: str,
               partial: bool = False):
        """section(), then parse(stdout): the parsed value, or None after telling the verdict why
        (unknown "cannot read <what>" when the output does not parse)."""
        r = self._answer(v, server, name, True, False, partial)
        if r is None:
            return None
        short = cut_short(r.stdout)
        if short and not complete_lines(r.stdout).strip():
            v.unknown(f"{v.about(self.host(server).server)}cannot read {what}: `{r.command}` {short}")
            return None
        r = self._trimmed(v, server, r, short)
        try:
            return parse(r.stdout)
        except ParseError as e:
            v.unknown(f"{v.about(self.host(server).server)}cannot read {what}: {e}")
            return None

    def reachable_hives(self) -> list[Server]:
        return [s for s in self.site.hives if not self.host(s).unreachable]
