"""Names: how a typed name is compared with a plug's name, and what a plug may be called.

Names are compared folded, case and accents aside: one pure function shared by the target
resolver (unique prefixes, refusing a rename to a name in use) and completion (``bu`` offers
"Büro Lampe"), so what completes is what resolves. A name must never read as something else
on a command line: an IP literal (with or without ``:PORT``) or a MAC is always an address, a
line starting with the mail marker is a command in a mail, and ``all`` means every plug.
No I/O, no state.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable
from typing import TypeVar

from kshell.errors import UsageError

T = TypeVar("T")

MAX_ALIAS = 31  # what the plugs accept
RESERVED = frozenset({"all", "none", "-"})


def fold(name: str) -> str:
    """``'Büro Lampe'`` -> ``'buro lampe'``: case-folded, accents and other marks dropped.

    Compatibility forms are unified too (``'ﬁ'`` -> ``'fi'``, a full-width ``'Ａ'`` -> ``'a'``),
    and format characters (category Cf: zero-width, soft hyphen, word joiners, tags, BOM, bidi
    controls) are dropped, so two names that look alike to a person compare equal.
    """
    if name.isascii():
        return name.lower()  # the common case, without the Unicode tables
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(
        ch
        for ch in decomposed
        if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf"
    )


def shared(named: Iterable[tuple[T, str]]) -> list[list[tuple[T, str]]]:
    """The groups of ``(owner, name)`` whose names fold onto one key, two or more to a group,
    in the order given: the names that are ambiguous in every spelling."""
    by_key: dict[str, list[tuple[T, str]]] = {}
    for owner, name in named:
        by_key.setdefault(fold(name), []).append((owner, name))
    return [group for group in by_key.values() if len(group) > 1]


def prefix_matches(typed: str, names: Iterable[str]) -> list[str]:
    """The names that start with ``typed``, folded; the exact (folded) matches alone win.

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
        (2 is enough to tell unique from ambiguous). Names that fold onto the typed key all
        come back (``Space Heater``, ``space heater``): an exact match is never one of them."""
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
            return sorted(exact, key=self._order.__getitem__)
        found = self._names[start:end]
        return sorted(found, key=self._order.__getitem__)


_HEX = frozenset("0123456789abcdefABCDEF")


def is_mac(word: str) -> bool:
    """Six hex pairs joined by ':' or '-', as a target names a MAC."""
    pairs = word.replace("-", ":").split(":")
    return (
        len(word) == 17 and len(pairs) == 6 and all(len(p) == 2 and set(p) <= _HEX for p in pairs)
    )


def looks_like_mac(word: str) -> bool:
    """Also twelve bare hex digits: refused as a name, so no name ever reads as a MAC."""
    bare = word.replace(":", "").replace("-", "")
    return is_mac(word) or (len(word) == 12 and set(bare) <= _HEX)


def ip_literal(word: str) -> tuple[str, int | None] | None:
    """'127.0.0.2' -> ('127.0.0.2', None); '127.0.0.2:9998' -> (.., 9998); else None."""
    host, sep, port_text = word.rpartition(":")
    if not sep:
        host, port_text = word, ""
    elif not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return None
    return host, int(port_text) if port_text else None


def check_new_alias(name: str, marker: str = "!") -> str:
    """The name a plug may be renamed to, stripped; UsageError saying why not."""
    name = name.strip()
    if not name or len(name) > MAX_ALIAS:
        raise UsageError(f"alias: a name has 1-{MAX_ALIAS} characters")
    if any(unicodedata.category(ch)[0] in "CZ" and ch != " " for ch in name):
        raise UsageError("alias: a name holds printable characters only (no tabs, no line breaks)")
    if ip_literal(name) is not None or looks_like_mac(name):
        raise UsageError(f"alias: '{name}' reads as an address; choose a name that does not")
    if marker and name.startswith(marker):
        raise UsageError(f"alias: a name may not start with the mail marker '{marker}'")
    if fold(name) in RESERVED:
        raise UsageError(f"alias: '{name}' is a reserved word")
    return name
