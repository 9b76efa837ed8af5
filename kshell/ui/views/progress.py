"""Progress bars on a terminal: one redrawn line of bars (or a countdown) between the
lines of the steps themselves (the firmware flow's view)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterable
from typing import Any

from kshell.events import Progress, Row
from kshell.results import Result, Text
from kshell.text import clean
from kshell.ui.output import Output


async def show_progress(events: AsyncIterable[Result | Row | Progress], output: Output) -> None:
    bars: dict[str, dict[str, Any]] = {}
    drawn = False
    try:
        async for item in events:
            if isinstance(item, Progress):
                bars[str(item.data.get("target"))] = item.data
                output.out.write("\r" + status_line(bars) + "\x1b[K")
                output.out.flush()
                drawn = True
                continue
            if drawn:
                output.out.write("\r\x1b[K")
                drawn = False
            data = item.data if isinstance(item, Text) and item.data else {}
            if data.get("step") in ("downloaded", "done"):
                bars.pop(str(data.get("target")), None)
            if isinstance(item, Row):
                output.emit_row(item)
            else:
                output.emit(item)
    finally:
        if drawn:
            output.out.write("\r\x1b[K")
            output.out.flush()


def status_line(bars: dict[str, dict[str, Any]]) -> str:
    """The live line: a bar per plug (up to three), else one summary."""
    width = shutil.get_terminal_size((80, 24)).columns - 1
    items = list(bars.items())
    if not items:
        return ""
    if len(items) <= 3:
        parts = [_one_bar(label, data, 20 if len(items) == 1 else 10) for label, data in items]
        return clean(" | ".join(parts), width)
    downloading = [d for _, d in items if d.get("step") == "download"]
    rebooting = [d for _, d in items if d.get("step") == "reboot"]
    line = ""
    if downloading:
        mean = sum(int(d.get("ratio", 0)) for d in downloading) / len(downloading)
        line += f"downloading {len(downloading)} plugs: {_bar(mean, 20)} {mean:.0f}% avg"
    if rebooting:
        line += ("; " if line else "") + f"{len(rebooting)} plugs rebooting"
    return clean(line, width)


def _one_bar(label: str, data: dict[str, Any], width: int) -> str:
    if data.get("step") == "reboot":
        left = int(data.get("remaining", 0))
        if left > 0:
            return f"{label}: rebooting, {left} s left"
        return f"{label}: rebooting, waiting ({data.get('elapsed', 0):.0f} s)"
    ratio = int(data.get("ratio", 0))
    return f"{label} {_bar(ratio, width)} {ratio:3d}%"


def _bar(ratio: float, width: int) -> str:
    filled = round(width * max(0.0, min(100.0, ratio)) / 100)
    return "[" + "#" * filled + "-" * (width - filled) + "]"
