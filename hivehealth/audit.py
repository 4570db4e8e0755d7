"""reports/audit.jsonl: every command a remedy ran, with secrets redacted."""
from __future__ import annotations

import json
import socket
import time
from functools import cached_property
from pathlib import Path

from .redact import Redactor


class Audit:
    def __init__(self, config):
        self.config = config
        self.path = Path(config.rootpath) / config.getini("report_dir") / "audit.jsonl"

    @cached_property
    def redact(self) -> Redactor:
        from .plugin import STATE
        state = self.config.stash.get(STATE, None)
        return Redactor.for_site(state.site if state else None)

    def record(self, check_id, plan, step, result):
        from .plugin import operator
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "user": operator(), "from": socket.gethostname(),
            "check": check_id, "remedy": plan.remedy, "tier": plan.tier, "host": step.host,
            "command": self.redact(step.command.replace("$SUDO ", "sudo ")), "exit": result.rc,
            "output": self.redact(result.output[-2000:]),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(entry) + "\n")
