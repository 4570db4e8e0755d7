"""Waivers: accepted exceptions, each with a justification and an expiry date.

File format (YAML; path from an ini option)::

    waivers:
      - check: test_units and s-hive1.lab     # a pytest -k expression (or a plain check name)
        host: s-hive1.lab                     # optional: only this server
        justification: kdump.service fails on this VM type; vendor ticket 4711
        expires: 2026-12-31                   # last day the waiver applies (inclusive)
        owner: ops@example.org                # optional

`check` is evaluated exactly as pytest evaluates `-k`: with pytest's own expression parser,
each identifier matching (case-insensitively) a substring of one of the item's keywords
(its name with parameters, its module, its directory, its markers). `host` matches the
server a check concerns: the full name (`s-hive1.lab`) or the short one (`s-hive1`).
A waiver whose `expires` day is past no longer applies; `find` returns it as expired so the
report can say so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml
from _pytest.mark.expression import Expression

from hivehealth.ids import item_check_id
from hivehealth.options import base_dir
from hivehealth.site.bounded_yaml import BoundedLoader, YamlLimitError, read_bytes

__all__ = ["Waiver", "WaiverError", "load", "parse", "find", "keywords_of_nodeid",
           "keywords_of_item", "host_of_nodeid"]

REQUIRED = ("check", "justification", "expires")
OPTIONAL = ("host", "owner")


class WaiverError(Exception):
    """A malformed waiver file: names the file, the entry and the problem."""

    def __init__(self, path, problem: str, index: int | None = None, line: int | None = None):
        self.path, self.problem, self.index, self.line = str(path), problem, index, line
        where = str(path)
        if line is not None:
            where += f", line {line}"
        if index is not None:
            where += f", waiver #{index + 1}"
        super().__init__(f"waiver file {where}: {problem}")


@dataclass
class Waiver:
    check: str
    justification: str
    expires: date
    host: str | None = None
    owner: str | None = None
    index: int = 0                     # position in the file, 0-based
    source: str = ""                   # the file it came from
    line: int | None = None            # 1-based line of the entry
    _expr: Expression | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self._expr is None:
            self._expr = Expression.compile(self.check)

    def expired(self, today: date) -> bool:
        """True once `expires` is past: the waiver applies through its expiry day."""
        return today > self.expires

    def selects(self, nodeid: str, keywords: set[str] | None, host: str | None) -> bool:
        """Whether the check expression and host select this item (expiry not considered)."""
        if self.host:
            if not host:
                host = host_of_nodeid(nodeid)
            if not host or not same_host(self.host, host):
                return False
        names = {k.lower() for k in (keywords or ())} | keywords_of_nodeid(nodeid)

        def matcher(subname: str, /, **kwargs) -> bool:
            if kwargs:  # like pytest's KeywordMatcher: no call syntax in -k
                return False
            subname = subname.lower()
            return any(subname in name for name in names)

        return self._expr.evaluate(matcher)

    def matches(self, nodeid: str, keywords: set[str] | None, host: str | None, today: date) -> bool:
        """Selected, and not expired."""
        return not self.expired(today) and self.selects(nodeid, keywords, host)

    def where(self) -> str:
        return f"{self.source}" + (f":{self.line}" if self.line else "") + f" waiver #{self.index + 1}"

    def as_report(self) -> dict:
        """What the JSON report's `waived` field holds."""
        d = {"reason": self.justification, "expires": self.expires.isoformat(), "check": self.check}
        if self.host:
            d["host"] = self.host
        if self.owner:
            d["owner"] = self.owner
        return d


def same_host(a: str, b: str) -> bool:
    """s-hive1.lab == s-hive1.lab; s-hive1 == s-hive1.lab (short vs full name)."""
    a, b = a.strip().lower(), b.strip().lower()
    if a == b:
        return True
    if "." in a and "." in b:
        return False
    return a.split(".")[0] == b.split(".")[0]


_PARAM = re.compile(r"\[([^\[\]]*)\]$")


def host_of_nodeid(nodeid: str) -> str | None:
    """checks/test_disk.py::test_disk[s-hive0.lab] -> s-hive0.lab (a per-server check's
    parameter). Returns the parameter of any item; the caller compares it to a host."""
    m = _PARAM.search(nodeid)
    return m.group(1) if m else None


def keywords_of_nodeid(nodeid: str) -> set[str]:
    """The names pytest's KeywordMatcher would see, as far as the node id tells:
    directories, module file, function[params] (lower case)."""
    parts = nodeid.split("::")
    names = set()
    for p in parts[0].split("/"):
        if p:
            names.add(p)
    names.update(p for p in parts[1:] if p)
    return {n.lower() for n in names}


def keywords_of_item(item) -> set[str]:
    """The keyword names pytest's own -k would match for a collected item."""
    try:
        from _pytest.mark import KeywordMatcher
        return set(KeywordMatcher.from_item(item)._names)
    except Exception:  # pragma: no cover: private API moved
        names = {n.name for n in item.listchain()}
        names.update(item.listextrakeywords())
        names.update(m.name for m in item.iter_markers())
        return names


def _as_date(value, path, i, line) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
                return date.fromisoformat(value.strip())
        except ValueError as e:
            raise WaiverError(path, f"expires {value!r} is not a valid date: {e}", i, line) from None
    raise WaiverError(path, f"expires {value!r} is not a date like 2026-12-31", i, line)


class _Loader(BoundedLoader):
    """SafeLoader (within the site files' bounds) that leaves dates as text, so a bad date is
    reported with its entry."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def parse(text: str, path="<waivers>") -> list[Waiver]:
    """Parse the YAML text of a waiver file; raises WaiverError."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except YamlLimitError as e:
        raise WaiverError(path, e.problem, line=e.line) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        ctx = getattr(e, "context", None)
        raise WaiverError(path, f"YAML syntax error: {problem}" + (f" ({ctx})" if ctx else ""),
                          line=line) from None
    if data is None:
        return []
    if not isinstance(data, dict):
        raise WaiverError(path, f"the file must be a mapping with a `waivers:` list, not a {type(data).__name__}")
    extra = sorted(str(k) for k in data if k != "waivers")
    if extra:
        raise WaiverError(path, f"unknown top-level key(s) {', '.join(extra)} (only `waivers:` is allowed)")
    entries = data.get("waivers")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise WaiverError(path, f"`waivers:` must be a list of entries, not a {type(entries).__name__}")
    lines = []
    try:
        for n in node.value:
            if n[0].value == "waivers" and isinstance(n[1], yaml.SequenceNode):
                lines = [item.start_mark.line + 1 for item in n[1].value]
    except Exception:
        lines = []
    out = []
    for i, entry in enumerate(entries):
        line = lines[i] if i < len(lines) else None
        if not isinstance(entry, dict):
            raise WaiverError(path, f"an entry must be a mapping with {', '.join(REQUIRED)}, "
                                    f"not {entry!r}", i, line)
        unknown = sorted(str(k) for k in entry if k not in REQUIRED + OPTIONAL)
        if unknown:
            raise WaiverError(path, f"unknown key(s) {', '.join(unknown)} (allowed: "
                                    f"{', '.join(REQUIRED + OPTIONAL)})", i, line)
        for key in REQUIRED:
            value = entry.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise WaiverError(path, f"missing {key}" + (
                    " (say why this failure is accepted)" if key == "justification" else
                    " (the last day it applies, YYYY-MM-DD)" if key == "expires" else
                    " (a check name or -k expression, e.g. `test_units and s-hive1.lab`)"), i, line)
        for key in ("check", "justification", "host", "owner"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise WaiverError(path, f"{key} must be text, not {entry[key]!r}", i, line)
        expires = _as_date(entry["expires"], path, i, line)
        check = entry["check"].strip()
        try:
            expr = Expression.compile(check)
        except SyntaxError as e:
            raise WaiverError(path, f"check {check!r} is not a valid -k expression: {e.msg}", i, line) from None
        host = (entry.get("host") or "").strip() or None
        out.append(Waiver(check=check, justification=entry["justification"].strip(), expires=expires,
                          host=host, owner=entry.get("owner"), index=i, source=str(path), line=line,
                          _expr=expr))
    return out


def load(path) -> list[Waiver]:
    """Read a waiver file; raises WaiverError naming the file, the entry and the problem."""
    p = Path(path)
    try:
        text = read_bytes(p).decode("utf-8")
    except YamlLimitError as e:
        raise WaiverError(path, e.problem) from None
    except FileNotFoundError:
        raise WaiverError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise WaiverError(path, f"cannot read: {e}") from None
    return parse(text, path)


def find(waivers: list[Waiver], nodeid: str, keywords: set[str] | None, host: str | None,
         today: date) -> tuple[Waiver | None, list[Waiver]]:
    """(the first active waiver selecting this check or None, the expired ones selecting it)."""
    active, expired = None, []
    for w in waivers:
        if not w.selects(nodeid, keywords, host):
            continue
        if w.expired(today):
            expired.append(w)
        elif active is None:
            active = w
    return active, expired


if __name__ == "__main__":  # python3 -m hivehealth.report.waivers FILE: validate and list
    import sys
    try:
        ws = load(sys.argv[1])
    except WaiverError as e:
        print(e, file=sys.stderr)
        sys.exit(2)
    today = date.today()
    for w in ws:
        state = "EXPIRED" if w.expired(today) else "active"
        print(f"{state:8} until {w.expires}  {w.check}" + (f"  host {w.host}" if w.host else "")
              + f"  # {w.justification}")


def load_configured(config) -> list:
    """The waivers of `waivers_file` (relative to the pytest.ini in use); errors are usage errors."""
    path = config.getini("waivers_file").strip()
    if not path:
        return []
    try:
        return load(base_dir(config) / path)
    except WaiverError as e:
        raise pytest.UsageError(f"hive-health: {e}") from None


class Waivers:
    """A waived failure does not fail the run: it is reported as xfail with the justification."""

    def __init__(self, loaded):
        self.loaded = loaded

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if report.when != "call" or not report.failed or not self.loaded:
            return
        host = getattr(getattr(item, "callspec", None), "params", {}).get("server")
        active, expired = find(self.loaded, item_check_id(item), keywords_of_item(item),
                                       getattr(host, "name", None), date.today())
        for w in expired:
            report.user_properties.append(("hivehealth-waiver-expired", w.as_report()))
            report.sections.append(("hive-health waiver", f"EXPIRED on {w.expires}: {w.justification}"))
        if active is not None:
            report.user_properties.append(("hivehealth-waived", active.as_report()))
            report.outcome = "skipped"
            report.wasxfail = f"waived until {active.expires}: {active.justification}"
