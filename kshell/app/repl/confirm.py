"""The y/N question a command asks before acting (``session.ask`` in the interactive shell)."""

from __future__ import annotations

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import FormattedText

from kshell.text import clean


async def ask(question: str) -> bool:
    """Ask at the terminal; anything but y/yes (Ctrl-C and Ctrl-D included) means no."""
    session: PromptSession[str] = PromptSession()
    message = FormattedText([("class:confirm", clean(question, 500)), ("", " [y/N] ")])
    try:
        answer = await session.prompt_async(
            message, handle_sigint=False, set_exception_handler=False
        )
    except (KeyboardInterrupt, EOFError):
        return False
    return answer.strip().lower() in ("y", "yes")


async def read_secret(question: str) -> str | None:
    """A password typed at the terminal, not echoed and kept out of the prompt history;
    None on Ctrl-C or Ctrl-D."""
    session: PromptSession[str] = PromptSession()  # its own history: never the shell's
    message = FormattedText([("class:confirm", clean(question, 200)), ("", " ")])
    try:
        return await session.prompt_async(
            message, is_password=True, handle_sigint=False, set_exception_handler=False
        )
    except (KeyboardInterrupt, EOFError):
        return None
