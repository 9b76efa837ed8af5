"""Polling plugs at scrape time: concurrently, under one deadline, never faster than asked.

Each plug has at most one poll in flight (real plugs stall when polled harder), and the
whole exporter at most ``max_polls`` (each holds a connection). A scrape waits for every
plug's poll until its deadline and then answers with what it has: a plug still being read
counts as not answering this time, and its poll is cancelled unless another request still
waits for it: no poll outlives the requests that asked for it, so requests cannot pile up
connections. A plug read less than ``min_interval`` seconds ago is not asked again: repeated
scrapes get its last reading.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.errors import KshellError
from kshell.text import clean
from kshell.work.metrics.read import PlugReading, read_plug

MAX_POLLS = 32  # polls in flight across the exporter
MAX_REMEMBERED = 4096  # last readings kept (probes may name plugs the store does not know)


@dataclass(frozen=True, slots=True)
class PlugResult:
    """One plug as a scrape reports it: its reading, or why there is none."""

    target: Target
    reading: PlugReading | None
    error: str  # "" when it answered
    duration_s: float  # how long the poll took (the deadline, when it did not finish)
    finished: float  # monotonic time of the poll's end

    @property
    def address(self) -> str:
        return self.target.address


class Poller:
    """The plugs' last readings and the polls in flight, for one exporter."""

    def __init__(
        self, session: Session, *, min_interval: float, max_polls: int = MAX_POLLS
    ) -> None:
        self.session = session
        self.min_interval = min_interval
        self.polls = 0  # real polls started, for `metrics status`
        self.reading = 0  # polls holding a slot now (at most max_polls)
        self._slots = asyncio.Semaphore(max_polls)
        self._last: OrderedDict[tuple[str, int], PlugResult] = OrderedDict()
        self._inflight: dict[tuple[str, int], asyncio.Task[PlugResult]] = {}
        self._waiting: Counter[tuple[str, int]] = Counter()  # requests waiting per poll

    async def scrape(self, targets: list[Target], deadline: float) -> list[PlugResult]:
        """Every target's result within ``deadline`` seconds, in the targets' order."""
        started = time.monotonic()
        futures = [self._poll_for(t) for t in targets]
        joined = [(t.host, t.port) for t, f in zip(targets, futures, strict=True) if not f.done()]
        self._waiting.update(joined)
        try:
            pending = {f for f in futures if not f.done()}
            if pending:
                left = max(0.0, deadline - (time.monotonic() - started))
                await asyncio.wait(pending, timeout=left)
        finally:
            self._let_go(joined)
        out = []
        for target, future in zip(targets, futures, strict=True):
            if future.done() and not future.cancelled():
                out.append(future.result())
            else:
                out.append(
                    PlugResult(
                        target,
                        None,
                        "no answer within the scrape deadline",
                        deadline,
                        time.monotonic(),
                    )
                )
        return out

    def _let_go(self, keys: list[tuple[str, int]]) -> None:
        """This request no longer waits: a poll nobody waits for is cancelled."""
        self._waiting.subtract(keys)
        for key in set(keys):
            if self._waiting[key] > 0:
                continue
            del self._waiting[key]
            task = self._inflight.pop(key, None)
            if task is not None and not task.done():
                task.cancel()

    def _poll_for(self, target: Target) -> asyncio.Future[PlugResult]:
        key = (target.host, target.port)
        task = self._inflight.get(key)
        if task is not None:
            return task  # one poll in flight per plug: join it
        last = self._last.get(key)
        if last is not None and time.monotonic() - last.finished < self.min_interval:
            done: asyncio.Future[PlugResult] = asyncio.get_running_loop().create_future()
            done.set_result(last)
            return done
        task = asyncio.create_task(self._poll(target), name=f"kshell-metrics-{target.address}")
        self._inflight[key] = task
        self.polls += 1
        return task

    async def _poll(self, target: Target) -> PlugResult:
        key = (target.host, target.port)
        reading: PlugReading | None = None
        error = ""
        try:
            async with self._slots:
                started = time.monotonic()
                self.reading += 1
                try:
                    # every request has the session's deadline; a strip asks several
                    reading = await asyncio.wait_for(
                        read_plug(self.session, target), 3 * self.session.timeout
                    )
                except TimeoutError:
                    error = "no answer"
                except KshellError as exc:
                    error = clean(exc.message, 200)
                finally:
                    self.reading -= 1
        finally:
            if self._inflight.get(key) is asyncio.current_task():
                self._inflight.pop(key)
        now = time.monotonic()
        result = PlugResult(target, reading, error, now - started, now)
        self._last[key] = result
        self._last.move_to_end(key)
        while len(self._last) > MAX_REMEMBERED:
            self._last.popitem(last=False)
        return result

    def forget_except(self, keep: set[tuple[str, int]]) -> None:
        """Drop the last readings of plugs no longer known (a `forget`, a moved plug)."""
        for key in [k for k in self._last if k not in keep]:
            del self._last[key]

    async def close(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._inflight.clear()
