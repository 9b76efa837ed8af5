"""One view per surface for a long command's stream of events.

The surface is where the output goes: a person's terminal (live views: the meter table,
progress bars) or lines (a pipe, ``-c``, ``--json``, a mail transcript, a replay). The
view is chosen from the stream's declared ``view`` kind, never by probing the stream.
Questions are handed to ``answer`` (the runner's: a person, ``--yes``, or a refusal).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from kshell.events import Confirm, Event, Progress, Row, Stream
from kshell.results import Failure, Result, Text
from kshell.ui.output import Output

Answer = Callable[[Confirm], Awaitable[bool]]


@dataclass
class Seen:
    """What a view saw go by: any failure makes the command's exit status 1."""

    failed: bool = False


async def answered(
    events: AsyncIterable[Event], answer: Answer, seen: Seen
) -> AsyncIterator[Result | Row | Progress]:
    """The events with every question answered (the answer written into the question)."""
    async for event in events:
        if isinstance(event, Confirm):
            event.approved = await answer(event)
            continue
        if isinstance(event, Failure):
            seen.failed = True
        yield event


async def show(stream: AsyncIterable[Event], output: Output, answer: Answer) -> bool:
    """Render a stream on ``output``'s surface; False if any part failed."""
    seen = Seen()
    kind = stream.view if isinstance(stream, Stream) else "lines"
    if output.interactive_view and kind == "meters":
        from kshell.ui.views.meters import show_meters
        from kshell.work.watch import Watch

        assert isinstance(stream, Watch)  # the only stream that declares a meter table
        await show_meters(stream, answered(stream, answer, seen), output)
    elif output.interactive_view and kind == "progress":
        from kshell.ui.views.progress import show_progress

        await show_progress(answered(stream, answer, seen), output)
    else:
        await show_lines(answered(stream, answer, seen), output)
    return not seen.failed and not (isinstance(stream, Stream) and stream.failed)


async def show_lines(events: AsyncIterable[Result | Row | Progress], output: Output) -> None:
    """One line (or JSON object) per result; progress only at its milestones."""
    async for event in events:
        if isinstance(event, Row):
            output.emit_row(event)
        elif isinstance(event, Progress):
            if event.milestone:
                output.emit(Text(event.text, event.data))
        else:
            output.emit(event)
