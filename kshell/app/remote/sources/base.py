"""What every mail source shares: the message it hands on (``Incoming``), the callback
types and the ``Source`` protocol the service needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

Step = tuple[str, bool, str]  # (what was tried, whether it worked, detail) for `remote test`


@dataclass
class Incoming:
    raw: bytes  # the whole message, or only its beginning when it is too large
    size: int  # its size in bytes, as the mailbox reports it
    complete: bool  # False: ``raw`` is a truncated head (the message is over the limit)
    mailbox_key: str | None  # "imap:UIDVALIDITY:UID" where the mailbox has UIDs
    where: str  # for people: "INBOX uid 7", a file name
    finish: Callable[[], Awaitable[None]]  # move it to the processed folder
    # where set (our own SMTP listener's store), called instead of ``finish`` for mail that
    # proves no sender or cannot be read: a stranger's mail is on record (journal, audit
    # log) but not kept, so writing the owner's address in From: cannot fill the disk
    discard: Callable[[], Awaitable[None]] | None = None


class Handler(Protocol):
    """Where a source hands its mail (the service's ``Dispatcher``): the call returns once
    the journal has the mail; the mail is finished (``Incoming.finish``) later."""

    closing: bool  # take no new mail: the service is stopping once the mails in hand end

    async def __call__(self, incoming: Incoming) -> None: ...
    def in_hand(self, where: str) -> bool: ...  # by ``Incoming.where``: not offered again
    async def finished(self) -> None: ...  # until the next mail in hand is finished

    @property
    def busy(self) -> bool: ...  # mails in hand


Reporter = Callable[[str], None]


class Screener(Protocol):
    """In a shared folder: which mail is left where it is (``kshell.app.remote.screen``)."""

    def known(self, mailbox_key: str) -> bool: ...
    def leave(self, incoming: Incoming, mailbox_key: str) -> bool: ...


class Source(Protocol):
    """What the service needs of every source (an SMTP listener also binds first)."""

    trust_authres: bool  # whether an Authentication-Results header here is the operator's
    screen: Screener | None  # set for a shared folder: only orders are handed on

    def describe(self) -> str: ...
    def prepare(self) -> None: ...
    async def run(self, handle: Handler) -> None: ...
    async def check(self) -> list[Step]: ...
