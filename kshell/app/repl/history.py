"""prompt_toolkit's History over ``kshell.history``'s numbered store, so the lines the
prompt recalls (Up, Ctrl-R, auto-suggest) are the lines ``history`` lists and ``replay``
runs."""

from __future__ import annotations

from collections.abc import Iterable

from prompt_toolkit.history import History

from kshell.history.store import HistoryStore


class StoreHistory(History):
    def __init__(self, store: HistoryStore) -> None:
        super().__init__()
        self.store = store

    def load_history_strings(self) -> Iterable[str]:
        for entry in reversed(self.store.entries()):  # prompt_toolkit wants newest first
            yield entry.line

    def store_string(self, string: str) -> None:
        self.store.append(string)
