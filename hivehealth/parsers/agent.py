"""The outputs of the sections that read what hive-builder's zabbix agent reads
(declared by the zabbix-parity check modules): ausearch records, the service error log, systemd
restart times, docker stats.

The sections print "key value" lines of their own and prefix every line that comes from the
site (a log line, an audit record, a container's output) with "| ".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from . import ParseError, json_loads
from .systemd import parse_show

SITE_LINE = "| "


def _split(text: str) -> tuple[dict[str, str], list[str]]:
    """Own "key value" lines (first word -> rest; repeated keys keep the last) and site lines."""
    keys: dict[str, str] = {}
    site: list[str] = []
    for line in text.splitlines():
        if line.startswith(SITE_LINE) or line == SITE_LINE.strip():
            site.append(line[len(SITE_LINE):])
        elif line.strip():
            key, _, value = line.partition(" ")
            keys[key] = value.strip()
    return keys, site


def _int(keys: dict, name: str, what: str) -> int:
    raw = keys.get(name)
    try:
        return int(raw.split()[0])
    except (AttributeError, ValueError, IndexError):
        raise ParseError(what, f"no number after {name!r} (got {raw!r})") from None


# ---------------------------------------------------------------- SELinux (ausearch --raw)
SELINUX_WHAT = "getenforce / ausearch --raw"
AUDIT_TYPES = ("AVC", "USER_AVC", "SELINUX_ERR", "USER_SELINUX_ERR")
# the lines zabbix's ausearch.conf drops: `grep -v 'received [a-z]* notice'` (policy loads,
# setenforce)
NOTICE = re.compile(r"received [a-z]* notice")
_RECORD = re.compile(r"^type=(?P<type>[A-Z_]+) msg=audit\((?P<time>\d+(?:\.\d+)?):(?P<serial>\d+)\):\s*(?P<body>.*)$")
_FIELD = re.compile(r"\b(scontext|tcontext|tclass|comm|exe|permissive)=(\"[^\"]*\"|\S+)")
# what is between the braces (a record without the closing brace names none): matched up to the
# first brace, never retried from a later `avc:` (no later one can have a brace either)
_PERMS = re.compile(r"avc:\s+denied\s+\{\s*([^}]*)")


@dataclass
class AuditRecord:
    type: str
    time: float
    serial: int
    body: str
    fields: dict = field(default_factory=dict)

    @property
    def notice(self) -> bool:
        return bool(NOTICE.search(self.body))

    def summary(self) -> str:
        f = self.fields
        perms = _PERMS.search(self.body)
        closed = perms is not None and self.body.startswith("}", perms.end())
        what = f"denied {{ {perms.group(1).strip()} }}" if closed else self.type
        parts = [what]
        for k in ("comm", "scontext", "tcontext", "tclass"):
            if k in f:
                parts.append(f"{k}={f[k]}")
        return " ".join(parts)


@dataclass
class SelinuxState:
    mode: str                       # Enforcing, Permissive, Disabled, Unknown, none (no SELinux)
    now: int | None = None
    today: int | None = None        # the server's local midnight
    boot: int | None = None
    since: int | None = None        # from when records were read
    rc: int | None = None
    records: list[AuditRecord] = field(default_factory=list)
    count: int = 0                  # records ausearch printed (records holds the newest 2000)
    errors: list[str] = field(default_factory=list)   # ausearch's own words when it found none


def parse_audit_record(line: str) -> AuditRecord | None:
    m = _RECORD.match(line.strip())
    if m is None:
        return None
    fields = {k: v.strip('"') for k, v in _FIELD.findall(m.group("body"))}
    return AuditRecord(m.group("type"), float(m.group("time")), int(m.group("serial")),
                       m.group("body"), fields)


def parse_selinux(text: str) -> SelinuxState:
    keys, site = _split(text)
    if "mode" not in keys:
        raise ParseError(SELINUX_WHAT, "no `mode` line: the SELinux mode is not known")
    st = SelinuxState(mode=keys["mode"] or "Unknown")
    if st.mode in ("none", "Disabled"):
        return st
    for k in ("now", "today", "boot", "since", "rc"):
        setattr(st, k, _int(keys, k, SELINUX_WHAT))
    st.errors = [ln[2:] for ln in text.splitlines() if ln.startswith("! ")]
    if "records" in keys:
        st.count = _int(keys, "records", SELINUX_WHAT)
    for n, line in enumerate(site, 1):
        rec = parse_audit_record(line)
        if rec is None:
            raise ParseError(SELINUX_WHAT, f"record {n} is not an audit record: {line[:120]!r}")
        st.records.append(rec)
    return st


# ---------------------------------------------------------------- systemd restart times
RESTARTS_WHAT = "systemctl show (NRestarts, ActiveEnterTimestampMonotonic)"


@dataclass
class UnitStart:
    unit: str
    props: dict
    active_enter: float | None      # seconds since boot when it last became active; None: never
    restarts: int | None            # NRestarts; None where systemd does not count them

    def age(self, uptime: float) -> float | None:
        return None if self.active_enter is None else uptime - self.active_enter


def parse_unit_starts(text: str, what: str = RESTARTS_WHAT) -> tuple[float, list[UnitStart]]:
    """"uptime <seconds>" and "userspace <µs>" lines, a blank line, then `systemctl show` blocks.

    Returns (seconds systemd has been up, units): the kernel's uptime less systemd's own start
    (UserspaceTimestampMonotonic), which in a container is the container's start."""
    head, sep, rest = text.partition("\n\n")
    if not sep:
        head, rest = text, ""
    keys = dict(line.partition(" ")[::2] for line in head.splitlines() if line.strip())
    if "uptime" not in keys:
        raise ParseError(what, f"no uptime line first: {head[:80]!r}")
    try:
        uptime = float(keys["uptime"])
        userspace = keys.get("userspace", "").strip()
        start = int(userspace) / 1e6 if userspace.isdigit() else 0.0
    except ValueError:
        raise ParseError(what, f"uptime is not a number: {keys['uptime']!r}") from None
    units = []
    for b in parse_show(rest):
        unit = b.get("Id")
        if not unit:
            raise ParseError(what, f"a block without Id: {sorted(b)[:5]}")
        mono = b.get("ActiveEnterTimestampMonotonic", "")
        n = b.get("NRestarts", "")
        enter = int(mono) / 1e6 if mono.isdigit() and int(mono) > 0 else None
        units.append(UnitStart(unit, b, enter, int(n) if n.isdigit() else None))
    return uptime - start, _since(units, start)


def _since(units: list[UnitStart], start: float) -> list[UnitStart]:
    """Active-enter times counted from systemd's start, like the uptime they are compared with."""
    for u in units:
        if u.active_enter is not None:
            u.active_enter -= start
    return units


# ---------------------------------------------------------------- standalone containers
INNER_WHAT = "docker exec <container> systemctl show (standalone containers)"


@dataclass
class InnerContainer:
    id: str
    service: str
    exit: int | None = None
    output: str = ""
    uptime: float | None = None
    units: list[UnitStart] = field(default_factory=list)
    error: str | None = None        # why its units could not be read


def parse_inner_services(text: str) -> list[InnerContainer]:
    out: list[InnerContainer] = []
    lines: list[str] = []

    def close():
        if not out:
            return
        c = out[-1]
        c.output = "\n".join(lines) + ("\n" if lines else "")
        if c.exit != 0:
            c.error = f"docker exec exited {c.exit}: " + ("; ".join(lines[-3:]) or "no output")
            return
        try:
            c.uptime, c.units = parse_unit_starts(c.output, INNER_WHAT)
        except ParseError as e:
            c.error = e.detail

    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("container "):
            close()
            lines = []
            parts = line.split(" ", 2)
            if len(parts) < 2 or not parts[1]:
                raise ParseError(INNER_WHAT, f"line {n}: a container line without an id")
            out.append(InnerContainer(parts[1], parts[2].strip() if len(parts) > 2 else ""))
        elif line.startswith("exit ") and out:
            try:
                out[-1].exit = int(line[5:])
            except ValueError:
                raise ParseError(INNER_WHAT, f"line {n}: exit code {line[5:]!r}") from None
        elif line.startswith(SITE_LINE) or line == SITE_LINE.strip():
            if not out:
                raise ParseError(INNER_WHAT, f"line {n}: output before any container line")
            lines.append(line[len(SITE_LINE):])
        elif line.strip():
            raise ParseError(INNER_WHAT, f"line {n}: unexpected {line[:80]!r}")
    close()
    return out


# ---------------------------------------------------------------- docker stats
STATS_WHAT = "docker stats --no-stream --format '{{json .}}'"


@dataclass
class ContainerStats:
    id: str
    name: str
    cpu_pct: float | None
    mem_pct: float | None
    mem_usage: str


def _pct(value) -> float | None:
    s = str(value).strip().rstrip("%").strip()
    if s in ("", "--", "-"):
        return None
    try:
        return float(s)
    except ValueError:
        raise ParseError(STATS_WHAT, f"not a percentage: {value!r}") from None


def parse_stats(text: str) -> list[ContainerStats]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            o = json_loads(line)
        except ValueError:
            raise ParseError(STATS_WHAT, f"line {n} is not JSON: {line[:100]!r}") from None
        if not isinstance(o, dict) or not o.get("Name"):
            raise ParseError(STATS_WHAT, f"line {n}: no container Name")
        out.append(ContainerStats(str(o.get("ID", "")), str(o["Name"]), _pct(o.get("CPUPerc")),
                                  _pct(o.get("MemPerc")), str(o.get("MemUsage", ""))))
    return out


# ---------------------------------------------------------------- the service error log
ERRLOG_WHAT = "/var/log/service-error.log"
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# rsyslog's RSYSLOG_TraditionalFileFormat ("Dec  1 06:00:00 host tag: msg") and its ISO
# formats (RSYSLOG_FileFormat / RFC 5424: "2026-12-01T06:00:00.123456+09:00 host tag: msg")
_TRADITIONAL = re.compile(r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)\b")
_ISO = re.compile(r"^(?:<\d+>\d* ?)?(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)")
# hive-builder's own rsyslog template for the services' logs: "2026/12/01 06:00:00 ..." in the
# server's local time, year included
_SLASHED = re.compile(r"^(?P<y>\d{4})/(?P<mo>\d\d)/(?P<d>\d\d) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)\b")


@dataclass
class ErrorLog:
    exists: bool
    path: str
    now: int
    offset: timezone                # the server's zone offset (date +%z)
    year: int
    size: int | None = None
    mtime: int | None = None
    total_lines: int | None = None
    lines: list[str] = field(default_factory=list)     # the newest (up to 5000)


def parse_error_log(text: str) -> ErrorLog:
    keys, site = _split(text)
    now = keys.get("now", "").split()
    if len(now) != 3:
        raise ParseError(ERRLOG_WHAT, f"no `now <epoch> <zone> <year>` line (got {keys.get('now')!r})")
    try:
        off = now[1]
        sign = -1 if off.startswith("-") else 1
        tz = timezone(sign * timedelta(hours=int(off[1:3]), minutes=int(off[3:5])))
        log = ErrorLog(False, "", int(now[0]), tz, int(now[2]))
    except (ValueError, IndexError):
        raise ParseError(ERRLOG_WHAT, f"cannot read the server's clock: {keys.get('now')!r}") from None
    if "nofile" in keys:
        log.path = keys["nofile"]
        return log
    f = keys.get("file", "").split()
    if len(f) != 3:
        raise ParseError(ERRLOG_WHAT, f"no `file <path> <size> <mtime>` line (got {keys.get('file')!r})")
    log.exists, log.path = True, f[0]
    try:
        log.size, log.mtime = int(f[1]), int(f[2])
    except ValueError:
        raise ParseError(ERRLOG_WHAT, f"size/mtime not numbers: {keys.get('file')!r}") from None
    if "lines" in keys:
        log.total_lines = _int(keys, "lines", ERRLOG_WHAT)
    log.lines = site
    return log


def line_time(line: str, log: ErrorLog) -> float | None:
    """When a log line was written (epoch), from its syslog stamp; None when it has none."""
    m = _ISO.match(line)
    if m:
        ts = m.group("ts").replace("Z", "+00:00")
        try:
            t = datetime.fromisoformat(ts)
        except ValueError:
            return None
        if t.tzinfo is None:
            t = t.replace(tzinfo=log.offset)
        return t.timestamp()
    m = _SLASHED.match(line)
    if m:
        try:
            return datetime(*(int(m.group(k)) for k in ("y", "mo", "d", "h", "m", "s")),
                            tzinfo=log.offset).timestamp()
        except ValueError:
            return None
    m = _TRADITIONAL.match(line)
    if m and m.group("mon") in _MONTHS:
        try:
            t = datetime(log.year, _MONTHS[m.group("mon")], int(m.group("day")), int(m.group("h")),
                         int(m.group("m")), int(m.group("s")), tzinfo=log.offset)
        except ValueError:
            return None
        if t.timestamp() > log.now + 86400:     # December's lines read in January
            t = t.replace(year=log.year - 1)
        return t.timestamp()
    return None
