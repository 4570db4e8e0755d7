"""reports/audit.jsonl: every command a remedy ran, with secrets redacted; private to its
owner and group, one line appended per command in one write."""
from __future__ import annotations

import getpass
import json
import os
import socket
import time
from pathlib import Path

from hivehealth.options import report_dir
from hivehealth.safe_write import PRIVATE, append_private, checked_dir, open_in_place
from hivehealth.redact import redact, redact_tree


def operator() -> str:
    """Who runs the fix (the audit log's and the site lock's `user`): the login name, or the uid
    where the process has none."""
    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid())


class Audit:
    def __init__(self, config, operator: str):
        self.config = config
        self.operator = operator        # who runs the fix: operator(), handed down by the plugin
        self.path = report_dir(config) / "audit.jsonl"

    def check(self):
        """OSError (RefusedWrite: a link planted at its name, ...) when the log cannot be
        appended to: no remedy runs a command that cannot be recorded."""
        checked_dir(self.path.parent)
        os.close(open_in_place(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE))

    def record(self, check_id, plan, step, result):
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "user": self.operator, "from": socket.gethostname(),
            "check": check_id, "remedy": plan.remedy, "tier": plan.tier, "host": step.host,
            "command": step.command.replace("$SUDO ", "sudo "), "exit": result.rc,
            "output": redact(result.output)[-2000:],    # whole first: the tail could lose a name
        }
        append_private(self.path, json.dumps(redact_tree(entry)) + "\n")
