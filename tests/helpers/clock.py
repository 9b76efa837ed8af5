"""A clock a test moves by hand, for code that takes ``clock: Callable[[], float]``: time
passes when the test says so, not by sleeping."""

from __future__ import annotations


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
