"""A pygments lexer for kshell command lines: verbs, known and unknown targets, options,
strings, numbers and comments.

It reads the roles the completion engine gives each word (``engine.analyse``), so the
colours agree with completion and dispatch: a target is "known" exactly when completion
would offer it. Without a model (``pygmentize``-style use) the first word of each command
is taken as the verb.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pygments.lexer import Lexer
from pygments.token import (
    Comment,
    Error,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    _TokenType,
)

from kshell.lang.grammar import COMMENT, SEPARATOR, WORD, scan
from kshell.ui.completer.engine import Model, analyse

ROLE_TOKENS: dict[str, _TokenType] = {
    "verb": Keyword,
    "subverb": Keyword.Type,
    "bad_verb": Error,
    "bad_subverb": Error,
    "option": Name.Attribute,
    "bad_option": Error,
    "target": Name.Variable,
    "address": Name.Variable.Magic,
    "unknown_target": Name.Exception,
    "incapable_target": Name.Exception,  # known, but without the meter or light it needs
    "keyword": Keyword.Constant,
    "choice": Name.Constant,
    "bad_choice": Error,
    "number": Number,
    "bad_number": Error,
    "value": String.Other,
    "extra": Error,
    "word": Text,
    "partial": Text,
    COMMENT: Comment.Single,
    SEPARATOR: Punctuation,
}


class KshellLexer(Lexer):  # type: ignore[misc]  # pygments ships no types (no stubs installed)
    name = "kshell"
    aliases: ClassVar[list[str]] = ["kshell"]
    filenames: ClassVar[list[str]] = ["*.kshell"]

    def __init__(self, model: Model | None = None, **options: object) -> None:
        super().__init__(**options)
        self.model = model

    def get_tokens_unprocessed(self, text: str) -> Iterator[tuple[int, _TokenType, str]]:
        if self.model is not None:
            pairs = analyse(self.model, text)
        else:
            pairs = []
            first = True
            for token in scan(text):
                role = token.kind if token.kind != WORD else ("verb" if first else "word")
                first = token.kind == SEPARATOR
                pairs.append((token, role))
        position = 0
        for token, role in pairs:
            if token.start > position:
                yield position, Text.Whitespace, text[position : token.start]
            kind = ROLE_TOKENS.get(role, Text)
            source = text[token.start : token.end]
            if token.quoted and kind in (Text, String.Other):
                kind = String
            elif kind is Text and _numeric(token.value):
                kind = Number
            if token.kind == SEPARATOR and source == "\n":
                kind = Text.Whitespace
            elif token.kind == SEPARATOR:
                kind = Operator if source == ";" else kind
            yield token.start, kind, source
            position = token.end
        if position < len(text):
            yield position, Text.Whitespace, text[position:]


def _numeric(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True
