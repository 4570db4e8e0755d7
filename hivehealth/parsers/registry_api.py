"""The registry_api area's probe output: one `key value` line each (mode, url, user, curl, code)."""
from __future__ import annotations

import calendar
import re
import time


def parse_registry_probe(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            out[key] = value.strip()
    return out


# curl -sS prints its error as `curl: (<exit>) <text>`; from curl 7.75 an SSL failure is followed
# by lines of help text ("More details here: ...", "curl failed to verify the legitimacy ..."),
# which are not the error
_CURL_ERROR = re.compile(r"^curl: \([0-9]+\) ")


def curl_error_line(stderr: str) -> str:
    """curl's own error line, without the `curl: (N) ` prefix; "" when there is none."""
    for line in (stderr or "").splitlines():
        m = _CURL_ERROR.match(line.strip())
        if m:
            return line.strip()[m.end():][:200]
    return ""


def cert_time(text: str | None) -> float | None:
    """`openssl x509 -enddate`'s date (`Jan  1 00:00:00 2027 GMT`) as epoch seconds, or None."""
    if not text:
        return None
    try:
        return float(calendar.timegm(time.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y GMT")))
    except ValueError:
        return None
