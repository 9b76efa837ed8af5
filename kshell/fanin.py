"""One fan-in: run jobs concurrently and read what they emit, in the order it comes.

Used by every long command that works on many plugs at once (ping, the meter watch, each
phase of the firmware flow). A job gets ``emit``; its KshellError becomes a Failure for
its plug and the others go on; leaving the reader early cancels every job still running.
A bounded fan-in (``limit``) slows the jobs down (``put``) when the reader falls behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from kshell.errors import KshellError
from kshell.results import Failure

T = TypeVar("T")


class _Done:
    """A job finished (its marker in the queue)."""


_DONE = _Done()


class FanIn(Generic[T]):
    """Jobs in, one ordered stream of what they emit out."""

    def __init__(self, limit: int = 0) -> None:
        self._queue: asyncio.Queue[T | Failure | _Done] = asyncio.Queue()  # bound: see put
        self._limit = limit
        self._room = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._running = 0

    def emit(self, item: T | Failure) -> None:
        """From a job or a callback: never waits (an unbounded fan-in)."""
        self._queue.put_nowait(item)

    async def put(self, item: T | Failure) -> None:
        """From a job: waits while a bounded fan-in is full, so a slow reader slows the jobs."""
        while self._limit and self._queue.qsize() >= self._limit:
            self._room.clear()
            await self._room.wait()
        self._queue.put_nowait(item)

    def start(self, jobs: Iterable[Callable[[], Awaitable[None]]]) -> list[asyncio.Task[None]]:
        started = [asyncio.create_task(self._run(job)) for job in jobs]
        self._tasks += started
        self._running += len(started)
        return started

    async def _run(self, job: Callable[[], Awaitable[None]]) -> None:
        try:
            await job()
        except KshellError as exc:
            await self.put(Failure(exc))
        except Exception as exc:  # noqa: BLE001 - one plug's bug must not hang the others
            await self.put(Failure(KshellError(f"internal error: {type(exc).__name__}: {exc}")))
        finally:
            self._queue.put_nowait(_DONE)  # past the bound: a marker never waits

    async def items(self) -> AsyncIterator[T | Failure]:
        """What the jobs emit until all of them have finished (then what is left queued)."""
        try:
            while self._running:
                item = await self._queue.get()
                if self._limit and not self._room.is_set():
                    self._room.set()
                if isinstance(item, _Done):
                    self._running -= 1
                    continue
                yield item
            while not self._queue.empty():  # a callback's last words after the jobs ended
                item = self._queue.get_nowait()
                if not isinstance(item, _Done):
                    yield item
        finally:
            await self.cancel()

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
