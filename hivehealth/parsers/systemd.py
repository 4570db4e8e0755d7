"""systemctl output: `list-units -o json`, the plain/default table, and `show`."""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import ParseError
from . import _json

JSON_WHAT = "systemctl list-units -o json"
PLAIN_WHAT = "systemctl list-units"
SHOW_WHAT = "systemctl show"


@dataclass
class FailedUnit:
    unit: str
    load: str           # loaded, not-found, bad-setting, masked, ...
    active: str         # failed, active, inactive, ...
    sub: str
    description: str


def parse_list_units_json(text: str) -> list[FailedUnit]:
    """`systemctl list-units -o json`: an array of {unit, load, active, sub, description}."""
    if not text.strip():
        return []
    data = _json.load(text, JSON_WHAT)
    if not isinstance(data, list):
        raise ParseError(JSON_WHAT, f"expected an array of units, got {type(data).__name__}")
    out = []
    for n, o in enumerate(data, 1):
        if not isinstance(o, dict):
            raise ParseError(JSON_WHAT, f"item {n} is {type(o).__name__}, expected an object")
        missing = [k for k in ("unit", "load", "active", "sub") if not isinstance(o.get(k), str)]
        if missing:
            raise ParseError(JSON_WHAT, f"item {n} lacks string {', '.join(missing)}: {o!r:.120}")
        out.append(FailedUnit(o["unit"], o["load"], o["active"], o["sub"], str(o.get("description") or "")))
    return out


# The status marker systemd puts before failed/not-found units: ● in UTF-8 locales, * in C,
# and the literal escape text one sample was pasted with.
_MARKER = re.compile(r"^\s*(?:●|\*|\\u25cf)?\s*")
# Lines that end the table in the default format: the legend and the counts.
_FOOTER = re.compile(r"^(?:Legend:|LOAD\s+[=→]|ACTIVE\s+[=→]|SUB\s+[=→]|JOB\s+[=→]|\d+ loaded units? listed"
                     r"|To show all installed unit files)")
# A unit name ends in its type; anything else on a unit line is not a listing (e.g. an error).
_UNIT_NAME = re.compile(r"^\S+\.(?:service|socket|target|device|mount|automount|swap|timer|path|slice|scope)$")


def parse_list_units_plain(text: str) -> list[FailedUnit]:
    """`systemctl list-units --plain --no-legend`, or the default table (header, `●` markers,
    legend and counts; old systemd without the marker column too)."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = _MARKER.sub("", raw.rstrip())
        if not line:
            continue
        if _FOOTER.match(line.lstrip()):
            break   # the rest is legend
        fields = line.split(None, 4)
        if fields[:4] == ["UNIT", "LOAD", "ACTIVE", "SUB"]:
            continue
        if len(fields) < 4 or not _UNIT_NAME.match(fields[0]):
            raise ParseError(PLAIN_WHAT, f"line {n}: expected UNIT LOAD ACTIVE SUB [DESCRIPTION], got {raw.strip()!r}")
        out.append(FailedUnit(*fields[:4], fields[4] if len(fields) > 4 else ""))
    return out


def parse_show(text: str) -> list[dict[str, str]]:
    """`systemctl show -p A -p B unit1 unit2`: one Key=Value block per unit, blank-line separated."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            current = None
            continue
        key, sep, value = line.partition("=")
        if not sep or not key or " " in key:
            raise ParseError(SHOW_WHAT, f"line {n}: expected Key=Value, got {line.strip()[:120]!r}")
        if current is None:
            current = {}
            blocks.append(current)
        current[key] = value
    return blocks


def not_booted_with_systemd(stderr: str) -> bool:
    """systemctl's refusal where systemd is not the init system (a container without it):
    `System has not been booted with systemd as init system (PID 1). Can't operate.`"""
    return "has not been booted with systemd" in (stderr or "")
