"""The audit log: one JSON line per mail command (and one per mail that ran nothing).

Fields: time, sender, message_id, command, verdict, outcome, duration. Appended and
flushed line by line, so a crash loses at most the line being written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from kshell.home import open_append
from kshell.text import json_safe


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    def write(
        self,
        *,
        sender: str | None,
        message_id: str,
        command: str | None,
        verdict: str,
        outcome: str,
        duration: float = 0.0,
        **extra: Any,
    ) -> None:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "sender": sender,
            "message_id": message_id,
            "command": command,
            "verdict": verdict,
            "outcome": outcome,
            "duration": round(duration, 4),
            **extra,
        }
        with open(open_append(self.path), "a", encoding="utf-8") as handle:  # 0600, no symlink
            # the output's escaping: one line, whatever a plug or a mail put in it
            handle.write(json_safe(json.dumps(line, ensure_ascii=False)) + "\n")
