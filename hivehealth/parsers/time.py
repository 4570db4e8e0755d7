"""The time area's probe output: the server's clock as `date +%s.%N` prints it."""
from __future__ import annotations

from . import ParseError

CLOCK_WHAT = "date +%s.%N"


def parse_clock(text: str) -> float:
    """Seconds since the epoch, with the fraction: `1795912071.717385048`."""
    try:
        return float(text.strip())
    except ValueError:
        raise ParseError(CLOCK_WHAT, f"not a time: {text.strip()[:60]!r}") from None
