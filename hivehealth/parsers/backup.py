"""The backup area's probe output (the `backup_files` section: hive-backup.sh, its -latest
links and what each backup script says it writes)."""
from __future__ import annotations

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
