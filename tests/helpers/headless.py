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

    def follow(self) -> list[str]:
        """Read the rest of the log as it comes (a thread), into the list returned."""
        import threading

        self.log: list[str] = []
        stream = self.proc.stderr
        assert stream is not None

        def read() -> None:
            for line in stream:
                self.log.append(line)

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        return self.log

    def expect(self, text: str, timeout: float = 30.0) -> str:
        """Wait for a line holding ``text`` in the followed log, after the line the last
        ``expect`` found; returns it."""
        start = getattr(self, "_cursor", 0)
        found: list[int] = []

        def seen() -> bool:
            found[:] = [i for i in range(start, len(self.log)) if text in self.log[i]]
            return bool(found)

        wait_for(seen, f"{text!r} in the log: {self.log[-5:]}", timeout)
        self._cursor = found[0] + 1
        return self.log[found[0]]

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM; the exit status, stdout and the log (stderr) from "listening" on."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        if getattr(self, "_reader", None) is None:
            out, err = self.proc.communicate(timeout=20)
            return self.proc.returncode, out, err
        self.proc.wait(timeout=20)
        self._reader.join(timeout=10)
        out = self.proc.stdout.read() if self.proc.stdout else ""
        return self.proc.returncode, out, "".join(self.log)


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
