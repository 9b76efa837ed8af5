"""Repeated identical errors (a full disk, a journal that cannot be written): said once,
then counted, and the listener backs off while they last.

Without it a listener whose every mail fails the same way said so for each waiting mail
every poll (0.2 s), without end. Now the first failure is said with what it was, the
same failure again only adds to a count (and a reminder every ``REMIND`` seconds), each
retry waits twice as long as the last (``FIRST`` up to ``MOST`` seconds), and when a mail
goes through again the count is said once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from kshell.app.remote.sources.base import Reporter
from kshell.text import clean

FIRST, MOST = 0.2, 30.0  # seconds of back-off after the first failure, and at most
REMIND = 600.0  # while the same error goes on, it is said again this often (with the count)


class Faults:
    def __init__(
        self,
        report: Reporter,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        self.report = report
        self.clock = clock
        self.sleep = sleep
        self.error = ""  # the error now repeating ("" while all is well)
        self.count = 0
        self.since = 0.0
        self.said = 0.0
        self.delay = 0.0

    async def failed(self, where: str, exc: BaseException) -> None:
        """One mail failed with ``exc``: say it (or count it), then back off."""
        error = f"{type(exc).__name__}: {clean(str(exc), 200)}"
        now = self.clock()
        if error != self.error:
            self.recovered()
            self.error, self.count, self.since, self.said = error, 1, now, now
            self.delay = FIRST
            self.report(
                f"remote: internal error on {clean(where)}: {error}; "
                "the same error again is counted, not repeated, and retried less often"
            )
        else:
            self.count += 1
            self.delay = min(self.delay * 2, MOST)
            if now - self.said >= REMIND:
                self.said = now
                self.report(
                    f"remote: still failing: {error} ({self.count} times in "
                    f"{now - self.since:.0f} s); next try in {self.delay:.1f} s"
                )
        result = self.sleep(self.delay)
        if asyncio.iscoroutine(result):
            await result

    def recovered(self) -> None:
        """A mail went through: the error that repeated, if any, is said once with its count."""
        if not self.error:
            return
        if self.count > 1:
            self.report(
                f"remote: the error {self.error} happened {self.count} times in "
                f"{self.clock() - self.since:.0f} s; working again"
            )
        self.error, self.count, self.delay = "", 0, 0.0
