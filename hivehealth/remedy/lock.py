"""One fixer per site: a cron run and an incident run never remedy together."""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from hivehealth.options import report_dir


class LockTimeout(Exception):
    pass


class SiteLock:
    """flock on <context dir>/hive-health.lock; waits `fix_lock_wait` seconds, then fails
    naming who holds it."""

    def __init__(self, site, config, check_id: str, operator: str):
        base = Path(site.context_dir) if site.context_dir else report_dir(config)
        self.path = base / "hive-health.lock"
        self.wait = float(config.getini("fix_lock_wait"))
        self.check_id = check_id
        self.operator = operator
        self.fd = None
        self.waited: str | None = None     # who held the lock, when this run had to wait

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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

    def _holder(self) -> str:
        try:
            h = json.loads(self.path.read_text() or "{}")
            return f"pid {h.get('pid')} of {h.get('user')}@{h.get('host')}, fixing {h.get('check')} since {h.get('since')}"
        except (OSError, ValueError):
            return "holder unknown"

    def __exit__(self, *exc):
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
