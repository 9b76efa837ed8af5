"""How a typed name is compared with a plug's name: case and accents folded.

One pure function shared by the target resolver (unique prefixes, refusing a rename to a
name in use) and completion (``bu`` offers "Büro Lampe"), so what completes is what
resolves. No I/O, no state.
"""

from __future__ import annotations

import unicodedata
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
    key = fold(typed)
    if not key:
        return []
    found: list[str] = []
    for name in names:
        folded = fold(name)
        if folded == key:
            return [name]
        if folded.startswith(key):
            found.append(name)
    return found
