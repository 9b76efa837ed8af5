"""Fuzzy matching of what is typed against candidates, case and accents folded."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from kshell.store.names import fold

T = TypeVar("T")


class Matcher:
    """Best first: prefix, start of a word, substring, then letters in order. ``bu`` finds
    "Büro Lampe" first, as the target resolver does (``kshell.store.names.fold``)."""

    def __init__(self, typed: str) -> None:
        self.typed = typed
        self.low = fold(typed)
        self._fuzzy = re.compile(".*?".join(re.escape(ch) for ch in self.low)) if self.low else None

    def score(self, candidate: str) -> tuple[int, int] | None:
        """The rank of a folded candidate (lower is better); None when it does not match."""
        low = self.low
        if not low:
            return (0, 0)
        if candidate.startswith(low):
            return (0, len(candidate))
        at = candidate.find(low)
        if at > 0:
            return (1 if candidate[at - 1] in " -_/.:" else 2, at)
        found = self._fuzzy.search(candidate) if self._fuzzy else None
        return (3, found.end() - found.start()) if found else None

    def rank(self, items: list[T], key: Callable[[T], str], *, folded: bool = False) -> list[T]:
        """The items that match, best first; ``folded``: ``key`` gives folded text already."""
        if not self.low:
            return list(items)
        scored = []
        for position, item in enumerate(items):
            text = key(item)
            score = self.score(text if folded else fold(text))
            if score is not None:
                scored.append((score, position, item))
        scored.sort(key=lambda t: (t[0], t[1]))
        return [item for _, _, item in scored]
