"""faults.Faults with its clock and its sleep injected: what is said, counted and waited."""

from __future__ import annotations

import asyncio

from helpers.clock import FakeClock

from kshell.app.remote.faults import MOST, REMIND, Faults


def _faults() -> tuple[Faults, list[str], list[float], FakeClock]:
    said: list[str] = []
    waits: list[float] = []
    clock = FakeClock()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    return Faults(said.append, clock, sleep), said, waits, clock


def test_the_same_error_is_said_once_counted_and_backed_off() -> None:
    faults, said, waits, _clock = _faults()
    full = OSError(28, "No space left on device")

    async def main() -> None:
        for i in range(12):
            await faults.failed(f"{i}.mail", full)
        faults.recovered()

    asyncio.run(main())
    assert len([s for s in said if "internal error" in s]) == 1
    assert waits[:4] == [0.2, 0.4, 0.8, 1.6] and max(waits) == MOST
    assert said[-1].startswith("remote: the error OSError: [Errno 28] No space left")
    assert "happened 12 times" in said[-1]


def test_one_bad_mail_among_good_ones_is_not_said_every_round() -> None:
    faults, said, waits, clock = _faults()

    async def main() -> None:
        for _ in range(50):  # each round: the bad mail fails, a good one goes through
            await faults.failed("bad.mail", ValueError("boom"))
            faults.recovered()
            clock.advance(1)

    asyncio.run(main())
    assert len(said) == 1  # said once; it never repeated between two good mails
    assert set(waits) == {0.2}  # the good mail in between ends the back-off


def test_a_lasting_error_is_said_again_with_its_count() -> None:
    faults, said, _waits, clock = _faults()

    async def main() -> None:
        await faults.failed("a", OSError("disk I/O error"))
        clock.advance(REMIND)
        await faults.failed("b", OSError("disk I/O error"))

    asyncio.run(main())
    assert len(said) == 2 and "still failing" in said[1] and "2 times" in said[1]
