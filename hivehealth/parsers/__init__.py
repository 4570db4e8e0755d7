"""Pure parsers: command output text in, dataclasses (or plain dicts) out.

Every parser raises ParseError, never a bare exception, on output it cannot read, and keeps
states it does not know as their raw strings instead of dropping them.
"""
from __future__ import annotations


class ParseError(ValueError):
    """Output of `what` (a tool/command) could not be read; `detail` says why."""

    def __init__(self, what: str, detail: str):
        self.what = what
        self.detail = detail
        super().__init__(f"{what}: {detail}")
