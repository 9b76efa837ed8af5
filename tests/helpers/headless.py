"""Remote mode as an operator runs it headless: ``python shell.py --listen`` as a child
process, and mail dropped into its Maildir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers.shell import ROOT


class Headless:
    """``python shell.py --home HOME --listen`` as a child process."""

    def __init__(self, home: Path, *extra: str) -> None:
        self.home = home
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "shell.py"), "--home", str(home), *extra, "--listen"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "NO_COLOR": "1"},
        )
        self.said: list[str] = []  # what it logged before "listening" (its log is stderr)
        while self.proc.stderr is not None:
            line = self.proc.stderr.readline()
            self.said.append(line)
            if "listening" in line:
                return
            if not line:
                break
        self.proc.kill()
        raise AssertionError(f"listener did not start: {self.said}")

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM; the exit status, stdout and the log (stderr) from "listening" on."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err


def deliver(home: Path, raw: bytes, name: str) -> Path:
    maildir = home / "Maildir"
    (maildir / "tmp" / name).write_bytes(raw)
    os.replace(maildir / "tmp" / name, maildir / "new" / name)
    return maildir / ".Executed" / "cur" / f"{name}:2,S"


def wait_for(check, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")
