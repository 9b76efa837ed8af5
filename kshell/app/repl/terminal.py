"""Printing above the prompt, for work that runs in the background of the shell.

Remote mode (and the start-up discovery) run as tasks in the prompt's event loop; what
they print must appear above the line being typed, not in the middle of it.
``session.ports.print_above(text)`` does that; call it from the event loop's thread.
"""

from __future__ import annotations

import sys

from prompt_toolkit.application import run_in_terminal
from prompt_toolkit.application.current import get_app_or_none


def print_above(text: str) -> None:
    app = get_app_or_none()
    if app is not None and app.is_running:
        run_in_terminal(lambda: _write(text), in_executor=False)
    else:
        _write(text)


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
