"""``ping``: timed sysinfo requests to plugs, as a stream of events.

Each answer (or loss) is an event as it happens; each plug ends with its statistics. Ctrl-C
stops the requests and still delivers the statistics of what was sent, then ends the line
as interrupted. Nothing here draws: the output shows the events as they come.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from functools import partial

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import learn_link
from kshell.errors import KshellError, TransportError
from kshell.events import Event, Stream
from kshell.fanin import FanIn
from kshell.results import Failure, Result, Text


@dataclass
class Tally:
    """What one plug answered so far."""

    target: Target
    times: list[float] = field(default_factory=list)
    sent: int = 0
    last_error: str = ""

    def reply(self, seq: int, rtt_ms: float | None, error: str = "") -> Text:
        t = self.target
        data = {"event": "reply", "target": t.label, "host": t.host, "seq": seq}
        if rtt_ms is None:
            return Text(
                f"{t.label} ({t.address}): seq {seq}: no answer ({error})",
                {**data, "rtt_ms": None, "error": error},
            )
        return Text(
            f"{t.label} ({t.address}): seq {seq}: {rtt_ms:.2f} ms",
            {**data, "rtt_ms": round(rtt_ms, 3)},
        )

    def summary(self, interrupted: bool) -> Result:
        t, answered = self.target, len(self.times)
        loss = 100.0 * (self.sent - answered) / self.sent if self.sent else 0.0
        head = f"{t.label} ({t.address}): {self.sent} sent, {answered} answered, {loss:.0f}% loss"
        if interrupted:
            head += " (interrupted)"
        if not answered:
            why = self.last_error or "interrupted before any answer"
            return Failure(TransportError(f"{head} ({why})", target=t.label))
        low, avg, high = min(self.times), sum(self.times) / answered, max(self.times)
        data = {
            "target": t.label,
            "host": t.host,
            "port": t.port,
            "sent": self.sent,
            "answered": answered,
            "loss_pct": round(loss, 1),
            "min_ms": round(low, 3),
            "avg_ms": round(avg, 3),
            "max_ms": round(high, 3),
            "interrupted": interrupted,
        }
        text = f"{head}, rtt min/avg/max {low:.2f}/{avg:.2f}/{high:.2f} ms"
        if self.last_error and answered < self.sent:
            text += f" (last loss: {self.last_error})"
        return Text(text, data)


class Ping(Stream):
    """The stream ``ping`` returns: reply events as they come, then one summary per plug."""

    def __init__(
        self, session: Session, targets: list[Target], count: int, interval: float
    ) -> None:
        self.session = session
        self.tallies = [Tally(t) for t in targets]
        self.count = count
        self.interval = interval
        self._fan: FanIn[Result] = FanIn()

    async def events(self) -> AsyncGenerator[Event, None]:
        self._fan.start(partial(self._ping, tally) for tally in self.tallies)
        interrupted = False
        try:
            async for item in self._fan.items():
                yield item
        except (asyncio.CancelledError, KeyboardInterrupt):
            interrupted = True
            await asyncio.shield(self._fan.cancel())
        for tally in self.tallies:
            yield tally.summary(interrupted)
        if interrupted:
            raise asyncio.CancelledError  # Ctrl-C goes on to stop the command line

    async def aclose(self) -> None:
        await super().aclose()
        await self._fan.cancel()

    async def _ping(self, tally: Tally) -> None:
        target = tally.target
        try:
            await learn_link(self.session, target)  # a plug on the HTTP port: how it speaks
        except KshellError:
            pass  # the first request says what is wrong
        device = target.device(self.session)
        for seq in range(1, self.count + 1):
            if seq > 1:
                await asyncio.sleep(self.interval)
            started = time.perf_counter()
            try:
                await device.ping()
            except KshellError as exc:
                tally.sent += 1
                tally.last_error = exc.message
                if isinstance(exc, TransportError):
                    self.session.store.mark(target.host, target.port, online=False)
                self._fan.emit(tally.reply(seq, None, exc.message))
                continue
            rtt = (time.perf_counter() - started) * 1000
            tally.sent += 1
            tally.times.append(rtt)
            self.session.store.mark(target.host, target.port, online=True)
            self._fan.emit(tally.reply(seq, rtt))
