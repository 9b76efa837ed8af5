"""The one command-line grammar, shared by the prompt, scripts, ``-c`` and mail.

Tokens split like a POSIX shell (quotes keep spaces); ``;`` separates commands and
``#`` starts a comment, both only outside quotes.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from kshell.errors import UsageError


@dataclass
class Line:
    """One command: its words, and ``--option`` values separated out."""

    text: str
    words: list[str] = field(default_factory=list)


def split_commands(line: str) -> list[Line]:
    """``'on a; off "b c" # x'`` -> [Line(words=['on','a']), Line(words=['off','b c'])]."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[Line] = []
    words: list[str] = []
    try:
        for token in lexer:
            if token and set(token) == {";"}:
                if words:
                    commands.append(Line(" ".join(shlex.quote(w) for w in words), words))
                words = []
            else:
                words.append(token)
    except ValueError as exc:  # "No closing quotation"
        raise UsageError(f"cannot parse line: {str(exc).lower()}") from None
    if words:
        commands.append(Line(" ".join(shlex.quote(w) for w in words), words))
    return commands


def quote(word: str) -> str:
    """Quote a word (an alias with spaces) so the grammar reads it back as one token."""
    return shlex.quote(word)
