"""reports/audit.jsonl: every command a remedy ran, with secrets redacted; private to its
owner and group, one line appended per command in one write."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from .files import append_private
from .redact import redact, redact_tree


class Audit:
    def __init__(self, config):
        self.config = config
        self.path = Path(config.rootpath) / config.getini("report_dir") / "audit.jsonl"

    def record(self, check_id, plan, step, result):
        from .plugin import operator
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "user": operator(), "from": socket.gethostname(),
            "check": check_id, "remedy": plan.remedy, "tier": plan.tier, "host": step.host,
            "command": step.command.replace("$SUDO ", "sudo "), "exit": result.rc,
            "output": redact(result.output)[-2000:],    # whole first: the tail could lose a name
        }
        append_private(self.path, json.dumps(redact_tree(entry)) + "\n")
