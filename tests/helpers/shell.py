"""The shell as a user runs it: a test home whose discovery stays on loopback, and
``python shell.py`` as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: tests/helpers/ is two below


def write_config(home: Path, *, udp_port: int = 9999, extra: str = "") -> Path:
    """A test home whose discovery stays on loopback."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "kshell.ini"
    config.write_text(
        "[shell]\ntimeout = 2\n\n"
        f"[discovery]\nbroadcast = 127.255.255.255\nport = {udp_port}\ntimeout = 0.6\n"
        "refresh_on_start = no\n" + extra
    )
    config.chmod(0o600)  # a config holding a secret must be its owner's alone
    return config


def run_shell(
    home: Path,
    *args: str,
    input: str | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python shell.py --home HOME ARGS`` as a user would run it."""
    return subprocess.run(  # noqa: PLW1510 - callers check the status
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home), *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
        cwd=cwd or ROOT,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
