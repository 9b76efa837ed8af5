"""Long work as typed events: the fan-in, questions the runner answers, and the shape of the
modules that do long work (no view, runner or REPL imported; small)."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from helpers.shell import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from kshell.device import meter_rules as emeter
from kshell.errors import KshellError, Refused
from kshell.events import Confirm, Event, Progress, Stream
from kshell.fanin import FanIn
from kshell.results import Failure, Text
from kshell.ui.output import Collector
from kshell.ui.runner import deliver

LONG_WORK = [
    *sorted((ROOT / "kshell" / "work" / "watch").glob("*.py")),
    *sorted((ROOT / "kshell" / "work" / "firmware" / "flash").glob("*.py")),
    ROOT / "kshell" / "work" / "ping.py",
    ROOT / "kshell" / "events.py",
    ROOT / "kshell" / "fanin.py",
]
DRAWS_OR_ASKS = (
    "kshell.ui.views",
    "kshell.ui.runner",
    "kshell.app.repl",
    "kshell.liveview",
    "prompt_toolkit",
)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_long_work_imports_no_view_no_runner_and_no_repl():
    assert len(LONG_WORK) >= 12  # the watch and the flow as packages, one job per module
    for path in LONG_WORK:
        bad = [n for n in _imports(path) if n.startswith(DRAWS_OR_ASKS)]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_long_work_modules_stay_small():
    for path in [*LONG_WORK, *sorted((ROOT / "kshell" / "ui" / "views").glob("*.py"))]:
        lines = len(path.read_text().splitlines())
        assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines"


# -- the fan-in ------------------------------------------------------------------------------
def test_fan_in_keeps_going_past_a_failing_job_and_names_a_bug():
    async def main() -> list[object]:
        fan: FanIn[str] = FanIn()

        async def fine() -> None:
            for n in range(3):
                fan.emit(f"ok {n}")
                await asyncio.sleep(0)

        async def refused() -> None:
            raise Refused("no", target="Kettle")

        async def buggy() -> None:
            raise ZeroDivisionError("oops")

        fan.start([fine, refused, buggy])
        return [item async for item in fan.items()]

    items = asyncio.run(main())
    assert [i for i in items if isinstance(i, str)] == ["ok 0", "ok 1", "ok 2"]
    failures = [i.error for i in items if isinstance(i, Failure)]
    assert {str(e) for e in failures} == {
        "Kettle: no",
        "internal error: ZeroDivisionError: oops",
    }


def test_leaving_a_fan_in_early_cancels_the_jobs_still_running():
    async def main() -> tuple[bool, bool]:
        fan: FanIn[int] = FanIn()
        stopped = asyncio.Event()

        async def endless() -> None:
            try:
                n = 0
                while True:
                    fan.emit(n)
                    n += 1
                    await asyncio.sleep(0)
            finally:
                stopped.set()

        tasks = fan.start([endless])
        items = fan.items()
        async for item in items:
            if item == 5:
                break
        await items.aclose()
        return stopped.is_set(), all(t.done() for t in tasks)

    assert asyncio.run(main()) == (True, True)


def test_a_bounded_fan_in_slows_a_job_down_to_its_reader():
    async def main() -> int:
        fan: FanIn[int] = FanIn(limit=4)
        most = 0

        async def fast() -> None:
            for n in range(100):
                await fan.put(n)

        fan.start([fast])
        got = []
        async for item in fan.items():
            most = max(most, len(fan._items) + 1)  # what waited, this one included
            got.append(item)
            await asyncio.sleep(0)  # a slow reader
        assert got == list(range(100))
        return most

    assert asyncio.run(main()) <= 4


# -- questions ------------------------------------------------------------------------------
class _Asks(Stream):
    """A stream that asks before its last step, as the firmware flow does."""

    view = "progress"

    def __init__(self) -> None:
        self.asked: Confirm | None = None

    async def events(self) -> AsyncGenerator[Event, None]:
        yield Progress("half way", {"step": "download", "ratio": 50}, milestone=True)
        yield Progress("tick", {"step": "reboot"})  # not a milestone: no line of its own
        self.asked = Confirm("Flash Kitchen?", touches=["Kitchen"])
        yield self.asked
        yield Text("flashed" if self.asked.approved else "cancelled")


def test_the_runner_answers_a_question_and_the_stream_reads_the_answer():
    async def main(answer: bool) -> tuple[str, list[str]]:
        stream, out, seen = _Asks(), Collector(), []

        async def person(question: Confirm) -> bool:
            seen.extend([question.question, *question.touches])
            return answer

        assert await deliver(stream, out, person)
        return out.text(), seen

    text, seen = asyncio.run(main(True))
    assert text == "half way\nflashed\n" and seen == ["Flash Kitchen?", "Kitchen"]
    text, _ = asyncio.run(main(False))
    assert text.endswith("cancelled\n")


def test_a_question_where_nobody_can_answer_is_refused():
    async def main() -> None:
        await deliver(_Asks(), Collector())

    with pytest.raises(Refused, match="nobody can answer"):
        asyncio.run(main())
    assert issubclass(Refused, KshellError)  # the runner prints it as one line


def test_a_sample_says_what_emeter_says_of_a_reading():
    """The watch builds its JSON line in one go; the reading's part must stay emeter's."""
    from kshell.core.target import Target
    from kshell.work.watch import Meter, Sample

    reading = emeter.normalise({"power_mw": 5000, "voltage_mv": 230000, "current_ma": 30})
    meter = Meter(Target("127.0.0.9", 9999, None))
    for flags in ([], ["power 5 W above"]):
        line = Sample(1_700_000_000.5, 3, meter, reading, flags, False).json()
        assert line.items() >= emeter.reading_json(reading, flags).items()
        assert line["time"] == "2023-11-14T22:13:20.500+00:00" and line["counter_reset"] is False


_numbers = (
    st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**12)
)


@settings(max_examples=300, deadline=None)
@given(
    label=st.text(max_size=30),
    outlet=st.none() | st.integers(1, 6),
    values=st.tuples(_numbers, _numbers, _numbers, _numbers),
    flags=st.lists(st.text(max_size=20), max_size=3),
    reset=st.booleans(),
    t=st.floats(0, 4e9),
)
def test_a_samples_own_json_line_is_what_the_stdlib_writes(label, outlet, values, flags, reset, t):
    """Without the speedups a sample writes its JSON line itself; it must be the very text
    the standard library's encoder would write for its json()."""
    import json

    from kshell.core.target import Target
    from kshell.work.watch import Meter, Sample

    meter = Meter(Target("127.0.0.9", 9999, None, None, outlet))
    meter.label = label
    reading = emeter.Reading(*values, "v2", {})
    sample = Sample(t, 7, meter, reading, flags, reset)
    expected = json.dumps(sample.json(), separators=(",", ":"), ensure_ascii=False)
    assert sample.json_text() == expected
    assert Sample(t, 7, meter, error=Refused("gone")).json_text() is None  # the generic way


def test_the_output_writes_a_samples_own_line_as_an_encoder_would():
    import json

    from kshell.core.target import Target
    from kshell.text import json_line
    from kshell.work.watch import Meter, Sample

    meter = Meter(Target("127.0.0.9", 9999, None))
    meter.label = "Kettle\u2028 \u00e9"  # escaped for line readers either way
    reading = emeter.normalise({"power_mw": 5000, "voltage_mv": 230000, "current_ma": 30})
    sample = Sample(1_700_000_000.25, 1, meter, reading, [], False)
    out = Collector(as_json=True)
    out.emit_row(sample)
    line = out.text()
    assert json.loads(line) == json.loads(json_line(sample.json()))
    assert "\\u2028" in line and "\u2028" not in line and line.count("\n") == 1
