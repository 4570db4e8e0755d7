"""JSON loading shared by the parsers: tolerant of the tools' known JSON bugs."""
from __future__ import annotations

import json
import re

from . import ParseError, TooDeep, json_loads

# A JSON string literal, or a bare nan/inf (drbdsetup prints `nan` for
# estimated-seconds-to-finish at sync start; Python's json only knows `NaN`).
_NONFINITE = re.compile(r'"|-?\b(?:nan|inf|infinity)\b', re.IGNORECASE)
_IN_STRING = re.compile(r'[^"\\]*')


def _null_nonfinite(text: str) -> str:
    """Bare nan/inf outside JSON strings as null: one pass, a string skipped to its closing quote."""
    out, pos, at, n = [], 0, 0, len(text)
    while (m := _NONFINITE.search(text, at)) is not None:
        if m.group(0) != '"':
            out += [text[pos:m.start()], "null"]
            pos = at = m.end()
            continue
        at = m.end()
        while at < n:                       # to the closing quote, over backslash escapes
            at = _IN_STRING.match(text, at).end()
            if at >= n or text[at] == '"':
                at += 1
                break
            at += 2
    out.append(text[pos:])
    return "".join(out)


def load(text: str, what: str, lenient_nan: bool = False):
    """json.loads with a ParseError naming the tool; optionally maps bare nan/inf to null."""
    if lenient_nan:
        text = _null_nonfinite(text)
    try:
        return json_loads(text)
    except json.JSONDecodeError as e:
        raise ParseError(what, f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except TooDeep as e:
        raise ParseError(what, str(e)) from None


def load_lines(text: str, what: str) -> list:
    """NDJSON (one value per line, as `--format json` / `{{json .}}` print), or one JSON array."""
    stripped = text.strip()
    if not stripped:
        return []
    if stripped.startswith("["):
        data = load(stripped, what)
        if not isinstance(data, list):
            raise ParseError(what, "expected a JSON array")
        return data
    if {ln.strip() for ln in stripped.splitlines() if ln.strip()} == {"json"}:
        raise ParseError(what, "the docker CLI printed the word `json` for each object: it predates "
                               "Docker 23.0, which added `--format json`; `--format '{{json .}}'` "
                               "gives the same objects on every version")
    out = []
    for n, line in enumerate(stripped.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json_loads(line))
        except json.JSONDecodeError as e:
            raise ParseError(what, f"line {n} is not JSON ({e.msg}): {line.strip()[:80]!r}") from None
        except TooDeep as e:
            raise ParseError(what, f"line {n}: {e}") from None
    return out
