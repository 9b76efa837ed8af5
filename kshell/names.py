"""What a plug may be called, and how a typed word is compared with names.

Names are compared folded: case- and accent-insensitively (``bu`` finds "Büro Lampe",
"KITCHEN" is "Kitchen"). A name must never read as something else on a command line: an IP
literal (with or without ``:PORT``) or a MAC is always an address, a line starting with the
mail marker is a command in a mail, and ``all`` means every plug.
"""

from __future__ import annotations

import ipaddress
import unicodedata

from kshell.errors import UsageError

MAX_ALIAS = 31  # what the plugs accept
RESERVED = frozenset({"all", "none", "-"})


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Büro' -> 'buro', 'STRASSE' == 'Straße'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


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
