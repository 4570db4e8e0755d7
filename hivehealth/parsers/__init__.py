"""Pure parsers: command output text in, dataclasses (or plain dicts) out.

Every parser raises ParseError, never a bare exception, on output it cannot read, and keeps
states it does not know as their raw strings instead of dropping them.
"""
from __future__ import annotations

import json


class ParseError(ValueError):
    """Output of `what` (a tool/command) could not be read; `detail` says why."""

    def __init__(self, what: str, detail: str):
        self.what = what
        self.detail = detail
        super().__init__(f"{what}: {detail}")


# No tool's JSON is nested more than a few levels (docker inspect: under ten); deeper is not an
# answer, and some code paths (repr, ==, json.dumps) would recurse on it.
JSON_DEPTH_MAX = 100


class TooDeep(ValueError):
    """JSON nested deeper than JSON_DEPTH_MAX levels."""

    def __init__(self):
        super().__init__(f"JSON nested deeper than {JSON_DEPTH_MAX} levels")


def json_loads(text: str):
    """json.loads for text from a server: JSON nested deeper than JSON_DEPTH_MAX is a
    ValueError (TooDeep) like any other text that is not the JSON expected, never a
    RecursionError."""
    try:
        doc = json.loads(text)
    except RecursionError:
        raise TooDeep() from None
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8", "replace")
    if text.count("[") + text.count("{") > JSON_DEPTH_MAX:
        _check_depth(doc)
    return doc


def _check_depth(doc):
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > JSON_DEPTH_MAX:
                raise TooDeep()
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
