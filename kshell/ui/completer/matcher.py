"""Fuzzy matching of what is typed against candidates, case and accents folded."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from kshell.store.names import fold

T = TypeVar("T")
PREFIX_TIERS = 1  # score tiers that are prefixes: of the whole text (0), of one of its words (1)


class Matcher:
    """Best first: prefix, start of a word, substring, then letters in order (the last two
    only when nothing matches by prefix). ``bu`` finds "Büro Lampe" first, as the target
    resolver does (``kshell.store.names.fold``)."""

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

    def starts(self, candidate: str) -> bool:
        """Whether the typed text begins the folded candidate or one of its words."""
        score = self.score(candidate)
        return score is not None and score[0] <= PREFIX_TIERS

    def rank(
        self,
        items: list[T],
        key: Callable[[T], str],
        *,
        folded: bool = False,
        prefix_only: bool | None = None,
    ) -> list[T]:
        """The items that match, best first; ``folded``: ``key`` gives folded text already.

        Prefix matches (of the text or of one of its words) first and only: ``em`` offers
        ``emeter``, not ``remote``; substring and fuzzy matches only when nothing matches by
        prefix. ``prefix_only`` decides it for several lists ranked apart (None: these items).
        """
        if not self.low:
            return list(items)
        scored = []
        for position, item in enumerate(items):
            text = key(item)
            score = self.score(text if folded else fold(text))
            if score is not None:
                scored.append((score, position, item))
        if prefix_only is None:
            prefix_only = any(score[0] <= PREFIX_TIERS for score, _, _ in scored)
        if prefix_only:
            scored = [t for t in scored if t[0][0] <= PREFIX_TIERS]
        scored.sort(key=lambda t: (t[0], t[1]))
        return [item for _, _, item in scored]
