"""``emeter watch``: poll many meters concurrently, paced so real plugs survive it.

The parts, one job each: ``schedule`` (the shared clock and back-off), ``poller`` (one
task per plug), ``stats`` (per-meter figures), ``sample`` (one reading), ``sinks`` (the
--out file). ``Watch`` ties them into a Stream of samples and failures, then a summary;
it draws nothing: the terminal's meter table (kshell.ui.views.meters) or the lines view
renders it. Ctrl-C stops the polling and the summary is still delivered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, ClassVar

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.errors import KshellError
from kshell.events import Event, Stream, ViewKind
from kshell.fanin import FanIn
from kshell.results import Failure, Result, Table
from kshell.work.watch.poller import PlugPoller
from kshell.work.watch.sample import Sample, iso_time, num
from kshell.work.watch.schedule import Schedule, backoff
from kshell.work.watch.sinks import SampleWriter
from kshell.work.watch.stats import Meter

__all__ = ["Meter", "Sample", "SampleWriter", "Schedule", "Watch", "backoff", "iso_time"]

STOP_GRACE = 1.0  # seconds the requests in flight get to finish when the watch stops
QUEUE_SIZE = 4096  # samples waiting for the output; a slow reader slows the polling


class Watch(Stream):
    """The ``emeter watch`` stream: samples (and failures) as they come, then a summary."""

    view: ClassVar[ViewKind] = "meters"

    def __init__(
        self,
        session: Session,
        targets: list[Target],
        *,
        interval: float,
        count: int | None = None,
        duration: float | None = None,
        out: Path | str | None = None,  # a str: line protocol (influx://... or FILE.lp)
        notes: tuple[Result, ...] = (),  # said before the first sample (what `all` skipped)
    ) -> None:
        self.session = session
        self.targets = targets
        self.interval = interval
        self.count = count
        self.duration = duration
        self.out = out
        self.notes = notes
        gap = max(60.0, 5 * interval)
        self.meters: list[Meter] = [Meter(t, gap) for t in targets]
        self.last_power: dict[str, float | None] = session.readings.power_w
        self.writer: SampleWriter | Any = None  # or a line-protocol sink (kshell.work.metrics)
        self.writer_error: str | None = None  # why the --out file stopped taking rows
        self.schedule: Schedule | None = None
        self.started = 0.0
        self.stopped = 0.0
        self.failed = False
        self._fan: FanIn[Sample] = FanIn(QUEUE_SIZE)
        self._tasks: list[asyncio.Task[None]] = []
        self._timer: asyncio.Task[None] | None = None
        self._halting: asyncio.Future[None] | None = None  # the one wind-down, once begun

    # the pollers use these ----------------------------------------------------------------
    def emit(self, item: Sample | Failure) -> bool:
        """Hand an item on; False when the output is behind (``await room()``, then again)."""
        if not self._fan.offer(item):
            return False
        if isinstance(item, Failure):  # (not isinstance Sample: an ABC's check costs more)
            self.failed = True  # the runner's exit status: some plug failed
        elif self.writer is not None:
            self.writer.write(item)
            if self.writer_error is None and getattr(self.writer, "error", None):
                self._writer_failed()
        return True

    def _writer_failed(self) -> None:
        """The --out file stopped taking rows: said once, as one line; the watch goes on."""
        self.writer_error = str(self.writer.error)
        self.failed = True  # what was lost makes the exit status 1
        self._fan.offer(Failure(KshellError(self.writer_error)))

    async def put(self, item: Sample | Failure) -> None:
        """``emit``, waiting while the output is behind: a slow reader slows the polling."""
        while not self.emit(item):
            await self._fan.room()

    def write(self, sample: Sample) -> None:
        if self.writer is not None:
            self.writer.write(sample)
            if self.writer_error is None and getattr(self.writer, "error", None):
                self._writer_failed()

    def replace_meters(self, old: list[Meter], new: list[Meter]) -> None:
        """A strip read for the first time: its placeholder row becomes one row per outlet."""
        if not old:
            self.meters += new
            return
        at = next((i for i, m in enumerate(self.meters) if m is old[0]), len(self.meters))
        kept = [m for m in self.meters if all(m is not o for o in old)]
        self.meters = kept[:at] + new + kept[at:]

    # the stream ------------------------------------------------------------------------------
    async def events(self) -> AsyncGenerator[Event, None]:
        self._start()
        for note in self.notes:
            yield note
        interrupted = False
        try:
            async for item in self._fan.items():
                yield item
        except (asyncio.CancelledError, KeyboardInterrupt):
            interrupted = True
        finally:
            await asyncio.shield(self.stop())
        if self.writer_error is None and getattr(self.writer, "error", None):
            self.writer_error = str(self.writer.error)  # the last rows, written on closing
            self.failed = True
            yield Failure(KshellError(self.writer_error))
        yield self.summary()
        if interrupted:
            raise asyncio.CancelledError  # Ctrl-C goes on to stop the command line

    def _start(self) -> None:
        if self.schedule is not None:
            return
        if isinstance(self.out, str):  # influx://HOST:PORT/DB or FILE.lp
            from kshell.work.metrics.influx import open_sink

            self.writer = open_sink(self.out)
        elif self.out is not None:
            self.writer = SampleWriter(self.out)
        schedule = self.schedule = Schedule(self.interval, self.count)
        self.started = time.time()
        pollers = self._pollers(schedule)
        self._tasks = self._fan.start(p.run for p in pollers)
        if self.duration is not None:
            self._timer = asyncio.create_task(self._stop_after(self.duration))

    def _pollers(self, schedule: Schedule) -> list[PlugPoller]:
        by_plug: dict[tuple[str, int], list[Target]] = {}
        for target in self.targets:
            by_plug.setdefault((target.host, target.port), []).append(target)
        pollers = []
        for targets in by_plug.values():
            whole = [t for t in targets if t.child_id is None]
            chosen = whole[:1] or targets  # the whole strip covers its outlets
            for target in chosen:
                meters = [m for m in self.meters if m.target is target]
                pollers.append(PlugPoller(self.session, target, meters, self, schedule))
            for target in targets:
                if target not in chosen:
                    self.meters = [m for m in self.meters if m.target is not target]
        return pollers

    async def _stop_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self._halt()

    async def _halt(self) -> None:
        """Stop gently, once, whoever asks first (the --duration timer, the end, Ctrl-C);
        a wind-down begun is finished even if the one who asked is cancelled."""
        if self.schedule is None:
            return
        if self._halting is None:
            self._halting = asyncio.ensure_future(self._wind_down(self.schedule))
        await asyncio.shield(self._halting)

    async def _wind_down(self, schedule: Schedule) -> None:
        """No new request, a moment for those in flight, then cancel.

        Cutting a request off closes its socket under the plug's answer; real plugs (and the
        npm simulator) take that badly, so the ones about to answer are let finish.
        """
        schedule.stopping.set()
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=STOP_GRACE)
        await self._fan.cancel()
        self.stopped = time.time()
        if self.writer is not None:
            await self.writer.aclose() if hasattr(self.writer, "aclose") else self.writer.close()

    async def stop(self) -> None:
        """Stop polling now (Ctrl-C, the end); safe to call more than once."""
        timer = self._timer
        if timer is not None and not timer.done() and timer is not asyncio.current_task():
            timer.cancel()
        await self._halt()

    async def aclose(self) -> None:
        await super().aclose()
        await self.stop()

    # the summary -------------------------------------------------------------------------
    def elapsed(self) -> float:
        end = self.stopped or time.time()
        return max(0.0, end - self.started) if self.started else 0.0

    def summary(self) -> Table:
        seconds = self.elapsed()
        rows = []
        data = []
        for meter in self.meters:
            s = meter.summary()
            data.append(s)
            rows.append(
                [
                    meter.label,
                    s["samples"],
                    s["flagged"],
                    s["offline"],
                    num(s["min_w"], 1),
                    num(s["avg_w"], 1),
                    num(s["max_w"], 1),
                    f"{s['energy_wh']:.3f}",
                    s["counter_resets"],
                ]
            )
        if len(data) > 1:  # the house's row: averages and energy add up, extremes do not

            def added(key: str) -> float | None:
                values = [d[key] for d in data if isinstance(d.get(key), (int, float))]
                return sum(values) if values else None

            energy = added("energy_wh")
            rows.append(
                [
                    f"total ({len(data)} meters)",
                    sum(d["samples"] for d in data),
                    sum(d["flagged"] for d in data),
                    sum(d["offline"] for d in data),
                    "",
                    num(added("avg_w"), 1),
                    "",
                    f"{energy:.3f}" if energy is not None else "-",
                    sum(d["counter_resets"] for d in data),
                ]
            )
        rounds = self.schedule.rounds_seen if self.schedule else 0
        total = sum(m.samples for m in self.meters)
        flagged = sum(m.flagged for m in self.meters)
        footer = (
            f"{total} samples ({flagged} flagged, kept out of the figures) over "
            f"{seconds:.1f} s, {rounds} rounds"
        ) + (self.writer.report() if hasattr(self.writer, "report") else "")
        return Table(
            ["target", "samples", "flagged", "offline", "min W", "avg W", "max W", "Wh", "resets"],
            rows,
            {
                "summary": {
                    "seconds": round(seconds, 3),
                    "rounds": rounds,
                    "samples": total,
                    "flagged": flagged,
                    "targets": data,
                    **({"out": self.writer.stats()} if hasattr(self.writer, "stats") else {}),
                }
            },
            title="emeter watch summary",
            footer=footer,
            numbers=(1, 2, 3, 4, 5, 6, 7, 8),
        )
