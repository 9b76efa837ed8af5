"""The cloud account a simulated plug of the current generation was set up with.

A KLAP or AES plug knows its owner's e-mail and password (from the app's setup); a plug still
in its factory state knows the vendor's setup account instead (``DEFAULT_KASA`` for Kasa
models, ``DEFAULT_TAPO`` for Tapo ones; python-kasa ``kasa/credentials.py``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    """An e-mail and password pair as a plug stores it (never printed: see ``__repr__``)."""

    username: str = ""
    password: str = ""

    def __repr__(self) -> str:
        return f"Account(username={self.username!r}, password=<hidden>)"

    @property
    def owner(self) -> str:
        """The discovery answer's ``owner``: md5 of the e-mail, upper-case hex ("" if none)."""
        if not self.username:
            return ""
        return hashlib.md5(self.username.encode()).hexdigest().upper()


DEFAULT_KASA = Account("kasa@tp-link.net", "kasaSetup")
DEFAULT_TAPO = Account("test@tp-link.net", "test")
DEMO_ACCOUNT = Account("demo@kshell.invalid", "demo-password")  # what ``--demo`` presets
