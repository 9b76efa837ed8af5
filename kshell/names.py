"""How a typed name is compared with a plug's name: case and accents folded.

One pure function shared by the target resolver (unique prefixes, refusing a rename to a
name in use) and completion (``bu`` offers "Büro Lampe"), so what completes is what
resolves. No I/O, no state.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left
from collections.abc import Iterable


def fold(name: str) -> str:
    """``'Büro Lampe'`` -> ``'buro lampe'``: case-folded, accents and other marks dropped.

    Compatibility forms are unified too (``'ﬁ'`` -> ``'fi'``, a full-width ``'Ａ'`` -> ``'a'``),
    so two names that look alike to a person compare equal.
    """
    if name.isascii():
        return name.lower()  # the common case, without the Unicode tables
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def prefix_matches(typed: str, names: Iterable[str]) -> list[str]:
    """The names that start with ``typed``, folded; an exact (folded) match alone wins.

    ``[]``: nothing matches; one name: a unique prefix; several: ambiguous (list them).
    """
    return PrefixIndex(names).matches(typed)


class PrefixIndex:
    """``prefix_matches`` over names sorted once, for a keystroke over a thousand plugs."""

    def __init__(self, names: Iterable[str]) -> None:
        self._order: dict[str, int] = {}
        for position, name in enumerate(names):
            self._order.setdefault(name, position)
        pairs = sorted((fold(name), self._order[name], name) for name in self._order)
        self._keys = [key for key, _, _ in pairs]
        self._names = [name for _, _, name in pairs]

    def matches(self, typed: str, limit: int | None = None) -> list[str]:
        """As ``prefix_matches``, in the order the names were given; ``limit``: stop early
        (2 is enough to tell unique from ambiguous)."""
        key = fold(typed)
        if not key:
            return []
        start = bisect_left(self._keys, key)
        end = start
        exact = []
        while end < len(self._keys) and self._keys[end].startswith(key):
            if self._keys[end] == key:
                exact.append(self._names[end])
            end += 1
            if limit is not None and end - start >= limit and not exact:
                break
        if exact:
            return exact[:1]
        found = self._names[start:end]
        return sorted(found, key=self._order.__getitem__)
