"""The one reader of command lines: dispatch, completion and highlighting all scan here.

Words split like a POSIX shell: blanks separate words; single quotes keep everything;
double quotes keep everything but ``\\"`` and ``\\\\``; a backslash outside quotes keeps
the next character (and joins lines when that is a newline). ``;`` and a newline separate
commands, and ``#`` where a word would start begins a comment, both only outside quotes,
so a quoted ``";"`` is a word and ``a#b`` is one word.

``scan(text, strict=True)`` is for running: an unclosed quote or a final backslash is a
``UsageError``. The tolerant default is for a line being typed: an open quote is a word
still being typed. Both give the same tokens wherever the strict one succeeds.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from kshell.errors import UsageError

WORD, SEPARATOR, COMMENT = "word", "separator", "comment"
BLANKS = " \t\r\f\v"
SEPARATORS = ";\n"
DOUBLE_QUOTE_ESCAPES = '\\"'


@dataclass(frozen=True, slots=True)
class Token:
    """One word, separator or comment of a line, with its span in the text."""

    kind: str  # word | separator (";" or a newline) | comment
    value: str  # the word as it runs: quotes removed, escapes applied
    start: int
    end: int
    quote: str = ""  # the quote still open at the end of the word, "" when none
    quoted: bool = False  # any part of the word was in quotes


@dataclass
class Line:
    """One command: its words, and the words quoted back into one line."""

    text: str
    words: list[str] = field(default_factory=list)


def scan(text: str, *, strict: bool = False) -> list[Token]:
    """Split ``text`` into words, separators and comments, keeping their spans."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in SEPARATORS:
            tokens.append(Token(SEPARATOR, ch, i, i + 1))
            i += 1
        elif ch in BLANKS:
            i += 1
        elif ch == "\\" and text.startswith("\\\n", i):
            i += 2  # a line continuation between words
        elif ch == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            tokens.append(Token(COMMENT, text[i:end], i, end))
            i = end
        else:
            token = _word(text, i, strict)
            tokens.append(token)
            i = token.end
    return tokens


def _word(text: str, start: int, strict: bool) -> Token:
    chars: list[str] = []
    quote = ""
    quoted = False
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                chars.append(ch)
        elif quote == '"':
            if ch == '"':
                quote = ""
            elif ch == "\\" and i + 1 < n and text[i + 1] in DOUBLE_QUOTE_ESCAPES:
                i += 1
                chars.append(text[i])
            else:
                chars.append(ch)
        elif ch in "'\"":
            quote = ch
            quoted = True
        elif ch == "\\":
            if i + 1 >= n:
                if strict:
                    raise UsageError("cannot parse line: nothing follows the final backslash")
            elif text[i + 1] != "\n":  # backslash-newline joins the lines
                chars.append(text[i + 1])
            i += 1
        elif ch in BLANKS or ch in SEPARATORS:
            break
        else:
            chars.append(ch)
        i += 1
    if quote and strict:
        raise UsageError(f"cannot parse line: no closing quotation ({quote})")
    return Token(WORD, "".join(chars), start, i, quote, quoted)


def group_commands(tokens: list[Token]) -> list[list[Token]]:
    """The words of each command, in order (separators and comments dropped)."""
    groups: list[list[Token]] = [[]]
    for token in tokens:
        if token.kind == SEPARATOR:
            groups.append([])
        elif token.kind == WORD:
            groups[-1].append(token)
    return [g for g in groups if g]


def current_command(tokens: list[Token]) -> list[Token]:
    """The tokens of the last command on the line (after the last separator)."""
    for index in range(len(tokens) - 1, -1, -1):
        if tokens[index].kind == SEPARATOR:
            return tokens[index + 1 :]
    return tokens


def split_commands(line: str) -> list[Line]:
    """``'on a; off "b c" # x'`` -> [Line(words=['on','a']), Line(words=['off','b c'])].

    Strict: a line that does not scan is a ``UsageError`` and nothing of it runs.
    """
    out = []
    for group in group_commands(scan(line, strict=True)):
        words = [t.value for t in group]
        out.append(Line(" ".join(quote(w) for w in words), words))
    return out


def quote(word: str) -> str:
    """Quote a word (an alias with spaces) so the grammar reads it back as one token."""
    return shlex.quote(word)
