"""prompt_toolkit's History over ``kshell.history``'s numbered store, so the lines the
prompt recalls (Up, Ctrl-R, auto-suggest) are the lines ``history`` lists and ``replay``
runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prompt_toolkit.history import History

from kshell.history.store import HistoryStore


class StoreHistory(History):
    """``as_it_runs`` turns a typed line into the one kept (alias prefixes written whole),
    so ``replay N`` runs what the prompt ran; Up still recalls this session's lines as typed."""

    def __init__(self, store: HistoryStore, as_it_runs: Callable[[str], str] = str) -> None:
        super().__init__()
        self.store = store
        self.as_it_runs = as_it_runs

    def load_history_strings(self) -> Iterable[str]:
        for entry in reversed(self.store.entries()):  # prompt_toolkit wants newest first
            yield entry.line

    def store_string(self, string: str) -> None:
        self.store.append(self.as_it_runs(string))
