"""Long text for a person: shown whole, through a pager when it would scroll off the screen.

A ``Document`` (kshell.results) is a Text a command returns when its text may be long
(``raw``'s answer); only the output layer decides to page it, and only when a person is at a
terminal.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from typing import TextIO


def page(text: str, out: TextIO) -> bool:
    """Show ``text`` through $PAGER (default ``less``) when it is taller than the terminal
    and a person is there; False when it was not paged (the caller prints it)."""
    if not (_tty(out) and _tty(sys.stdin)):
        return False
    rows = shutil.get_terminal_size().lines
    if text.count("\n") + 2 < rows:
        return False
    command = shlex.split(os.environ.get("PAGER") or "less")
    if not command or shutil.which(command[0]) is None:
        return False
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")  # quit when it fits, keep colours, leave the text on screen
    out.flush()
    try:
        subprocess.run(command, input=text + "\n", text=True, env=env, check=False)
    except OSError:
        return False
    return True


def _tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
