"""The shell in a real terminal (tmux), typed at and read as a person would."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from helpers.shell import ROOT


class Terminal:
    """The shell in a real terminal (tmux): keys go in as a person types them, and the
    assertions read the screen as the person sees it, toolbar included."""

    def __init__(self, home: Path) -> None:
        self.socket = str(home / "tmux.sock")
        self.seen: dict[str, int] = {}
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TMUX")}
        command = (
            f"{shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'shell.py'))} "
            f"--home {shlex.quote(str(home))}; echo kshell-exit-$?; sleep 60"
        )
        self.tmux("new-session", "-d", "-x", "120", "-y", "30", "-c", str(home), command, env=env)
        self.expect("Ctrl-D exits")

    def tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            ["tmux", "-S", self.socket, *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-500")

    def expect(self, pattern: str, timeout: float = 15.0) -> None:
        """Wait until ``pattern`` (a regex) shows once more than it did at the last wait."""
        deadline = time.monotonic() + timeout
        before = self.seen.get(pattern, 0)
        while True:
            screen = self.screen()
            count = len(re.findall(pattern, screen))
            if count > before:
                self.seen[pattern] = count
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"never saw {pattern!r} on the screen:\n{screen}")
            time.sleep(0.05)

    def send(self, text: str) -> None:
        self.tmux("send-keys", "-l", text)

    def key(self, *names: str) -> None:
        self.tmux("send-keys", *names)

    def leave(self) -> None:
        self.key("C-d")
        self.expect("kshell-exit-0")

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-S", self.socket, "kill-server"], check=False, capture_output=True, timeout=10
        )
