"""Docker's human durations ("Running 5 minutes ago") back to seconds."""
from __future__ import annotations

import re

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800,
          "month": 2592000, "year": 31536000}


def human_seconds(text: str) -> float | None:
    """'Less than a second', '5 seconds', 'About a minute', '3 hours', ... -> seconds."""
    t = text.strip().lower()
    if t.startswith("less than a second"):
        return 0.5
    m = re.match(r"(?:about )?(an?|\d+) (second|minute|hour|day|week|month|year)s?\b", t)
    if not m:
        return None
    n = 1 if m.group(1) in ("a", "an") else int(m.group(1))
    return float(n * _UNITS[m.group(2)])


def state_and_age(current_state: str) -> tuple[str, float | None]:
    """'Rejected 3 minutes ago' -> ('Rejected', 180.0); 'Running' -> ('Running', None)."""
    state, _, rest = current_state.strip().partition(" ")
    return state, human_seconds(rest.removesuffix(" ago")) if rest else None
