"""One fan-in: run jobs concurrently and read what they emit, in the order it comes.

Used by every long command that works on many plugs at once (ping, the meter watch, each
phase of the firmware flow). A job gets ``emit``; its KshellError becomes a Failure for
its plug and the others go on; leaving the reader early cancels every job still running.
A bounded fan-in (``limit``) slows the jobs down (``put``) when the reader falls behind.

A deque and one waiting future rather than an ``asyncio.Queue``: a watch over a hundred
plugs passes tens of thousands of samples a second through here.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from kshell.errors import KshellError
from kshell.results import Failure

T = TypeVar("T")


class FanIn(Generic[T]):
    """Jobs in, one ordered stream of what they emit out."""

    def __init__(self, limit: int = 0) -> None:
        self._items: deque[T | Failure] = deque()
        self._limit = limit
        self._tasks: list[asyncio.Task[None]] = []
        self._running = 0
        self._reader: asyncio.Future[None] | None = None  # the reader waits for an item
        self._room: asyncio.Future[None] | None = None  # a job waits for the reader

    def emit(self, item: T | Failure) -> None:
        """From a job or a callback: never waits (an unbounded fan-in, or a one-off)."""
        self._items.append(item)
        self._wake_reader()

    def offer(self, item: T | Failure) -> bool:
        """Take ``item`` unless a bounded fan-in is full (then ``room()`` and try again)."""
        items = self._items
        if self._limit and len(items) >= self._limit:
            return False
        items.append(item)  # ``emit`` spelled out: every sample of a watch comes this way
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)
        return True

    async def put(self, item: T | Failure) -> None:
        """From a job: waits while a bounded fan-in is full, so a slow reader slows the jobs."""
        while not self.offer(item):
            await self.room()

    async def room(self) -> None:
        if self._room is None or self._room.done():
            self._room = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._room)  # one job's cancel must not cancel the others' wait

    def start(self, jobs: Iterable[Callable[[], Awaitable[None]]]) -> list[asyncio.Task[None]]:
        started = [asyncio.create_task(self._run(job)) for job in jobs]
        self._tasks += started
        self._running += len(started)
        return started

    async def _run(self, job: Callable[[], Awaitable[None]]) -> None:
        try:
            await job()
        except KshellError as exc:
            self.emit(Failure(exc))
        except Exception as exc:  # noqa: BLE001 - one plug's bug must not hang the others
            self.emit(Failure(KshellError(f"internal error: {type(exc).__name__}: {exc}")))
        finally:
            self._running -= 1
            self._wake_reader()

    def _wake_reader(self) -> None:
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    async def items(self) -> AsyncIterator[T | Failure]:
        """What the jobs emit until all of them have finished (and all they emitted)."""
        pending = self._items
        try:
            while pending or self._running:
                if not pending:
                    self._reader = asyncio.get_running_loop().create_future()
                    await self._reader
                    continue
                item = pending.popleft()
                room = self._room
                if room is not None and not room.done():
                    room.set_result(None)
                yield item
        finally:
            self._reader = None
            await self.cancel()

    async def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
