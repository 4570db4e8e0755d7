"""What a check sees: the site, the gathered facts, and the site's thresholds."""
from __future__ import annotations

from .gather import CommandResult, HostFacts
from .inventory import Server, Site
from .parsers import ParseError
from .verdict import Verdict


class Context:
    def __init__(self, site: Site, facts: dict[str, HostFacts], ini):
        self.site = site
        self.facts = facts
        self._ini = ini          # callable: name -> str

    def ini(self, name: str) -> str:
        return self._ini(name)

    def number(self, name: str) -> float:
        raw = self._ini(name)
        try:
            return float(str(raw).strip().rstrip("%"))
        except ValueError:
            raise ValueError(f"pytest.ini option {name} = {raw!r} is not a number") from None

    def lines(self, name: str) -> list[str]:
        raw = self._ini(name)
        items = raw if isinstance(raw, list) else str(raw).splitlines()
        return [i.strip() for i in items if i.strip() and not i.strip().startswith("#")]

    def host(self, server: Server | str) -> HostFacts:
        name = server if isinstance(server, str) else server.name
        return self.facts.get(name) or HostFacts(name, unreachable="no facts were gathered")

    def section(self, v: Verdict, server: Server | str, name: str, cite: bool = True,
                quiet: bool = False) -> CommandResult | None:
        """The result of one command on a server, or None after telling the verdict why not.

        quiet=True: a missing answer is not recorded as a problem (the caller has a fallback).
        """
        host = self.host(server)
        if host.unreachable:
            if not quiet:
                v.fail(f"unreachable: {host.unreachable}")
            return None
        r = host.get(name)
        if r is None:
            if not quiet:
                v.unknown(f"{host.server}: `{name}` was not gathered")
            return None
        if cite:
            v.cite(host.server, r)
        if not r.ok:
            if not quiet:
                v.unknown(f"{host.server}: cannot read state: {r.failure()}")
            return None
        return r

    def judge(self, evaluate, obj) -> Verdict:
        """evaluate(self, obj), with output no parser can read made an unknown, never a traceback."""
        try:
            return evaluate(self, obj)
        except ParseError as e:
            subject = getattr(obj, "name", obj)     # a server, a resource name, or None (site-wide)
            v = Verdict(evaluate.__name__ if subject is None else str(subject))
            v.unknown(f"cannot read the gathered output: {e}")
            return v

    def parsed(self, v: Verdict, server: Server | str, name: str, parse, what: str):
        """section(), then parse(stdout): the parsed value, or None after telling the verdict why
        (unknown "cannot read <what>" when the output does not parse)."""
        r = self.section(v, server, name)
        if r is None:
            return None
        try:
            return parse(r.stdout)
        except ParseError as e:
            v.unknown(f"cannot read {what}: {e}")
            return None

    def reachable_hives(self) -> list[Server]:
        return [s for s in self.site.hives if not self.host(s).unreachable]
