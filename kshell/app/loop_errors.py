"""What the event loop itself catches (a callback that fails while Ctrl-C tears a flow
down, a task nobody awaited): one warning line, the traceback only with --debug.

The CLI sets it on every loop; the prompt keeps it (prompt_toolkit's own handler would
stop at "Press ENTER to continue" and eat the next line typed)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any


def quiet_loop_errors(
    debug: bool, say: Callable[[str], None] | None = None
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """The loop's exception handler; ``say`` takes the line (a service's log), else stderr."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if debug:
            loop.default_exception_handler(context)
            return
        exc = context.get("exception")
        what = f"{type(exc).__name__}: {exc}" if exc is not None else context.get("message", "")
        line = f"warning: background error ({str(what)[:200]}); --debug shows more"
        if say is not None:
            say(line)
        else:
            print(line, file=sys.stderr)

    return handle
