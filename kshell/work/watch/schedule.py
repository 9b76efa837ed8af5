"""The watch's shared clock: rounds, pacing, and the back-off of a failing plug."""

from __future__ import annotations

import asyncio
import contextlib
import math

BACKOFF_MAX = 30.0  # seconds between retries of a plug that keeps failing


class Schedule:
    """Round r starts at start + r * interval; ``count`` rounds at most (None: no limit)."""

    def __init__(self, interval: float, count: int | None) -> None:
        self.interval = interval
        self.count = count
        self.start = asyncio.get_running_loop().time()
        self.rounds_seen = 0
        self.stopping = asyncio.Event()  # set: start no new request, let the last ones finish

    async def sleep(self, delay: float) -> bool:
        """Sleep unless the watch is stopping; False when it is."""
        if self.stopping.is_set():
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), delay)
        return not self.stopping.is_set()

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def wait(self, r: int) -> int | None:
        """Sleep until round ``r`` (or the round under way if we are late); None when over."""
        if self.interval <= 0:
            return self.take(r)
        current = int((self.now() - self.start) / self.interval)
        r = max(r, current)  # late: skip the missed rounds, never burst
        if (self.count is not None and r >= self.count) or self.stopping.is_set():
            return None
        delay = self.start + r * self.interval - self.now()
        if delay > 0 and not await self.sleep(delay):
            return None
        self.rounds_seen = max(self.rounds_seen, r + 1)
        return r

    def take(self, r: int) -> int | None:
        """Round ``r`` at once when there is no clock (interval 0: as fast as the plug
        answers); None when over. Not a coroutine: it is asked once per reading."""
        if (self.count is not None and r >= self.count) or self.stopping.is_set():
            return None
        if r >= self.rounds_seen:
            self.rounds_seen = r + 1
        return r

    def round_after(self, r: int, delay: float) -> int:
        """The first round that starts ``delay`` seconds from now (at least r + 1)."""
        if self.interval <= 0:
            return r + 1
        return max(r + 1, math.ceil((self.now() + delay - self.start) / self.interval))


def backoff(failures: int, interval: float) -> float:
    """Seconds to leave a failing plug alone: doubles per failure, capped."""
    base = max(interval, 0.5)
    return float(min(BACKOFF_MAX, base * 2 ** min(failures - 1, 10)))
