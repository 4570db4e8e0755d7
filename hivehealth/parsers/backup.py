"""The backup area's probe output: the `backup_files` section (hive-backup.sh, its -latest
links and what each backup script says it writes) and the `backup_journal` section (what the
last backup.service run printed)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import ParseError


def parse_backup_files(text: str) -> dict:
    """The `backup_files` section: script, dir, now, links {name: (mtime|None, target)},
    expected {link: service}, services [names of /var/lib/hive-backup.d files]."""
    out = {"script": None, "dir": None, "now": None, "lastrun": None, "nodir": False, "links": {},
           "expected": {}, "services": []}
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        key = parts[0]
        try:
            if key == "script":
                out["script"] = None if parts[1] == "-" else parts[1]
            elif key == "dir":
                out["dir"] = line.split(" ", 1)[1]
            elif key == "now":
                out["now"] = int(parts[1])
            elif key == "lastrun":
                out["lastrun"] = float(parts[1])
            elif key == "nodir":
                out["nodir"] = True
            elif key == "link":
                mtime = None if parts[2] == "-" else float(parts[2])
                out["links"][parts[1]] = (mtime, " ".join(parts[3:]))
            elif key == "service":
                if parts[1] != "-":
                    out["services"].append(parts[1])
            elif key == "expect":
                out["expected"].setdefault(parts[2], parts[1])
            else:
                raise ValueError(key)
        except (IndexError, ValueError):
            raise ParseError("backup probe", f"line {n}: unexpected {line.strip()[:120]!r}") from None
    return out


def latest_link_name(link: str) -> str | None:
    """The <name> of a backup-<name>-latest.<ext> link (hive-zabbix, hive-registry, a service)."""
    m = re.match(r"backup-(.+)-latest\.", link)
    return m.group(1) if m else None


@dataclass
class FailLine:
    line: str                   # as printed
    service: str | None         # the service hive-backup.sh had entered (ENTER SERVICE <svc> for ...)
    name: str | None            # the <name> of `FAIL backup for <name>` / `FAIL restore for host <name>`


_ENTER = re.compile(r"ENTER SERVICE (\S+) for")
_FAIL_WORD = re.compile(r"\bFAIL\b")
_FAIL_FOR = re.compile(r"FAIL (?:backup|restore) for (?:host )?(\S+)")


def parse_backup_journal(text: str) -> list[FailLine]:
    """The `backup_journal` section (the last run's journal): every line with the word FAIL that
    hive-backup.sh prints (its `message "FAIL backup for <name>"`), with the service it was in."""
    fails, current = [], None
    for line in text.splitlines():
        enter = _ENTER.search(line)
        if enter:
            current = enter.group(1)
        if not _FAIL_WORD.search(line):
            continue
        m = _FAIL_FOR.search(line)
        fails.append(FailLine(line, current, m.group(1) if m else None))
    return fails
