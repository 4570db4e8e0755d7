"""The time area's probe output: the server's clock as `date +%s.%N` prints it, and chronyd's
own account of its synchronisation (`chronyc tracking`)."""
from __future__ import annotations

import re

from . import ParseError

CLOCK_WHAT = "date +%s.%N"
TRACKING_WHAT = "chronyc tracking"


def parse_clock(text: str) -> float:
    """Seconds since the epoch, with the fraction: `1795912071.717385048`."""
    try:
        return float(text.strip())
    except ValueError:
        raise ParseError(CLOCK_WHAT, f"not a time: {text.strip()[:60]!r}") from None


# chronyc(1), tracking: "System time : 0.000001501 seconds slow of NTP time"
_SYSTEM_TIME = re.compile(r"^([0-9]+(?:\.[0-9]+)?) seconds (fast|slow) of NTP time$")


def parse_tracking(text: str) -> dict[str, str]:
    """`chronyc tracking`: one `Name : value` line per field (chronyc(1), "tracking"), e.g.
    `Leap status     : Not synchronised`. The names as chronyc prints them, values stripped."""
    fields: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ParseError(TRACKING_WHAT, f"line {n} is not `Name : value`: {line.strip()[:80]!r}")
        fields[name.strip()] = value.strip()
    if "Leap status" not in fields:
        raise ParseError(TRACKING_WHAT, "no `Leap status` line: not chronyc tracking's output")
    return fields


def system_time_offset(fields: dict[str, str]) -> float | None:
    """The offset chronyd is still correcting, signed: positive when the clock is fast (ahead)."""
    m = _SYSTEM_TIME.match(fields.get("System time", ""))
    if not m:
        return None
    return float(m.group(1)) * (1 if m.group(2) == "fast" else -1)
