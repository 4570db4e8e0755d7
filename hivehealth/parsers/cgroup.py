"""Containers' CPU time and memory from their cgroups, read twice by the probe (at its start and
at its end): the figures `docker stats` shows, without its sampling wait.

Each reading is a `reading <epoch seconds>` line, the host's `MemTotal:` line of /proc/meminfo,
then one `<key> <cgroup dir> <value>` line per file read:
- cgroup v2: `cpu_usec` (cpu.stat usage_usec), `mem_usage` (memory.current), `mem_limit`
  (memory.max, `max` when unlimited), `inactive_file` (memory.stat);
- cgroup v1: `cpu_ns` (cpuacct.usage), `mem_usage` (memory.usage_in_bytes), `mem_limit`
  (memory.limit_in_bytes), `total_inactive_file` (memory.stat).
The container is the 64-hex ID in the cgroup dir (`system.slice/docker-<id>.scope` with
systemd's driver, `docker/<id>` with cgroupfs).

As docker computes them (docker/cli cli/command/container/stats_helpers.go): CPU % is the
container's CPU time over the time between the readings, 100 = one core; memory is the usage
less the inactive file cache, in % of the limit (the host's memory when there is none).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import ParseError

WHAT = "cgroup CPU and memory readings"
_ID = re.compile(r"(?:^|[/-])([0-9a-f]{64})(?:\.scope)?/?$")
_KEYS = {"cpu_usec", "cpu_ns", "mem_usage", "mem_limit", "inactive_file", "total_inactive_file"}


@dataclass
class Counters:
    cpu_ns: int | None = None
    mem_usage: int | None = None
    mem_limit: int | None = None        # None: no limit (memory.max `max`)
    inactive_file: int | None = None


@dataclass
class Reading:
    time: float                          # the server's clock, epoch seconds
    mem_total: int | None = None         # the host's memory, bytes
    containers: dict[str, Counters] = field(default_factory=dict)   # full container ID ->


@dataclass
class Usage:
    id: str
    cpu_pct: float | None                # over the window; None when one reading lacks it
    mem_pct: float | None
    mem_bytes: int | None
    mem_limit: int | None


def _int(value: str, line: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise ParseError(WHAT, f"line {line}: not a whole number: {value[:40]!r}") from None
    if n < 0:
        raise ParseError(WHAT, f"line {line}: negative: {value[:40]!r}")
    return n


def parse_readings(text: str) -> list[Reading]:
    readings: list[Reading] = []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "reading":
            try:
                readings.append(Reading(float(parts[1])))
            except (IndexError, ValueError):
                raise ParseError(WHAT, f"line {n}: no time after 'reading': {line[:80]!r}") from None
            continue
        if not readings:
            raise ParseError(WHAT, f"line {n}: {line[:80]!r} before any 'reading' line")
        r = readings[-1]
        if parts[0] == "MemTotal:":
            r.mem_total = _int(parts[1], n) * 1024 if len(parts) > 1 else None
            continue
        if parts[0] not in _KEYS or len(parts) != 3:
            raise ParseError(WHAT, f"line {n}: unexpected {line[:80]!r}")
        key, where, value = parts
        m = _ID.search(where)
        if m is None:
            continue                     # a cgroup that is no container's
        c = r.containers.setdefault(m.group(1), Counters())
        if key == "cpu_usec":
            c.cpu_ns = _int(value, n) * 1000
        elif key == "cpu_ns":
            c.cpu_ns = _int(value, n)
        elif key == "mem_usage":
            c.mem_usage = _int(value, n)
        elif key == "mem_limit":
            c.mem_limit = None if value == "max" else _int(value, n)
        elif key == "total_inactive_file" or c.inactive_file is None:
            c.inactive_file = _int(value, n)     # v1: the hierarchy's total, as docker takes it
    return readings


def usage(start: Reading, end: Reading) -> dict[str, Usage]:
    """Per container present in both readings: CPU % between them, memory at the end."""
    window = end.time - start.time
    out = {}
    for cid, e in end.containers.items():
        s = start.containers.get(cid)
        if s is None:
            continue                     # started during the probe: no interval to average over
        cpu = None
        if window > 0 and s.cpu_ns is not None and e.cpu_ns is not None and e.cpu_ns >= s.cpu_ns:
            cpu = (e.cpu_ns - s.cpu_ns) / (window * 1e9) * 100
        mem = limit = None
        if e.mem_usage is not None:
            mem = e.mem_usage
            if e.inactive_file is not None and e.inactive_file < mem:
                mem -= e.inactive_file
            limit = e.mem_limit
            if end.mem_total and (limit is None or limit > end.mem_total):
                limit = end.mem_total    # no limit (or one above the host's memory): the host's
        out[cid] = Usage(cid, cpu, mem / limit * 100 if mem is not None and limit else None, mem, limit)
    return out
