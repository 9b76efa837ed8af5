"""The interactive shell (prompt_toolkit), one small module per concern:

``app`` the session and the read-run loop, ``keys`` key bindings (``?``), ``toolbar`` the
bottom toolbar and the prompt text, ``style`` colours, ``highlight`` the lexer glue,
``confirm`` the y/N question, ``terminal`` printing above the prompt, ``refresh`` the
background discovery at start-up, ``history`` the bridge to ``kshell.history``.

Imported only when the prompt opens, so one-shot commands never load prompt_toolkit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kshell.core.session import Session


async def run_prompt(session: Session) -> int:
    """Open the prompt on ``session``; returns the exit status when the operator leaves."""
    from kshell.app.repl.app import Shell

    return await Shell(session).run()
