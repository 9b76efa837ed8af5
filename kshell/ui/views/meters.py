"""A table redrawn in place on a terminal, with sparklines: the ``emeter watch`` view.

The watch's samples and failures show in its rows (its figures are kept by the watch);
the summary comes after the last frame.

Plain ANSI (cursor up, erase line), no full-screen library: the view sits below the
prompt's scrollback like any command's output, and what is left when it ends is the last
frame. Lines are cut to the terminal's width so none wraps (a wrapped line would throw
the cursor arithmetic off). Everything a plug says passes through ``output.clean``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, Iterable
from datetime import timedelta
from typing import TextIO

from kshell.events import Progress, Row
from kshell.results import Failure, Result
from kshell.text import clean
from kshell.ui.output import Output
from kshell.ui.views.terminal import BOLD, DIM, RED, RESET
from kshell.work.watch import Meter, Watch

BARS = "▁▂▃▄▅▆▇█"
HIDE, SHOW, ERASE_LINE, ERASE_BELOW = "\x1b[?25l", "\x1b[?25h", "\x1b[2K", "\x1b[J"


def sparkline(points: Iterable[float | None | str]) -> str:
    """Recent power as bars scaled from zero to its highest: a router at 9.6-9.8 W draws
    nine level bars, not its noise full height. '·' no answer, '!' a flagged reading."""
    points = list(points)
    values = [p for p in points if isinstance(p, float | int)]
    lo, hi = (min(0.0, min(values)), max(values)) if values else (0.0, 0.0)
    span = hi - lo
    out = []
    for p in points:
        if p is None:
            out.append("·")
        elif isinstance(p, str):
            out.append("!")
        elif span <= 1e-9:  # nothing drawn: all zero
            out.append(BARS[0])
        else:
            out.append(BARS[min(7, int((p - lo) / span * 8))])
    return "".join(out)


async def show_meters(
    watch: Watch, events: AsyncIterable[Result | Row | Progress], output: Output
) -> None:
    """Redraw the table until the watch ends or Ctrl-C; then the summary."""
    view = LiveView(output.out, color=output.color)
    after: list[Result] = []
    interrupted = False
    drawer = asyncio.create_task(_redraw(view, watch))
    try:
        async for event in events:
            if isinstance(event, Failure) and event.error.target is None:
                after.append(event)  # not a plug's (its row shows those): the --out file's
            elif not isinstance(event, Row | Progress | Failure):
                after.append(event)  # the summary: below the last frame
    except (asyncio.CancelledError, KeyboardInterrupt):
        interrupted = True
    finally:
        drawer.cancel()
        await asyncio.gather(drawer, return_exceptions=True)
        view.draw(watch, final=True)
        view.close()
    for result in after:
        output.emit(result)
    if interrupted:
        raise asyncio.CancelledError  # Ctrl-C goes on to stop the command line


async def _redraw(view: LiveView, watch: Watch) -> None:
    while True:
        view.draw(watch)
        await asyncio.sleep(view.period)


def _label(meter: Meter) -> str:
    """'Media Strip/2 (TV)': the name to type, and an outlet's own alias."""
    return clean(f"{meter.label} ({meter.name})" if meter.name else meter.label, 60)


def _n(value: float | None, digits: int, width: int) -> str:
    return f"{'-' if value is None else f'{value:.{digits}f}':>{width}}"


class LiveView:
    """Draws frames of a Watch on ``out``; ``close`` leaves the last frame on screen."""

    period = 0.25  # seconds between frames: smooth enough, cheap at 100 plugs

    def __init__(self, out: TextIO, *, color: bool = False) -> None:
        self.out = out
        self.color = color
        self.lines = 0  # lines of the previous frame, to move back over
        self.out.write(HIDE)

    def size(self) -> tuple[int, int]:
        try:
            cols, rows = os.get_terminal_size(self.out.fileno())
        except (OSError, ValueError, AttributeError):
            cols, rows = 100, 30
        return max(40, cols), max(6, rows)

    def draw(self, watch: Watch, *, final: bool = False) -> None:
        cols, rows = self.size()
        lines = self.frame(watch, cols, rows, final=final)
        parts = [f"\x1b[{self.lines}F" if self.lines else "\r"]
        parts += [ERASE_LINE + line + "\n" for line in lines]
        parts.append(ERASE_BELOW)
        self.out.write("".join(parts))
        self.out.flush()
        self.lines = len(lines)

    def close(self) -> None:
        self.out.write(SHOW)
        self.out.flush()

    # -- the frame -----------------------------------------------------------------------
    def frame(self, watch: Watch, cols: int, rows: int, *, final: bool = False) -> list[str]:
        meters = watch.meters
        width = min(30, max([len(_label(m)) for m in meters] + [6]))
        spark = max(8, min(32, cols - width - 66))
        elapsed = str(timedelta(seconds=int(watch.elapsed())))
        every = f"every {watch.interval:g} s" if watch.interval > 0 else "as fast as they answer"
        rounds = watch.schedule.rounds_seen if watch.schedule else 0
        state = "stopped" if final else "Ctrl-C stops"
        head = f"emeter watch: {len(meters)} meters, {every}; {elapsed}, {rounds} rounds; {state}"
        header = (
            f"{'target':<{width}} {'W':>9} {'V':>6} {'A':>7} {'min':>8} {'avg':>8} "
            f"{'max':>8}  {'recent power':<{spark}}  flags"
        )
        out = [self._style(head[: cols - 1], BOLD), header[: cols - 1]]
        room = rows - 3 - (len(meters) > 1)  # the total row takes one
        shown = meters if len(meters) <= room else meters[: max(1, room - 1)]
        out += [self.row(m, width, spark, cols) for m in shown]
        if len(meters) > 1:
            out.append(self.total_row(meters, width))
        if len(shown) < len(meters):
            out.append(
                f"… {len(meters) - len(shown)} more meters (of {len(meters)}): "
                "the summary lists them all"
            )
        if getattr(watch, "writer_error", None):  # --out stopped taking rows: said, it goes on
            out.append(self._style(clean(str(watch.writer_error), cols - 1), BOLD))
        return out

    def total_row(self, meters: list[Meter], width: int) -> str:
        """The house now: the latest plausible watts of every meter, added up."""
        latest = [
            m.last.reading.power_w
            for m in meters
            if m.last is not None and m.last.reading is not None and not m.last.flags
        ]
        watts = sum(p for p in latest if p is not None) if latest else None
        label = f"{'total':<{width}}"
        line = f"{label} {_n(watts, 1, 8)}  ({len(latest)} of {len(meters)} meters answering)"
        return self._style(line, BOLD)

    def row(self, meter: Meter, width: int, spark: int, cols: int) -> str:
        label = f"{_label(meter)[:width]:<{width}}"
        last = meter.last.reading if meter.last is not None else None
        stats = (
            f"{_n(meter.min_w if meter.samples else None, 1, 8)} "
            f"{_n(meter.avg_w, 1, 8)} {_n(meter.max_w if meter.samples else None, 1, 8)}"
        )
        line = sparkline(list(meter.history)[-spark:])
        if meter.status in ("ok", "error") and last is not None:
            mark = "!" if meter.last is not None and meter.last.flags else " "
            values = (
                f"{_n(last.power_w, 1, 8)}{mark} {_n(last.voltage_v, 1, 6)} "
                f"{_n(last.current_a, 3, 7)}"
            )
        else:
            values = f"{meter.status:>9} {'':>6} {'':>7}"
        notes = []
        if meter.flagged:
            notes.append(f"{meter.flagged} flagged, last: {meter.last_flag}")
        if meter.status in ("offline", "no meter", "error") and meter.note:
            notes = [meter.note] + notes
        if meter.resets:
            notes.append(f"{meter.resets} counter reset{'s' if meter.resets > 1 else ''}")
        text = f"{label} {values} {stats}  {line:<{spark}}  {clean('; '.join(notes), 200)}"
        text = text[: cols - 1]
        if meter.status in ("offline", "no meter", "error") or (meter.last and meter.last.flags):
            return self._style(text, RED)
        if meter.status == "connecting":
            return self._style(text, DIM)
        return text

    def _style(self, text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if self.color else text
