"""Command lines printed for an operator to paste (a check's "look: ...", a remedy's manual
procedure, a fix command in the report), built like the commands the suite runs: each argument
one word, quoted with shlex.quote. A name read from a server, the site or a bundle (a mount
point, a unit, a service, a node ID, a path) is data: pasted, it stays one argument and never
becomes shell syntax, whatever it holds (`$(...)`, `;`, spaces, newlines)."""
from __future__ import annotations

import shlex


def command(*argv, sudo: bool = False) -> str:
    """One command line: `sudo ` first when it needs root, then every argument quoted."""
    return ("sudo " if sudo else "") + shlex.join(str(a) for a in argv)


def pipeline(*commands: str) -> str:
    """Command lines (from command()) joined by pipes."""
    return " | ".join(commands)


def sequence(*commands: str) -> str:
    """Command lines (from command()) run one after the other."""
    return "; ".join(commands)
