"""``emeter watch``: poll many meters concurrently, paced so real plugs survive it.

One task per plug (host:port) polls that plug's meters (one, or each outlet of a strip)
over its kept-open connection, so at most one request is ever in flight per plug. A plug
that fails is marked offline and retried after a growing back-off while the others go on.
Rounds are counted on a shared clock (``--count N`` = N rounds); a plug that falls behind
skips the rounds it missed instead of bursting to catch up.

Everything kept per meter is bounded (counters, a short sparkline history), so a watch
can run for days with flat memory and one socket per plug.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from kshell import emeter
from kshell.context import Context
from kshell.device import Device
from kshell.errors import DeviceError, KshellError, UnsupportedDevice, UsageError
from kshell.output import json_line
from kshell.results import Failure, Table, Text
from kshell.targets import Target, refresh

HISTORY = 48  # sparkline points kept per meter
BACKOFF_MAX = 30.0  # seconds between retries of a plug that keeps failing
STOP_GRACE = 1.0  # seconds the requests in flight get to finish when the watch stops
QUEUE_SIZE = 4096  # samples waiting for the output; a slow reader slows the polling


# -- one sample -------------------------------------------------------------------------------
class Sample(Text):
    """One reading (or one failed attempt) of one meter; a Text so any output can show it."""

    def __init__(
        self,
        t: float,
        round_: int,
        meter: Meter,
        reading: emeter.Reading | None = None,
        flags: list[str] | None = None,
        reset: bool = False,
        error: KshellError | None = None,
    ) -> None:
        self.t = t
        self.round = round_
        self.label = meter.label
        self.address = meter.address
        self.outlet = meter.outlet
        self.reading = reading
        self.flags = flags or []
        self.reset = reset
        self.error = error

    @property
    def ok(self) -> bool:
        return self.reading is not None

    @property
    def text(self) -> str:  # type: ignore[override]  # Text's field, computed here
        stamp = datetime.fromtimestamp(self.t).strftime("%H:%M:%S")
        if self.reading is None:
            return f"{stamp}  {self.label}: offline ({self.error.message if self.error else '?'})"
        r = self.reading
        line = (
            f"{stamp}  {self.label}: {_num(r.power_w, 1)} W  {_num(r.voltage_v, 1)} V  "
            f"{_num(r.current_a, 3)} A  {_num(r.total_kwh, 3)} kWh"
        )
        if self.reset:
            line += "  (counter reset)"
        if self.flags:
            line += "  IMPLAUSIBLE: " + "; ".join(self.flags)
        return line

    @property
    def data(self) -> dict[str, Any]:  # type: ignore[override]  # Text's field, computed here
        return self.json()

    def json(self) -> dict[str, Any]:
        t = round(self.t, 3)
        out: dict[str, Any] = {
            "t": t,
            "time": iso_time(t),
            "round": self.round,
            "target": self.label,
            "host": self.address,
            "outlet": self.outlet,
            "status": "ok" if self.reading is not None else "offline",
        }
        if self.reading is not None:
            out.update(emeter.reading_json(self.reading, self.flags))
            out["counter_reset"] = self.reset
        elif self.error is not None:
            out["error"] = {"kind": self.error.kind, "message": self.error.message}
        return out


_second: list[Any] = [None, ""]  # the last whole second formatted, and its text


def iso_time(t: float) -> str:
    """UTC ISO 8601 with milliseconds; the date part is formatted once per second."""
    whole, ms = divmod(round(t * 1000), 1000)
    if _second[0] != whole:
        _second[0] = whole
        _second[1] = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{ms:03d}+00:00"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# -- per-meter state --------------------------------------------------------------------------
class Meter:
    """One row of the watch: a plug, or one outlet of a strip, and its running figures."""

    def __init__(self, target: Target, max_gap: float = 60.0) -> None:
        self.target = target
        self.label = target.label
        self.address = target.address
        self.outlet = target.outlet
        self.name = ""  # a strip outlet's own alias, shown beside its label
        self.rating = emeter.rating_for("")
        self.status = "connecting"  # connecting | ok | offline | no meter | error
        self.note = ""  # why it is offline or failing
        self.last_flag = ""  # the first reason of the last flagged reading
        self.last: Sample | None = None
        self.history: deque[float | None | str] = deque(maxlen=HISTORY)
        self.samples = 0  # plausible readings
        self.flagged = 0
        self.failures = 0
        self.resets = 0
        self.min_w = math.inf
        self.max_w = -math.inf
        self.sum_w = 0.0
        self.energy_wh = 0.0
        self._prev: tuple[float, float] | None = None  # (t, W) of the last plausible reading
        self._prev_total: float | None = None
        self.max_gap = max_gap  # integrate across gaps up to this long (seconds)

    def record(self, sample: Sample) -> None:
        """Fold a sample into the figures; flagged readings are counted but kept out."""
        self.last = sample
        reading = sample.reading
        if reading is None:
            self.failures += 1
            self.status = "offline"
            self.note = sample.error.message if sample.error else ""
            self.history.append(None)
            return
        self.status = "ok"
        if sample.reset:
            self.resets += 1
        if reading.total_kwh is not None:
            self._prev_total = reading.total_kwh
        if sample.flags:
            self.flagged += 1
            self.last_flag = sample.flags[0]
            self.history.append("!")
            return
        watts = reading.power_w or 0.0
        self.samples += 1
        self.sum_w += watts
        self.min_w = min(self.min_w, watts)
        self.max_w = max(self.max_w, watts)
        if self._prev is not None:
            t0, w0 = self._prev
            if 0 < sample.t - t0 <= self.max_gap:  # a longer gap is unknown, not a straight line
                self.energy_wh += (w0 + watts) / 2 * (sample.t - t0) / 3600
        self._prev = (sample.t, watts)
        self.history.append(watts)

    def judge(self, reading: emeter.Reading) -> tuple[list[str], bool]:
        """Flags of a reading and whether its total went backwards since the last one."""
        return emeter.check(reading, self.rating), emeter.counter_reset(
            self._prev_total, reading.total_kwh
        )

    @property
    def avg_w(self) -> float | None:
        return self.sum_w / self.samples if self.samples else None

    def summary(self) -> dict[str, Any]:
        return {
            "target": self.label,
            "host": self.address,
            "outlet": self.outlet,
            "status": self.status,
            "samples": self.samples,
            "flagged": self.flagged,
            "offline": self.failures,
            "counter_resets": self.resets,
            "min_w": round(self.min_w, 3) if self.samples else None,
            "avg_w": round(self.avg_w, 3) if self.avg_w is not None else None,
            "max_w": round(self.max_w, 3) if self.samples else None,
            "energy_wh": round(self.energy_wh, 4),
        }


# -- the shared clock -------------------------------------------------------------------------
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
        if self.interval <= 0:  # as fast as the plug answers: no clock to read
            if (self.count is not None and r >= self.count) or self.stopping.is_set():
                return None
            if r >= self.rounds_seen:
                self.rounds_seen = r + 1
            return r
        if self.interval > 0:
            current = int((self.now() - self.start) / self.interval)
            r = max(r, current)  # late: skip the missed rounds, never burst
        if (self.count is not None and r >= self.count) or self.stopping.is_set():
            return None
        delay = self.start + r * self.interval - self.now()
        if delay > 0 and not await self.sleep(delay):
            return None
        self.rounds_seen = max(self.rounds_seen, r + 1)
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


# -- one plug ---------------------------------------------------------------------------------
class PlugPoller:
    """Polls the meters of one plug in turn; owns its back-off."""

    def __init__(self, ctx: Context, target: Target, meters: list[Meter], watch: Watch) -> None:
        self.ctx = ctx
        self.target = target
        self.meters = meters  # placeholder row until the plug has been read once
        self.watch = watch
        self.device: Device | None = None
        self.failures = 0
        self.ready = False

    async def run(self) -> None:
        schedule = self.watch.schedule
        assert schedule is not None  # pollers run only once the watch has started
        r: int | None = 0
        while True:
            r = await schedule.wait(r or 0)
            if r is None:
                return
            try:
                answered = await self.poll(r)
            except _NoMeter:
                return
            if answered:
                if self.failures:  # back after an outage
                    self.ctx.cache.mark(self.target.host, self.target.port, online=True)
                self.failures = 0
                r += 1
            else:
                self.failures += 1
                delay = backoff(self.failures, schedule.interval)
                if schedule.interval > 0:
                    r = schedule.round_after(r, delay)
                elif await schedule.sleep(delay):
                    r = max(r + 1, schedule.rounds_seen - 1)  # rejoin the others' front
                else:
                    return

    async def setup(self) -> None:
        """Read sysinfo once: which meters (outlets) to poll and against what rating."""
        target = self.target
        device = await refresh(self.ctx, target)
        state = device.state
        if not state.has_meter:
            raise UnsupportedDevice(
                f"{state.model} has no energy meter (no ENE in its features)",
                target=target.label,
            )
        rating = emeter.rating_for(state.model)
        kids = state.children
        if kids and target.child_id is None:  # a whole strip: one row per outlet
            wanted = [Target(target.host, target.port, target.record, c.id, c.number) for c in kids]
        else:
            wanted = [target]
        old = {m.target.child_id: m for m in self.meters}
        meters = []
        for t in wanted:
            meter = old.get(t.child_id) or Meter(t, self.meters[0].max_gap)
            meter.target, meter.rating = t, rating
            meter.label, meter.outlet = t.label, t.outlet  # the alias, once it is known
            meter.name = next((c.alias for c in kids if c.id == t.child_id), "")
            meters.append(meter)
        self.watch.replace_meters(self.meters, meters)
        self.meters = meters
        self.device = device
        self.ready = True

    async def poll(self, r: int) -> bool:
        """One round over this plug's meters; False when the plug did not answer."""
        try:
            if not self.ready:
                await self.setup()
        except UnsupportedDevice as exc:  # said once; its row says why it stays empty
            for meter in self.meters:
                meter.status, meter.note = "no meter", exc.message
            await self.watch.emit(Failure(exc))
            raise _NoMeter from None
        except KshellError as exc:
            await self._offline(r, exc)
            return False
        assert self.device is not None
        read = self.device.meter.read
        for meter in self.meters:
            if self.watch.schedule is not None and self.watch.schedule.stopping.is_set():
                break
            try:
                reading = await read(meter.target.child_id)
            except DeviceError as exc:  # it answered, with an error: keep the pace
                meter.status, meter.note = "error", exc.message
                await self.watch.emit(Failure(_labelled(exc, meter.label)))
                continue
            except KshellError as exc:
                await self._offline(r, exc)
                return False
            flags, reset = meter.judge(reading)
            sample = Sample(time.time(), r, meter, reading, flags, reset)
            meter.record(sample)
            self.watch.last_power[meter.label] = reading.power_w
            await self.watch.emit(sample)
        return True

    async def _offline(self, r: int, exc: KshellError) -> None:
        self.ctx.cache.mark(self.target.host, self.target.port, online=False)
        await self.watch.emit(Failure(_labelled(exc, self.target.label)))
        now = time.time()
        for meter in self.meters:
            sample = Sample(now, r, meter, error=exc)
            meter.record(sample)
            self.watch.write(sample)


class _NoMeter(Exception):
    """This plug cannot be watched: stop its task, the others go on."""


def _labelled(exc: KshellError, label: str) -> KshellError:
    if not exc.target or label not in str(exc.target):
        exc.target = f"{label} ({exc.target})" if exc.target else label
    return exc


# -- writers ----------------------------------------------------------------------------------
CSV_COLUMNS = (
    "time",
    "t",
    "round",
    "target",
    "host",
    "outlet",
    "status",
    "power_w",
    "voltage_v",
    "current_a",
    "total_kwh",
    "plausible",
    "flags",
    "counter_reset",
    "error",
)


class SampleWriter:
    """Every sample, with its timestamp, to a .csv or .jsonl file (appended, flushed each s)."""

    def __init__(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".jsonl", ".ndjson"):
            raise UsageError(f"--out: name a .csv or .jsonl file, not '{path.name}'")
        self.path = path
        self.csv = suffix == ".csv"
        try:
            self.file: TextIO = path.open("a", encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError(f"--out: cannot write {path}: {exc.strerror or exc}") from None
        self._flushed = time.monotonic()
        self.lines = 0
        if self.csv:
            import csv

            self._csv = csv.writer(self.file)
            if self.file.tell() == 0:
                self._csv.writerow(CSV_COLUMNS)

    def write(self, sample: Sample) -> None:
        data = sample.json()
        if self.csv:
            data["flags"] = "; ".join(data.get("flags", []))
            if "error" in data:
                data["error"] = data["error"]["message"]
            self._csv.writerow(["" if data.get(c) is None else data.get(c) for c in CSV_COLUMNS])
        else:
            self.file.write(json_line(data) + "\n")
        self.lines += 1
        now = time.monotonic()
        if now - self._flushed >= 1.0:
            self.file.flush()
            self._flushed = now

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()


# -- the stream -------------------------------------------------------------------------------
class Watch:
    """The ``emeter watch`` stream: samples (and failures) as they come, then a summary.

    Iterate it for sample lines / JSON lines; ``live_view(output)`` draws a table in place
    instead. Either way, Ctrl-C (CancelledError or KeyboardInterrupt) stops the polling
    and the summary is still delivered.
    """

    def __init__(
        self,
        ctx: Context,
        targets: list[Target],
        *,
        interval: float,
        count: int | None = None,
        duration: float | None = None,
        out: Path | None = None,
    ) -> None:
        self.ctx = ctx
        self.targets = targets
        self.interval = interval
        self.count = count
        self.duration = duration
        self.out = out
        gap = max(60.0, 5 * interval)
        self.meters: list[Meter] = [Meter(t, gap) for t in targets]
        self.last_power: dict[str, float | None] = ctx.readings.power_w
        self.writer: SampleWriter | None = None
        self.queue: asyncio.Queue[Sample | Failure | None] | None = None
        self.schedule: Schedule | None = None
        self.started = 0.0
        self.stopped = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._finished = asyncio.Event()
        self._state = "new"  # new | running | summary | done | interrupted
        self.failed = False
        self._stop_asked = False

    # the pollers use these ----------------------------------------------------------------
    async def emit(self, item: Sample | Failure) -> None:
        if isinstance(item, Sample):
            self.write(item)
        else:
            self.failed = True  # the runner's exit status: some plug failed
        if self.queue is not None:
            try:
                self.queue.put_nowait(item)
            except asyncio.QueueFull:  # the output is behind: wait for it, slowing the polls
                await self.queue.put(item)

    def write(self, sample: Sample) -> None:
        if self.writer is not None:
            self.writer.write(sample)

    def replace_meters(self, old: list[Meter], new: list[Meter]) -> None:
        """A strip read for the first time: its placeholder row becomes one row per outlet."""
        if not old:
            self.meters += new
            return
        at = next((i for i, m in enumerate(self.meters) if m is old[0]), len(self.meters))
        kept = [m for m in self.meters if all(m is not o for o in old)]
        self.meters = kept[:at] + new + kept[at:]

    # life cycle -------------------------------------------------------------------------
    def start(self, *, queued: bool) -> None:
        if self._state != "new":
            return
        self._state = "running"
        if self.out is not None:
            self.writer = SampleWriter(self.out)
        self.queue = asyncio.Queue(QUEUE_SIZE) if queued else None
        self.schedule = Schedule(self.interval, self.count)
        self.started = time.time()
        pollers = self._pollers()
        self._tasks = [asyncio.create_task(p.run()) for p in pollers]
        self._supervisor = asyncio.create_task(self._supervise())

    def _pollers(self) -> list[PlugPoller]:
        by_plug: dict[tuple[str, int], list[Target]] = {}
        for target in self.targets:
            by_plug.setdefault((target.host, target.port), []).append(target)
        pollers = []
        for targets in by_plug.values():
            whole = [t for t in targets if t.child_id is None]
            chosen = whole[:1] or targets  # the whole strip covers its outlets
            for target in chosen:
                meters = [m for m in self.meters if m.target is target]
                pollers.append(PlugPoller(self.ctx, target, meters, self))
            for target in targets:
                if target not in chosen:
                    self.meters = [m for m in self.meters if m.target is not target]
        return pollers

    async def _supervise(self) -> None:
        try:
            await asyncio.wait(self._tasks, timeout=self.duration)
        finally:
            await self._halt()
            self.stopped = time.time()
            self._finished.set()
            if self.queue is not None and not self._stop_asked:  # stop() ends the stream itself
                await self.queue.put(None)

    async def _halt(self) -> None:
        """Stop gently: no new request, a moment for those in flight, then cancel.

        Cutting a request off closes its socket under the plug's answer; real plugs (and the
        npm simulator) take that badly, so the ones about to answer are let finish.
        """
        if self.schedule is None:  # never started
            return
        self.schedule.stopping.set()
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=STOP_GRACE)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.writer is not None:
            self.writer.close()
        self.ctx.cache.save()

    async def stop(self) -> None:
        """Stop polling now (Ctrl-C); safe to call more than once."""
        self._stop_asked = True
        if self._supervisor is not None and not self._supervisor.done():
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if not self.stopped:
            await self._halt()
            self.stopped = time.time()
            self._finished.set()

    # iteration ---------------------------------------------------------------------------
    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> Sample | Failure | Table:
        if self._state == "new":
            self.start(queued=True)
        if self._state == "running":
            assert self.queue is not None
            try:
                item = await self.queue.get()
            except (asyncio.CancelledError, KeyboardInterrupt):
                await asyncio.shield(self.stop())
                self._state = "interrupted"
                return self.summary()
            if item is not None:
                return item
            self._state = "summary"
        if self._state == "summary":
            self._state = "done"
            return self.summary()
        if self._state == "interrupted":
            self._state = "done"
            raise asyncio.CancelledError  # Ctrl-C goes on to stop the command line
        raise StopAsyncIteration

    async def live_view(self, output: Any) -> None:
        """Draw the rows in place on a terminal until the watch ends or Ctrl-C."""
        from kshell.liveview import LiveView

        view = LiveView(output.out, color=output.color)
        self.start(queued=False)
        interrupted = False
        try:
            while not self._finished.is_set():
                view.draw(self)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._finished.wait(), view.period)
        except (asyncio.CancelledError, KeyboardInterrupt):
            interrupted = True
            await asyncio.shield(self.stop())
        finally:
            view.draw(self, final=True)
            view.close()
        output.emit(self.summary())
        if interrupted:
            raise asyncio.CancelledError

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
                    _num(s["min_w"], 1),
                    _num(s["avg_w"], 1),
                    _num(s["max_w"], 1),
                    f"{s['energy_wh']:.3f}",
                    s["counter_resets"],
                ]
            )
        rounds = self.schedule.rounds_seen if self.schedule else 0
        total = sum(m.samples for m in self.meters)
        flagged = sum(m.flagged for m in self.meters)
        footer = (
            f"{total} samples ({flagged} flagged, kept out of the figures) over "
            f"{seconds:.1f} s, {rounds} rounds" + (f"; written to {self.out}" if self.out else "")
        )
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
                }
            },
            title="emeter watch summary",
            footer=footer,
        )
