"""One fixer per site: a cron run and an incident run never remedy together.

Next to the lock, `hive-health.fixseq` counts the fixes applied to the site: every fixer bumps
it after its steps ran, while it still holds the lock. A run remembers the count its facts were
gathered at; when it takes the lock and the count has moved, another fixer changed the site
since, and the run gathers again before it plans anything.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from hivehealth.options import report_dir
from hivehealth.safe_write import PUBLIC, RefusedWrite, checked_dir, open_in_place, read_in_place, write_atomic

LOCK_NAME = "hive-health.lock"
SEQ_NAME = "hive-health.fixseq"


class LockError(Exception):
    """The fix lock cannot be used; the message says which file and why."""


class LockTimeout(LockError):
    pass


def lock_dir(site, config) -> Path:
    return Path(site.context_dir) if site.context_dir else report_dir(config)


def _owner(path: Path) -> str:
    """'user (uid N), mode 0644' of the file, or of its nearest existing parent directory."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        st = p.stat()
    except OSError:
        return "owner unknown"
    try:
        import pwd
        user = pwd.getpwuid(st.st_uid).pw_name
    except (KeyError, ImportError):
        user = "?"
    what = "" if p == path else f"{p} "
    return f"{what}owned by {user} (uid {st.st_uid}), mode {st.st_mode & 0o7777:04o}"


def cannot_use(path: Path, e: OSError, operator: str) -> LockError:
    if isinstance(e, RefusedWrite):
        return LockError(f"cannot use the fix lock: {e}; nothing is fixed")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "run --fix as that user, or have the file's owner remove it"
    else:
        advice = "remove it (no hive-health fix may be running) and run --fix again"
    return LockError(f"cannot use the fix lock {path} ({e.strerror or e}): it is {_owner(path)}, and this "
                     f"run is {operator} (uid {os.geteuid()}); {advice}")


def read_sequence(directory: Path) -> int | None:
    """The fix count (0 before the first fix), or None when the file cannot be read."""
    path = directory / SEQ_NAME
    try:
        text = read_in_place(path).decode("utf-8")
    except FileNotFoundError:
        return 0
    except (OSError, UnicodeDecodeError):
        return None
    try:
        return int(json.loads(text)["seq"])
    except (ValueError, KeyError, TypeError):
        return None


class SiteLock:
    """flock on <context dir>/hive-health.lock; waits `fix_lock_wait` seconds, then fails
    naming who holds it."""

    def __init__(self, site, config, check_id: str, operator: str):
        self.dir = lock_dir(site, config)
        self.path = self.dir / LOCK_NAME
        self.wait = float(config.getini("fix_lock_wait"))
        self.check_id = check_id
        self.operator = operator        # who runs the fix
        self.fd = None
        self.waited: str | None = None     # who held the lock, when this run had to wait

    def __enter__(self):
        try:
            checked_dir(self.dir)
            self.fd = open_in_place(self.path, os.O_RDWR | os.O_CREAT, PUBLIC)
        except OSError as e:
            raise cannot_use(self.path, e, self.operator) from None
        start = time.time()
        deadline = start + self.wait
        holder = None
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if holder:
                    self.waited = f"waited {time.time() - start:.0f} s for {holder}"
                break
            except BlockingIOError:
                holder = holder or self._holder()
                if time.time() >= deadline:
                    holder = self._holder()
                    os.close(self.fd)
                    self.fd = None
                    raise LockTimeout(f"another hive-health fix holds {self.path} ({holder}); "
                                      f"waited {self.wait:g} s") from None
                time.sleep(0.5)
        me = {"pid": os.getpid(), "user": self.operator, "host": socket.gethostname(),
              "check": self.check_id, "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(me).encode(), 0)
        return self

    def wait_free(self) -> str | None:
        """Wait (bounded) while another fixer holds the site; whom we waited for, or None."""
        with self as held:
            return held.waited

    def sequence(self) -> int | None:
        return read_sequence(self.dir)

    def bump(self) -> int:
        """Count one more fix (call while holding the lock); returns the new count."""
        assert self.fd is not None, "bump() needs the lock held"
        path = self.dir / SEQ_NAME
        seq = (self.sequence() or 0) + 1
        try:
            write_atomic(path, json.dumps({"seq": seq, "by": f"{self.operator}@{socket.gethostname()}",
                                           "check": self.check_id, "at": time.strftime("%Y-%m-%d %H:%M:%S")}),
                         PUBLIC)
        except OSError as e:
            raise cannot_use(path, e, self.operator) from None
        return seq

    def _holder(self) -> str:
        try:
            h = json.loads(os.pread(self.fd, 4096, 0) or b"{}")
            return f"pid {h.get('pid')} of {h.get('user')}@{h.get('host')}, fixing {h.get('check')} since {h.get('since')}"
        except (OSError, ValueError):
            return "holder unknown"

    def __exit__(self, *exc):
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
