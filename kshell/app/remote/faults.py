"""Repeated identical errors (a full disk, a journal that cannot be written): said once,
then counted, and the listener backs off while they last.

Without it a listener whose every mail fails the same way said so for each waiting mail
every poll (0.2 s), without end. Now an error is said the first time with what it was;
the same error again (whichever mail met it) only adds to its count, and is said again
with the count every ``REMIND`` seconds while it lasts; each retry after a failure waits
twice as long as the last (``FIRST`` up to ``MOST`` seconds); and when a mail goes
through again, each error that repeated is said once with its count. Errors are
remembered across such recoveries, so one bad mail among good ones is not said every
round either.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kshell.app.remote.sources.base import Reporter
from kshell.text import clean

FIRST, MOST = 0.2, 30.0  # seconds of back-off after the first failure, and at most
REMIND = 600.0  # while the same error goes on, it is said again this often (with the count)
KEPT = 20  # distinct errors remembered (the oldest said is forgotten first)


@dataclass
class Repeat:
    count: int  # failures since it was last said or summed up
    since: float  # when that count began
    said: float  # when it was last said


class Faults:
    def __init__(
        self,
        report: Reporter,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.report = report
        self.clock = clock
        self.sleep = sleep
        self.errors: dict[str, Repeat] = {}
        self.delay = 0.0  # the back-off now (0: the last mail went through)

    async def failed(self, where: str, exc: BaseException) -> None:
        """One mail failed with ``exc``: say it (or count it), then back off."""
        error = f"{type(exc).__name__}: {clean(str(exc), 200)}"
        now = self.clock()
        self.delay = min(self.delay * 2, MOST) if self.delay else FIRST
        repeat = self.errors.get(error)
        if repeat is None:
            self._forget_oldest()
            self.errors[error] = Repeat(1, now, now)
            self.report(
                f"remote: internal error on {clean(where)}: {error}; "
                "the same error again is counted, not repeated, and retried less often"
            )
        elif now - repeat.said >= REMIND:
            self.report(
                f"remote: still failing: {error} ({repeat.count + 1} times in "
                f"{now - repeat.since:.0f} s); next try in {self.delay:.1f} s"
            )
            self.errors[error] = Repeat(0, now, now)
        else:
            repeat.count += 1
        await self.sleep(self.delay)

    def recovered(self) -> None:
        """A mail went through: each error that repeated is said once with its count."""
        self.delay = 0.0
        now = self.clock()
        for error, repeat in self.errors.items():
            if repeat.count > 1:
                self.report(
                    f"remote: the error {error} happened {repeat.count} times in "
                    f"{now - repeat.since:.0f} s; working again"
                )
            repeat.count, repeat.since = 0, now

    def _forget_oldest(self) -> None:
        while len(self.errors) >= KEPT:
            oldest = min(self.errors, key=lambda e: self.errors[e].said)
            del self.errors[oldest]
