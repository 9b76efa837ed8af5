"""One task per plug: polls that plug's meters in turn over its kept-open connection.

At most one request is ever in flight per plug. A plug that fails is marked offline and
retried after a growing back-off while the others go on.
"""

from __future__ import annotations

import time
from typing import Protocol

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import refresh_meter
from kshell.device import meter_rules as emeter
from kshell.device.device import Device
from kshell.errors import DeviceError, KshellError, UnsupportedDevice
from kshell.results import Failure
from kshell.work.watch.sample import Sample
from kshell.work.watch.schedule import Schedule, backoff
from kshell.work.watch.stats import Meter


class Watch(Protocol):
    """What a poller hands its samples to (``kshell.work.watch.Watch``)."""

    last_power: dict[str, float | None]

    def emit(self, item: Sample | Failure) -> bool: ...

    async def put(self, item: Sample | Failure) -> None: ...

    def write(self, sample: Sample) -> None: ...

    def replace_meters(self, old: list[Meter], new: list[Meter]) -> None: ...


class PlugPoller:
    """Polls the meters of one plug in turn; owns its back-off."""

    def __init__(
        self,
        session: Session,
        target: Target,
        meters: list[Meter],
        watch: Watch,
        schedule: Schedule,
    ) -> None:
        self.session = session
        self.target = target
        self.meters = meters  # placeholder row until the plug has been read once
        self.watch = watch
        self.schedule = schedule
        self.device: Device | None = None
        self.failures = 0
        self.ready = False
        self._round = 0  # the round of the next reading of a repeated read (``_repeat``)
        self._held: Sample | None = None  # a sample the output had no room for yet

    async def run(self) -> None:
        schedule = self.schedule
        clockless = schedule.interval <= 0  # as fast as it answers: no await between rounds
        r: int | None = 0
        while True:
            r = schedule.take(r or 0) if clockless else await schedule.wait(r or 0)
            if r is None:
                return
            try:
                if clockless and self.ready and not self.failures and len(self.meters) == 1:
                    streamed = await self._repeat(r)  # the steady state, when the link can
                    if streamed is not None:
                        r = streamed
                        continue
                answered = await self.poll(r)
            except _NoMeter:
                return
            if answered:
                if self.failures:  # back after an outage
                    self.session.store.mark(self.target.host, self.target.port, online=True)
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

    async def setup(self) -> emeter.Reading | None:
        """Read sysinfo once: which meters (outlets) to poll and against what rating; the
        whole plug's first reading when it came in the same exchange."""
        target = self.target
        device = await refresh_meter(self.session, target, reading=True)
        state = device.state
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
        first = device.realtime
        device.realtime = None
        return first if len(meters) == 1 and meters[0].target.child_id is None else None

    async def poll(self, r: int) -> bool:
        """One round over this plug's meters; False when the plug did not answer."""
        try:
            if not self.ready and (first := await self.setup()) is not None:
                await self.watch.put(self._sample(r, self.meters[0], first))
                return True
        except UnsupportedDevice as exc:  # said once; its row says why it stays empty
            for meter in self.meters:
                meter.status, meter.note = "no meter", exc.message
            await self.watch.put(Failure(exc))
            raise _NoMeter from None
        except KshellError as exc:
            await self._offline(r, exc)
            return False
        assert self.device is not None
        read = self.device.meter.read
        stopping = self.schedule.stopping
        watch = self.watch
        for meter in self.meters:
            if stopping.is_set():
                break
            try:
                reading = await read(meter.target.child_id)
            except DeviceError as exc:  # it answered, with an error: keep the pace
                await self._refused(meter, exc)
                continue
            except KshellError as exc:
                await self._offline(r, exc)
                return False
            sample = self._sample(r, meter, reading)
            if not watch.emit(sample):  # the output is behind: wait for it (no coroutine else)
                await watch.put(sample)
        return True

    async def _repeat(self, r: int) -> int | None:
        """Rounds from ``r`` on as one repeated read (no coroutine resumed per reading), while
        nothing else happens; the round to go on with, or None when the link cannot repeat
        (then ``poll``). Its failures are taken as ``poll`` takes them."""
        assert self.device is not None
        meter = self.meters[0]
        self._round = r
        try:
            if not await self.device.meter.read_while(self._reading, meter.target.child_id):
                return None
        except DeviceError as exc:  # it answered, with an error: keep the pace
            await self._refused(meter, exc)
            return self._round + 1
        except KshellError as exc:
            await self._offline(self._round, exc)
            self.failures += 1
            if await self.schedule.sleep(backoff(self.failures, 0)):
                return max(self._round + 1, self.schedule.rounds_seen - 1)  # rejoin the front
            return self._round  # stopping: ``take`` ends the run
        held, self._held = self._held, None
        if held is not None:  # the output was behind: wait for it here
            await self.watch.put(held)
        return self._round

    def _reading(self, reading: emeter.Reading) -> bool:
        """One reading of a repeated read, taken as ``poll`` takes one; True: read again."""
        r = self._round
        sample = self._sample(r, self.meters[0], reading)
        self._round = r + 1
        if not self.watch.emit(sample):
            self._held = sample
            return False
        return self.schedule.take(r + 1) is not None

    def _sample(self, r: int, meter: Meter, reading: emeter.Reading) -> Sample:
        """A reading judged, counted in its meter's figures and remembered as its last power."""
        flags, reset = meter.judge(reading)
        sample = Sample(time.time(), r, meter, reading, flags, reset)
        meter.record(sample)
        self.watch.last_power[meter.label] = reading.power_w
        return sample

    async def _refused(self, meter: Meter, exc: DeviceError) -> None:
        """The plug answered a reading with an error: said, and the pace kept."""
        meter.status, meter.note = "error", exc.message
        await self.watch.put(Failure(labelled(exc, meter.label)))

    async def _offline(self, r: int, exc: KshellError) -> None:
        self.session.store.mark(self.target.host, self.target.port, online=False)
        await self.watch.put(Failure(labelled(exc, self.target.label)))
        now = time.time()
        for meter in self.meters:
            sample = Sample(now, r, meter, error=exc)
            meter.record(sample)
            self.watch.write(sample)


class _NoMeter(Exception):
    """This plug cannot be watched: stop its task, the others go on."""


def labelled(exc: KshellError, label: str) -> KshellError:
    if not exc.target or label not in str(exc.target):
        exc.target = f"{label} ({exc.target})" if exc.target else label
    return exc
