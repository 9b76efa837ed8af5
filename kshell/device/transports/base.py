"""The contract every transport keeps, whatever it speaks on the wire."""

from __future__ import annotations

import abc
from collections.abc import Callable


class Credentials:
    """The owner's cloud account, which KLAP and AES plugs check. Never printed: the
    password is left out of ``repr`` so a traceback or a log line cannot show it. (A plain
    class: a dataclass costs a one-shot command's start-up more to define.)"""

    __slots__ = ("password", "username")
    username: str
    password: str

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return (self.username, self.password) == (other.username, other.password)

    def __hash__(self) -> int:
        return hash((self.username, self.password))

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<hidden>)"

    @property
    def blank(self) -> bool:
        return not self.username and not self.password


class Transport(abc.ABC):
    """One plug's link: at most one request in flight, one total deadline per request.

    ``send`` takes the plaintext request (JSON bytes, as the protocol built it) and returns
    the plaintext answer (JSON bytes, not yet parsed: the protocol checks its shape). A
    session (a KLAP or AES handshake) is made on first use, kept, and renewed when it expires
    or the plug refuses it. A state-changing request (``idempotent=False``) is sent a second
    time only when the plug provably did not take the first (a refused session, a stale kept
    connection found closed before anything was sent); it is never retried after a timeout.
    Errors are ``kshell.errors`` types (TransportError, DeviceTimeout, ProtocolError,
    AuthenticationError) naming the plug, one line each.
    """

    host: str
    port: int

    @property
    def label(self) -> str:
        return self.host if self.port == self.default_port else f"{self.host}:{self.port}"

    @property
    @abc.abstractmethod
    def default_port(self) -> int:
        """The port this transport's plugs listen on unless told otherwise."""

    @abc.abstractmethod
    async def send(self, request: bytes, *, idempotent: bool) -> bytes:
        """One request, one answer, within the transport's timeout."""

    async def repeat(self, request: bytes, on_answer: Callable[[bytes], bool]) -> bool:
        """Send a read again each time ``on_answer`` (given each plaintext answer in the
        event loop's callback, so it must not wait) says so, each within the timeout.
        False: nothing was sent (this transport cannot, or has no kept link): use ``send``."""
        return False

    @abc.abstractmethod
    def close(self) -> None:
        """Drop the connection and any session; the next ``send`` starts afresh."""
