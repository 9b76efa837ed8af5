"""The plug's own clock: the simulator's clock run ``clock_speed`` times as fast from the
start, plus ``clock_drift`` seconds (``everyday`` reads it to fire rules)."""

from __future__ import annotations

from typing import Any

Answer = dict[str, Any]


class PlugClock:
    """The plug's own time: fast and drifting as the spec says; setting it moves the drift."""

    def __init__(self, start: float, drift: float = 0.0, speed: float = 1.0) -> None:
        self.start = start
        self.drift = drift
        self.speed = speed
        self.last_look: float | None = None  # plug time rules were last caught up to
        self.countdowns: dict[str, float] = {}  # rule id -> plug time it was armed
        self.joined: tuple[str, str] | None = None  # the network a join told it (ssid, key)
        self.smart_rules: list[
            Answer
        ] = []  # a SMART plug's schedule, as get_schedule_rules lists it

    def now(self, real: float) -> float:
        return self.start + (real - self.start) * self.speed + self.drift

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of plug time pass at once (a test running the clock fast): what
        falls due in them fires at the next request, as if the time had gone by."""
        self.drift += seconds

    def set(self, real: float, plug_time: float) -> None:
        self.drift += plug_time - self.now(real)
        self.last_look = plug_time  # setting the clock never fires what it skips over
