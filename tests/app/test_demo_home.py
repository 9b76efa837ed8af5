"""``--demo`` without ``--home`` uses a throwaway home, and removes it however it ends."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.shell import ROOT


def demo(tmp: Path, *args: str, **popen: object) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "KSHELL_HOME"}
    env.update(TMPDIR=str(tmp), NO_COLOR="1", XDG_CONFIG_HOME=str(tmp / "xdg-config"))
    return subprocess.Popen(
        [sys.executable, str(ROOT / "shell.py"), "--demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **popen,  # type: ignore[call-overload]
    )


def first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first line the process writes, waited for without blocking past ``timeout``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as ready:
        ready.register(proc.stdout, selectors.EVENT_READ)
        while not ready.select(timeout=0.1):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no output in time"
    return proc.stdout.readline()


def homes(tmp: Path) -> list[Path]:
    return list(tmp.glob("kshell-demo-*"))


@pytest.mark.parametrize(
    "line, status", [("devices", 0), ("nonsense", 1), ("info Nowhere; devices", 1)]
)
def test_the_demo_home_goes_when_the_demo_ends(tmp_path: Path, line: str, status: int) -> None:
    proc = demo(tmp_path, "-c", line)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert homes(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_demo_home_goes_on_ctrl_c_and_termination(tmp_path: Path, sig: int) -> None:
    proc = demo(tmp_path, "-c", "ping all --count 10000 --interval 0.05")
    try:
        first = first_line(proc, timeout=30)  # pinging the demo's plugs by now
        assert " seq 1: " in first and homes(tmp_path), first
        proc.send_signal(sig)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (130, 128 + signal.SIGTERM), proc.returncode
    assert homes(tmp_path) == []
