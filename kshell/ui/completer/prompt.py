"""The thin prompt_toolkit half of completion: engine suggestions as ``Completion``s."""

from __future__ import annotations

from collections.abc import Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from kshell.ui.completer.engine import MAX_OFFERED, Model, suggest


class KshellCompleter(Completer):
    def __init__(self, model: Model) -> None:
        self.model = model

    def get_completions(self, document: Document, event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        found = suggest(self.model, text)
        for item in found.items[:MAX_OFFERED]:
            yield Completion(
                item.text,
                start_position=found.start - len(text),
                display=item.display,
                display_meta=item.meta,
                style=f"class:completion.{item.kind}",
            )
