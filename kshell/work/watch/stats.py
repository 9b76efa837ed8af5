"""Per-meter figures of a watch: last reading, min/avg/max, energy, a short history.

Everything kept is bounded (counters, a short sparkline history), so a watch can run for
days with flat memory.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from kshell.core.target import Target
from kshell.device import meter_rules as emeter
from kshell.work.watch.sample import Sample

HISTORY = 48  # sparkline points kept per meter


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
        t = sample.t
        self.samples += 1
        self.sum_w += watts
        self.min_w = min(self.min_w, watts)
        self.max_w = max(self.max_w, watts)
        prev = self._prev
        if prev is not None:
            t0, w0 = prev
            if 0 < t - t0 <= self.max_gap:  # a longer gap is unknown, not a straight line
                self.energy_wh += (w0 + watts) / 2 * (t - t0) / 3600
        self._prev = (t, watts)
        self.history.append(watts)

    def judge(self, reading: emeter.Reading) -> tuple[list[str], bool]:
        """Flags of a reading and whether its total went backwards since the last one."""
        previous, total = self._prev_total, reading.total_kwh
        reset = previous is not None and total is not None and emeter.counter_reset(previous, total)
        return emeter.check(reading, self.rating), reset

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
