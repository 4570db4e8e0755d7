"""From a zabbix alert text to the checks it concerns (`pytest --alert "..."`).

The texts are hive-builder's zabbix triggers (numbered Z1-Z13 here; https://hive-builder.readthedocs.io/ja/latest/zabbix.html)
and the built-in "Linux by Zabbix agent" filesystem triggers. A notification reads
`Problem: <trigger name>`; the current triggers end in ` (<hive name>)` while the strings of
the repair page (https://hive-builder.readthedocs.io/ja/latest/repair.html) predate that suffix: both forms are accepted, with or
without the prefix.

Keywords select exactly one object. pytest's `-k` matches *substrings* of item names, so
`-k ldap` would also select `test_drbd[ldap_data]` and `test_service[ldap_admin]`. The
keyword is therefore the item name with its parameter in brackets, e.g.
`test_service[ldap]`: the closing `]` stops `ldap` from matching `ldap_admin`, and the
function name stops `test_drbd[ldap]` from matching (pytest 7+ accepts `[`, `]`, `.` and
`-` inside a -k identifier). Per-server alerts (disk, units) select every server's check
unless the alert's host is given (zabbix sends it separately, as {HOST.NAME}).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

__all__ = ["AlertMatch", "UnknownAlert", "UncoveredAlert", "KNOWN", "UNCOVERED", "match",
           "normalize"]

# (trigger, template with placeholders, areas the suite checks it in)
KNOWN: list[tuple[str, str, list[str]]] = [
    ("Z1", "DRBD resource <vol> status is not UpToDate/Diskless client", ["drbd"]),
    ("Z3", "At least one of the services is in a failed state", ["units"]),
    ("Z7", "Service <svc> replicas running percetage less than 100 (<hive>)", ["services"]),
    ("Z8", "Service <svc> restarted (<hive>)", ["services"]),
    ("Z10", "Exceed 90% Docker volume <vol> in <svc> usage (<hive>)", ["volumes"]),
    ("Z13", "Service <svc>: Replica count mismatch (<hive>)", ["services"]),
    ("disk", "<mount>: Disk space is low (used > 80%)", ["disk", "registry"]),
    ("disk", "<mount>: Disk space is critically low (used > 90%)", ["disk", "registry"]),
]

# Triggers the suite knows but does not check: a clearer error than "unknown".
UNCOVERED: list[tuple[str, str]] = [
    ("Z2", "Detect SELinux alert"),
    ("Z4", "<unit> service has restarted"),
    ("Z5", "Error Log Detected for Services"),
    ("Z6", "Service <inner> in container <svc> restarted (<hive>)"),
    ("Z9", "At least one of the services in standalone type container <svc> is in a failed state (<hive>)"),
    ("Z11", "Service <svc>: High CPU usage (over 80% for 5m) (<hive>)"),
    ("Z12", "Service <svc>: High memory usage (over 90% for 5m) (<hive>)"),
]

_NAME = r"(?P<obj>[^\s()]+)"
_HIVE = r"(?:\s+\((?P<hive>[^()]*)\))?"
_PCT = r"\d+(?:\.\d+)?\s*%"

# (trigger, regex over the normalized text, areas, function names of the checks)
_PATTERNS: list[tuple[str, re.Pattern, list[str], list[str]]] = [
    ("Z1", re.compile(rf"DRBD resource {_NAME} status is not UpToDate/Diskless client{_HIVE}"),
     ["drbd"], ["test_drbd"]),
    ("Z3", re.compile(rf"At least one of the services is in a failed state{_HIVE}"),
     ["units"], ["test_units"]),
    ("Z7", re.compile(rf"Service {_NAME} replicas running percen?tage less than 100{_HIVE}"),
     ["services"], ["test_service"]),
    ("Z13", re.compile(rf"Service {_NAME}: Replica count mismatch{_HIVE}"),
     ["services"], ["test_service"]),
    ("Z8", re.compile(rf"Service {_NAME} restarted{_HIVE}"),
     ["services"], ["test_service"]),
    ("Z10", re.compile(rf"Exceed {_PCT} Docker volume {_NAME} in (?P<svc>[^\s()]+) usage{_HIVE}"),
     ["volumes"], ["test_volume"]),
    ("disk", re.compile(rf"(?P<obj>/\S*): Disk space is (?:critically )?low \(used > {_PCT}\){_HIVE}"),
     ["disk", "registry"], ["test_disk", "test_registry"]),
]

_UNCOVERED_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("Z2", re.compile(r"Detect SELinux alert")),
    ("Z4", re.compile(r"\S+ service has restarted")),
    ("Z5", re.compile(r"Error Log Detected for Services")),
    ("Z6", re.compile(rf"Service \S+ in container \S+ restarted{_HIVE}")),
    ("Z9", re.compile(rf"At least one of the services in standalone type container \S+ is in a failed state{_HIVE}")),
    ("Z11", re.compile(r"Service \S+: High CPU usage .*")),
    ("Z12", re.compile(r"Service \S+: High memory usage .*")),
]

_PREFIX = re.compile(r"^(?:Problem|PROBLEM|Resolved|RESOLVED|OK|Problem has been resolved"
                     r"|Resolved in [^:]*)\s*:\s*")


@dataclass
class AlertMatch:
    trigger: str              # "Z1" ... "Z13" or "disk" (built-in template)
    areas: list[str]          # report areas of the selected checks
    object: str | None        # DRBD resource, service, volume, mount point; None for units
    keyword: str              # a pytest -k expression selecting exactly these checks
    hive: str | None = None   # the " (<hive>)" suffix, when the text had it
    host: str | None = None   # the server, when given to match()
    details: dict = field(default_factory=dict)  # e.g. {"service": "ldap"} for Z10


class UnknownAlert(ValueError):
    """An alert text the suite does not map to checks; the message lists the ones it does."""

    def __init__(self, text: str, why: str = "is not an alert the suite knows"):
        self.text = text
        super().__init__(f"{text!r} {why}. Alerts it knows:\n" + known_text())


class UncoveredAlert(UnknownAlert):
    """A hive-builder zabbix trigger that the suite recognises but has no check for."""

    def __init__(self, text: str, trigger: str):
        self.trigger = trigger
        super().__init__(text, f"is zabbix trigger {trigger}, which no check of the suite covers")


def known_text() -> str:
    return "\n".join(f"  {template}" for _, template, _ in KNOWN)


def normalize(text: str) -> str:
    """Strip whitespace, quotes and the `Problem: ` prefix; collapse runs of spaces."""
    t = " ".join(str(text).split()).strip().strip("\"'").strip()
    t = _PREFIX.sub("", t, count=1)
    return t


def _item(function: str, param: str | None) -> str:
    return f"{function}[{param}]" if param else function


def match(text: str, host: str | None = None) -> AlertMatch:
    """Map an alert text (and optionally the server it came from) to the checks it concerns.

    Raises UnknownAlert (or its subclass UncoveredAlert) when the text names nothing the suite
    checks. Keywords: Z1 `test_drbd[<vol>]`, Z3 `test_units` (`test_units[<host>]` with host),
    Z7/Z8/Z13 `test_service[<svc>]`, Z10 `test_volume[<vol>]`, disk
    `test_disk or test_registry` (each with `[<host>]` when host is given).
    """
    t = normalize(text)
    if not t:
        raise UnknownAlert(text, "is empty")
    for trigger, rx, areas, functions in _PATTERNS:
        m = rx.fullmatch(t)
        if not m:
            continue
        groups = m.groupdict()
        obj = groups.get("obj")
        details = {"service": groups["svc"]} if groups.get("svc") else {}
        if trigger in ("Z1", "Z7", "Z8", "Z10", "Z13"):
            keyword = _item(functions[0], obj)
        else:  # per-server checks: the object (mount) is not part of the item name
            keyword = " or ".join(_item(f, host) for f in functions)
        return AlertMatch(trigger, list(areas), obj, keyword, hive=groups.get("hive") or None,
                          host=host, details=details)
    for trigger, rx in _UNCOVERED_PATTERNS:
        if rx.fullmatch(t):
            raise UncoveredAlert(text, trigger)
    raise UnknownAlert(text)


if __name__ == "__main__":  # python3 -m hivehealth.judge.alerts "Problem: ..."
    import sys
    try:
        m = match(" ".join(sys.argv[1:]))
    except UnknownAlert as e:
        print(e, file=sys.stderr)
        sys.exit(2)
    print(m.keyword)


def select(config):
    """--alert TEXT: narrow the run's -k to the checks of that alert; an unknown text is a
    usage error."""
    o = config.option
    if o.alert is None:      # an empty --alert "" is an error, never "select everything"
        return
    try:
        m = match(o.alert)
    except UnknownAlert as e:
        raise pytest.UsageError(f"hive-health: {e}") from None
    o.keyword = f"({o.keyword}) and ({m.keyword})" if o.keyword else m.keyword
