"""The backup area's probe output: the `backup_files` section (hive-backup.sh, its -latest
links and what each backup script says it writes) and the `backup_journal` section (what the
last backup.service run printed)."""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

from . import ParseError


def parse_backup_files(text: str) -> dict:
    """The `backup_files` section: script, dir, now, lastrun (end of the last run), started (start
    of the current or last run), tz (the server's UTC offset in seconds), links {name: (mtime|None,
    target)}, files {name: (size, mtime)} (the dated backup files), expected {link: service},
    services [names of /var/lib/hive-backup.d files]."""
    out = {"script": None, "dir": None, "now": None, "lastrun": None, "started": None, "tz": None,
           "nodir": False, "links": {}, "files": {}, "expected": {}, "services": []}
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
            elif key == "started":
                out["started"] = float(parts[1])
            elif key == "tz":
                out["tz"] = _utc_offset(parts[1])
            elif key == "file":
                if len(parts) < 4:
                    raise ValueError(line)
                out["files"][" ".join(parts[1:-2])] = (int(parts[-2]), float(parts[-1]))
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


_UTC_OFFSET = re.compile(r"^([+-])([0-9]{2})([0-9]{2})$")


def _utc_offset(text: str) -> int:
    """`date +%z`: +0900 -> 32400."""
    m = _UTC_OFFSET.match(text)
    if not m:
        raise ValueError(text)
    return (1 if m.group(1) == "+" else -1) * (int(m.group(2)) * 3600 + int(m.group(3)) * 60)


# hive-backup.sh names each file backup-<name>-<YYYYmmddHHMMSS>.<ext>, in the server's local time
_DATED = re.compile(r"^backup-(.+)-([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})\.")


def dated_file(name: str, utc_offset: int) -> tuple[str, float] | None:
    """(<name>, epoch of its time stamp) of a dated backup file, or None."""
    m = _DATED.match(name)
    if not m:
        return None
    y, mo, d, h, mi, sec = (int(g) for g in m.groups()[1:])
    try:
        return m.group(1), calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0)) - utc_offset
    except (ValueError, OverflowError):
        return None


def latest_link_name(link: str) -> str | None:
    """The <name> of a backup-<name>-latest.<ext> link (hive-zabbix, hive-registry, a service)."""
    m = re.match(r"backup-(.+)-latest\.", link)
    return m.group(1) if m else None


@dataclass
class FailLine:
    line: str                   # as printed
    service: str | None         # the service hive-backup.sh had entered (ENTER SERVICE <svc> for ...)
    name: str | None            # the <name> of `FAIL backup for <name>` / `FAIL restore for host <name>`
    tool: str | None = None     # the dump tool whose error line this is (None: a FAIL line)


_ENTER = re.compile(r"ENTER SERVICE (\S+) for")
_FAIL_WORD = re.compile(r"\bFAIL\b")
_FAIL_FOR = re.compile(r"FAIL (?:backup|restore) for (?:host )?(\S+)")


# The error lines of the tools a backup script runs. hive-backup.sh pipes a dump through gzip
# inside `sh -c`, so the exit code of the dump is lost and these lines are all that tells a failed
# dump. Each tool prefixes its messages with its name; the ones that are warnings only are not
# errors: mysqldump's `[Warning]`, pg_dump's `warning:`, gzip's `warning:`, tar's notices.
_TOOL_LINE = re.compile(r"^(mysqldump|mariadb-dump|pg_dump|pg_dumpall|tar|gzip): ")
_NOT_AN_ERROR = re.compile(r"^(?:mysqldump|mariadb-dump): \[Warning\]|^(?:pg_dump|pg_dumpall|gzip): (?:\S+: )?warning:"
                           r"|^tar: Removing leading|^tar: [^:]+: (?:file changed as we read it|socket ignored)$")
# docker's own errors (docker exec / docker compose exec into the container that dumps)
_DOCKER_ERROR = re.compile(r"^(?:Error response from daemon: |Error: No such container|OCI runtime exec failed"
                           r"|service \"[^\"]+\" is not running|no such service: |no container found for service )")
# the shell that runs the dump cannot find it: `sh: 1: mysqldump: not found`, `bash: x: command not found`
_SHELL_ERROR = re.compile(r"^(?:/bin/)?(?:ba|da)?sh: (?:[0-9]+: |line [0-9]+: )?[^:]+: (?:command )?not found$")


def dump_error_tool(line: str) -> str | None:
    """The tool whose error this journal line is (mysqldump, tar, docker, sh...), or None."""
    text = line.strip()
    m = _TOOL_LINE.match(text)
    if m:
        return None if _NOT_AN_ERROR.match(text) else m.group(1)
    if _DOCKER_ERROR.match(text):
        return "docker"
    if _SHELL_ERROR.match(text):
        return "sh"
    return None


def parse_backup_journal(text: str) -> list[FailLine]:
    """The `backup_journal` section (the last run's journal): every line with the word FAIL that
    hive-backup.sh prints (its `message "FAIL backup for <name>"`), and every error line of a dump
    tool, with the service hive-backup.sh was in."""
    fails, current = [], None
    for line in text.splitlines():
        enter = _ENTER.search(line)
        if enter:
            current = enter.group(1)
        tool = dump_error_tool(line)
        if tool:
            fails.append(FailLine(line, current, None, tool))
            continue
        if not _FAIL_WORD.search(line):
            continue
        m = _FAIL_FOR.search(line)
        fails.append(FailLine(line, current, m.group(1) if m else None))
    return fails
