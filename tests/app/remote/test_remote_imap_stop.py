"""Stopping the IMAP source leaves nothing running: after a lost connection (Dovecot
restarted under it) and then a stop, no task, no aioimaplib timer is left in the loop, and
nothing fails in it past the IDLE refresh (the wait left behind used to raise TimeoutError
there ~245 s later)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from helpers.dovecot import Dovecot, ReplySink
from helpers.imap import configure

from kshell.app.build import build_session
from kshell.app.remote.service import RemoteService

REFRESH = 2.0  # [remote] idle_refresh here


def _left_behind(loop: asyncio.AbstractEventLoop) -> list[str]:
    """Tasks other than the caller's, and live timers set by aioimaplib."""
    tasks = [repr(t) for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    scheduled: list[Any] = getattr(loop, "_scheduled", [])
    timers = [repr(h) for h in scheduled if not h.cancelled() and "aioimaplib" in repr(h)]
    return tasks + timers


async def _in_idle(service: RemoteService, server: Dovecot, lines: list[str]) -> None:
    for _ in range(500):
        if getattr(service.source, "connected", False):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"never connected: {lines} {server.log_tail()}")
    await asyncio.sleep(0.5)  # in IDLE now


def test_a_lost_connection_then_a_stop_leave_no_task_timer_or_late_failure(
    tmp_path: Path,
) -> None:
    Dovecot.require()
    with Dovecot(users={"kshell": "secret"}) as server, ReplySink() as sink:
        configure(tmp_path, server, "kshell", sink, extra=f"idle_refresh = {REFRESH:g}\n")
        lines: list[str] = []
        failures: list[dict[str, Any]] = []

        async def main() -> list[str]:
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda _loop, context: failures.append(context))
            args = SimpleNamespace(
                home=str(tmp_path), config=None, commands=[], timeout=None, yes=False, debug=False
            )
            service = RemoteService(build_session(args), lines.append)
            await service.start()
            try:
                await _in_idle(service, server, lines)
                await asyncio.to_thread(server.restart)  # the connection is lost under IDLE
                for _ in range(500):
                    if getattr(service.source, "reconnects", 0) >= 1:
                        break
                    await asyncio.sleep(0.02)
                await _in_idle(service, server, lines)  # connected again, in IDLE again
            finally:
                await service.stop()
            left = _left_behind(loop)
            await asyncio.sleep(REFRESH + 5 + 1.5)  # past the refresh and the wait's timeout
            gc.collect()  # a task that failed unseen says so when it is collected
            await asyncio.sleep(0)
            return left

        left = asyncio.run(main())
    assert left == [], left
    assert failures == [], failures
    assert any("reconnected" in line for line in lines), lines
    assert any(line.startswith("warning: remote: imap") for line in lines), lines  # its level
