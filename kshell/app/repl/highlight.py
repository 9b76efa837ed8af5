"""The lexer glue: kshell's pygments lexer over the whole text being typed, shown per line.

The whole text is lexed at once, not line by line, so a quote left open on one line (a
pasted line) colours the next exactly as the grammar will read it when it runs.
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.styles.pygments import pygments_token_to_classname

from kshell.app.repl.lexer import KshellLexer
from kshell.ui.completer.engine import Model


class KshellHighlighter(Lexer):
    def __init__(self, model: Model) -> None:
        self.lexer = KshellLexer(model)

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        lines: list[StyleAndTextTuples] = [[]]
        for _, kind, text in self.lexer.get_tokens_unprocessed(document.text):
            style = f"class:{pygments_token_to_classname(kind)}"
            first, *rest = text.split("\n")
            if first:
                lines[-1].append((style, first))
            for part in rest:
                lines.append([(style, part)] if part else [])

        def line(number: int) -> StyleAndTextTuples:
            return lines[number] if 0 <= number < len(lines) else []

        return line
