"""From a zabbix alert text to the checks it concerns (`pytest --alert "..."`).

The texts are hive-builder's zabbix triggers (numbered Z1-Z13 here;
https://hive-builder.readthedocs.io/ja/latest/zabbix.html) and the built-in "Template OS Linux by
Zabbix agent" triggers its docs name (filesystem space and inodes, clock, agent availability).
A notification reads `Problem: <trigger name>`; the current triggers end in ` (<hive name>)`
while the strings of the repair page (https://hive-builder.readthedocs.io/ja/latest/repair.html)
predate that suffix: both forms are accepted, with or without the prefix.

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
    ("Z2", "Detect SELinux alert", ["selinux"]),
    ("Z3", "At least one of the services is in a failed state", ["units"]),
    ("Z4", "<unit> service has restarted", ["unit_restarts"]),
    ("Z5", "Error Log Detected for Services", ["service_error_log"]),
    ("Z6", "Service <inner> in container <svc> restarted (<hive>)", ["inner_services"]),
    ("Z7", "Service <svc> replicas running percetage less than 100 (<hive>)", ["services"]),
    ("Z8", "Service <svc> restarted (<hive>)", ["services"]),
    ("Z9", "At least one of the services in standalone type container <svc> is in a failed state (<hive>)",
     ["inner_services"]),
    ("Z10", "Exceed 90% Docker volume <vol> in <svc> usage (<hive>)", ["volumes"]),
    ("Z11", "Service <svc>: High CPU usage (over 80% for 5m) (<hive>)", ["service_usage"]),
    ("Z12", "Service <svc>: High memory usage (over 90% for 5m) (<hive>)", ["service_usage"]),
    ("Z13", "Service <svc>: Replica count mismatch (<hive>)", ["services"]),
    ("disk", "<mount>: Disk space is low (used > 80%)", ["disk", "registry"]),
    ("disk", "<mount>: Disk space is critically low (used > 90%)", ["disk", "registry"]),
    ("inodes", "<mount>: Running out of free inodes (free < 20%)", ["inodes"]),
    ("time", "System time is out of sync (diff with Zabbix server > 60s)", ["time"]),
    ("agent", "Zabbix agent is not available (for 3m)", ["unreachable"]),
]

# Triggers the suite knows but does not check: a clearer error than "unknown". Every trigger of
# hive-builder's templates and the built-ins its docs name has a check now.
UNCOVERED: list[tuple[str, str]] = []

_NAME = r"(?P<obj>[^\s()]+)"
_HIVE = r"(?:\s+\((?P<hive>[^()]*)\))?"
_PCT = r"\d+(?:\.\d+)?\s*%"
_MOUNT = r"(?P<obj>/\S*)"
_MOUNT_FS = r"(?P<obj>/[^\s\]]*)"

# Which checks an alert selects, and whether its object is the item's parameter ("object": one
# cluster object) or the alert's host narrows it ("server": a per-server check).
_OBJECT, _SERVER = "object", "server"

# (trigger, regex over the normalized text, areas, function names of the checks, item kind)
_PATTERNS: list[tuple[str, re.Pattern, list[str], list[str], str]] = [
    ("Z1", re.compile(rf"DRBD resource {_NAME} status is not UpToDate/Diskless client{_HIVE}"),
     ["drbd"], ["test_drbd"], _OBJECT),
    ("Z2", re.compile(rf"Detect SELinux alert{_HIVE}"), ["selinux"], ["test_selinux"], _SERVER),
    ("Z3", re.compile(rf"At least one of the services is in a failed state{_HIVE}"),
     ["units"], ["test_units"], _SERVER),
    ("Z4", re.compile(rf"{_NAME} service has restarted{_HIVE}"),
     ["unit_restarts"], ["test_unit_restarts"], _SERVER),
    ("Z5", re.compile(rf"Error Log Detected for Services{_HIVE}"),
     ["service_error_log"], ["test_service_error_log"], _SERVER),
    ("Z6", re.compile(rf"Service (?P<inner>[^\s()]+) in container {_NAME} restarted{_HIVE}"),
     ["inner_services"], ["test_inner_services"], _SERVER),
    ("Z9", re.compile(rf"At least one of the services in standalone type container {_NAME} "
                      rf"is in a failed state{_HIVE}"),
     ["inner_services"], ["test_inner_services"], _SERVER),
    ("Z7", re.compile(rf"Service {_NAME} replicas running percen?tage less than 100{_HIVE}"),
     ["services"], ["test_service"], _OBJECT),
    ("Z13", re.compile(rf"Service {_NAME}: Replica count mismatch{_HIVE}"),
     ["services"], ["test_service"], _OBJECT),
    ("Z8", re.compile(rf"Service {_NAME} restarted{_HIVE}"),
     ["services"], ["test_service"], _OBJECT),
    ("Z10", re.compile(rf"Exceed {_PCT} Docker volume {_NAME} in (?P<svc>[^\s()]+) usage{_HIVE}"),
     ["volumes"], ["test_volume"], _OBJECT),
    ("Z11", re.compile(rf"Service {_NAME}: High CPU usage \(over {_PCT} for \d+[smh]\){_HIVE}"),
     ["service_usage"], ["test_service_usage"], _OBJECT),
    ("Z12", re.compile(rf"Service {_NAME}: High memory usage \(over {_PCT} for \d+[smh]\){_HIVE}"),
     ["service_usage"], ["test_service_usage"], _OBJECT),
    ("disk", re.compile(rf"{_MOUNT}: Disk space is (?:critically )?low \(used > {_PCT}\){_HIVE}"),
     ["disk", "registry"], ["test_disk", "test_registry"], _SERVER),
    # Zabbix 5.x "/: Running out..."; 6.0 and later "FS [/]: Running out..."
    ("inodes", re.compile(rf"(?:FS \[(?=/[^\]]*\]:))?{_MOUNT_FS}\]?: Running out of free inodes \(free < {_PCT}\){_HIVE}"),
     ["inodes"], ["test_inodes"], _SERVER),
    ("time", re.compile(rf"System time is out of sync \(diff with Zabbix server > \d+ ?s\){_HIVE}"),
     ["time"], ["test_time"], _SERVER),
    # Zabbix 5.0-5.2 "(for 3m)"; 5.4 and later "(or nodata for 30m)"
    ("agent", re.compile(rf"Zabbix agent is not available \((?:or nodata )?for \d+[smh]\){_HIVE}"),
     ["unreachable"], ["test_unreachable"], _SERVER),
]

_UNCOVERED_PATTERNS: list[tuple[str, re.Pattern]] = []

_PREFIX = re.compile(r"^(?:Problem|PROBLEM|Resolved|RESOLVED|OK|Problem has been resolved"
                     r"|Resolved in [^:]*)\s*:\s*")
# What a notification may put before the trigger name: the host's name ("s-hive0.pdns: ") or
# the template's tag (Zabbix 6 names the built-ins "Linux: ..."). Tried only when the text as
# given names no trigger, so "/: Disk space..." and "Service x: ..." are never cut.
_LEADER = re.compile(r"^(?P<lead>[A-Za-z0-9][A-Za-z0-9._-]*):\s+")


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
    checks. Cluster objects select their item: Z1 `test_drbd[<vol>]`, Z7/Z8/Z13
    `test_service[<svc>]`, Z10 `test_volume[<vol>]`, Z11/Z12 `test_service_usage[<svc>]`.
    Everything else is a per-server check (`test_units`, `test_disk or test_registry`,
    `test_inodes`, `test_unreachable`, ...), narrowed to `[<host>]` when host is given.
    A leading host name or `Linux: ` is accepted and kept in details["prefix"].
    """
    t = normalize(text)
    if not t:
        raise UnknownAlert(text, "is empty")
    prefixes: list[str] = []
    for _ in range(3):      # the text itself, then without up to two leaders (host, "Linux")
        found = _match_trigger(t, host)
        if found is not None:
            if prefixes:
                found.details["prefix"] = ": ".join(prefixes)
            return found
        lead = _LEADER.match(t)
        if lead is None:
            break
        prefixes.append(lead.group("lead"))
        t = t[lead.end():]
    for trigger, rx in _UNCOVERED_PATTERNS:
        if rx.fullmatch(t):
            raise UncoveredAlert(text, trigger)
    raise UnknownAlert(text)


def _match_trigger(t: str, host: str | None) -> AlertMatch | None:
    for trigger, rx, areas, functions, kind in _PATTERNS:
        m = rx.fullmatch(t)
        if not m:
            continue
        groups = m.groupdict()
        obj = groups.get("obj")
        details = {k: groups[k] for k in ("svc", "inner") if groups.get(k)}
        if "svc" in details:
            details["service"] = details.pop("svc")
        if kind == _OBJECT:
            keyword = _item(functions[0], obj)
        else:  # per-server checks: the object (mount, unit, container) is not in the item name
            keyword = " or ".join(_item(f, host) for f in functions)
        return AlertMatch(trigger, list(areas), obj, keyword, hive=groups.get("hive") or None,
                          host=host, details=details)
    return None


# The runbook's placeholders (its alert texts and commands read "ボリューム名", "サービス名"):
# pasted as they are, they name no object of any site.
PLACEHOLDERS = {"ボリューム名": "the volume's name", "サービス名": "the service's name",
                "hive名": "the hive's name", "ホスト名": "the host's name"}


def placeholder_in(m: AlertMatch) -> str | None:
    """`put the volume's name in place of ボリューム名` when the alert still holds one."""
    for value in (m.object, *m.details.values(), m.hive):
        for word, meaning in PLACEHOLDERS.items():
            if value and word in value:
                return f"put {meaning} in place of {word}"
    return None


def functions_of(m: AlertMatch) -> list[str]:
    """The check functions the alert selects (test_drbd, ...)."""
    return [p[3] for p in _PATTERNS if p[0] == m.trigger][0]


def select(config):
    """--alert TEXT: narrow the run's -k to the checks of that alert; an unknown text, or one
    still holding the runbook's placeholder, is a usage error."""
    o = config.option
    if o.alert is None:      # an empty --alert "" is an error, never "select everything"
        return
    try:
        m = match(o.alert)
    except UnknownAlert as e:
        raise pytest.UsageError(f"hive-health: {e}") from None
    fill = placeholder_in(m)
    if fill:
        raise pytest.UsageError(f"hive-health: --alert {o.alert!r} is the runbook's example: {fill}")
    o.keyword = f"({o.keyword}) and ({m.keyword})" if o.keyword else m.keyword


if __name__ == "__main__":  # python3 -m hivehealth.judge.alerts "Problem: ..."
    import sys
    try:
        m = match(" ".join(sys.argv[1:]))
    except UnknownAlert as e:
        print(e, file=sys.stderr)
        sys.exit(2)
    print(m.keyword)
