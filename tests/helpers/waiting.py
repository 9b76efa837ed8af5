"""Waiting on a condition by polling it, never by a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from typing import Any


def wait_until(predicate: Any, timeout: float = 5.0, step: float = 0.02, what: str = "") -> None:
    """Poll until ``predicate()`` is true; fail after ``timeout`` (no fixed sleeps in tests)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s{': ' + what if what else ''}")
        time.sleep(step)


def holds(predicate: Any, duration: float, step: float = 0.02) -> None:
    """Assert ``predicate()`` stays true for the whole of ``duration`` (checked throughout)."""
    end = time.monotonic() + duration
    while time.monotonic() < end:
        assert predicate(), "condition stopped holding"
        time.sleep(step)


async def eventually(predicate: Any, timeout: float = 5.0, step: float = 0.01) -> None:
    """``wait_until`` for a coroutine: polls without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s")
        await asyncio.sleep(step)
