"""What the session holds of the layers above it, as interfaces the app fills in.

The session lives in core; the mail service, the metrics exporter, the history file and
the runner that turns a line into results live above it. The session names only these
small shapes, and ``kshell.app.build`` hands in the concrete objects, so nothing in core
(nor anything a command imports) depends on the mail stack or the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class Service(Protocol):
    """Something that runs in the background while the shell is open (the metrics
    exporter, the mail service): what `… status` and `… off` ask of it."""

    @property
    def running(self) -> bool: ...

    def describe(self) -> str: ...

    def status(self) -> dict[str, Any]: ...

    async def stop(self) -> None: ...


class MailService(Service, Protocol):
    """Remote mode's service, as the `remote` commands use it."""

    @property
    def has_senders(self) -> bool: ...

    async def start(self) -> None: ...

    async def test(self) -> list[tuple[str, bool, str]]: ...


@dataclass(frozen=True)
class TotpAdded:
    """A sender's new TOTP secret, shown once: where it is stored and its otpauth URI."""

    address: str
    file: Path
    uri: str
    is_sender: bool  # already in [senders]


class MailStack(Protocol):
    """The mail stack's entry points the `remote` commands need, bound to a session."""

    def service(self) -> MailService:
        """A new, stopped service reading today's [remote] settings."""
        ...

    def add_totp(self, address: str) -> TotpAdded: ...

    def unlock_totp(self, address: str) -> bool:
        """Let a locked sender prove itself again; whether it was locked."""
        ...


class HistoryLog(Protocol):
    """The numbered lines typed at the prompt (``kshell.history.store``)."""

    def entries(self) -> list[Any]: ...

    def append(self, line: str) -> Any: ...


__all__ = ["HistoryLog", "MailService", "MailStack", "Service", "TotpAdded"]
