"""A tolerant tokenizer for a line being typed, with the positions of every token.

It follows the rules of ``kshell.grammar`` (POSIX-shell words, ``;`` separates commands,
``#`` starts a comment, both only outside quotes) but never fails: an unclosed quote is
a word still being typed. Completion and highlighting share it, so they cannot disagree
about where a word starts.
"""

from __future__ import annotations

from dataclasses import dataclass

WORD, SEPARATOR, COMMENT = "word", "separator", "comment"


@dataclass(frozen=True)
class Token:
    kind: str  # word | separator (";" or a newline) | comment
    value: str  # the word as the grammar reads it: quotes removed, escapes applied
    start: int
    end: int
    quote: str = ""  # the quote still open at the end of the word, "" when none
    quoted: bool = False  # any part of the word was in quotes


def scan(text: str) -> list[Token]:
    """Split ``text`` into words, separators and comments, keeping their spans."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in ";\n":
            tokens.append(Token(SEPARATOR, ch, i, i + 1))
            i += 1
        elif ch.isspace():
            i += 1
        elif ch == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            tokens.append(Token(COMMENT, text[i:end], i, end))
            i = end
        else:
            token = _word(text, i)
            tokens.append(token)
            i = token.end
    return tokens


def _word(text: str, start: int) -> Token:
    chars: list[str] = []
    quote = ""
    quoted = False
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"' and i + 1 < n and text[i + 1] in '\\"':
                i += 1
                chars.append(text[i])
            else:
                chars.append(ch)
        elif ch in "'\"":
            quote = ch
            quoted = True
        elif ch == "\\":
            if i + 1 < n and text[i + 1] != "\n":
                i += 1
                chars.append(text[i])
        elif ch.isspace() or ch in ";#":
            break
        else:
            chars.append(ch)
        i += 1
    return Token(WORD, "".join(chars), start, i, quote, quoted)


def current_command(tokens: list[Token]) -> list[Token]:
    """The tokens of the last command on the line (after the last separator)."""
    for index in range(len(tokens) - 1, -1, -1):
        if tokens[index].kind == SEPARATOR:
            return tokens[index + 1 :]
    return tokens


def split_commands(tokens: list[Token]) -> list[list[Token]]:
    """Words grouped per command (comments dropped)."""
    groups: list[list[Token]] = [[]]
    for token in tokens:
        if token.kind == SEPARATOR:
            groups.append([])
        elif token.kind == WORD:
            groups[-1].append(token)
    return [g for g in groups if g]
