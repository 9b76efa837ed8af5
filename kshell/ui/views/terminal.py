"""The terminal's colours: the one place that knows their escape sequences.

The output layer marks text through a ``Theme`` (``kshell.ui.output``); this is the theme a
person's terminal gets, and the live views colour with the same codes. Pipes, ``--json``,
mail and replays keep the output layer's plain theme.
"""

from __future__ import annotations

RED, DIM, BOLD, RESET = "\x1b[31m", "\x1b[2m", "\x1b[1m", "\x1b[0m"


class TerminalTheme:
    """Errors in red, titles in bold (SGR codes every terminal knows)."""

    def error(self, text: str) -> str:
        return f"{RED}{text}{RESET}"

    def strong(self, text: str) -> str:
        return f"{BOLD}{text}{RESET}"
