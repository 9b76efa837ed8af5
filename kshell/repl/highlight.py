"""The lexer glue: kshell's pygments lexer, run per line as the operator types."""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.styles.pygments import pygments_token_to_classname

from kshell.completer.engine import Model
from kshell.lexer import KshellLexer


class KshellHighlighter(Lexer):
    def __init__(self, model: Model) -> None:
        self.lexer = KshellLexer(model)

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        lines = document.lines

        def line(number: int) -> StyleAndTextTuples:
            if number >= len(lines):
                return []
            return [
                (f"class:{pygments_token_to_classname(kind)}", text)
                for _, kind, text in self.lexer.get_tokens_unprocessed(lines[number])
            ]

        return line
