"""In a shared folder (an INBOX), which mail is kshell's to take: only orders.

An order here is a mail From: a configured sender (claimed: the proof comes later, and a
forged one is then rejected on record), not written by a machine, not one of our own
replies, with at least one command line. Everything else (personal mail, spam, our own
replies, bounces) is left where it is, unread state untouched: the sources read with
BODY.PEEK or from the file, and neither move nor rename it. What was left is remembered in
the journal by its mailbox key, so it is not read and parsed again every round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kshell.app.remote.body import Unreadable, parse_orders
from kshell.app.remote.mailparse import automated, parse_mail
from kshell.app.remote.sources.base import Incoming
from kshell.app.remote.trust import from_address

if TYPE_CHECKING:
    from kshell.app.remote.journal import Journal
    from kshell.app.remote.settings import RemoteSettings


class Screen:
    """Decides, once per mail, whether a shared folder's mail is left alone."""

    def __init__(self, settings: RemoteSettings, journal: Journal) -> None:
        self.settings = settings
        self.journal = journal
        self.left = 0  # mails left alone since start (for status)

    def known(self, mailbox_key: str) -> bool:
        """Whether this mail was left alone before (no need to read it again)."""
        return self.journal.was_left(mailbox_key)

    def leave(self, incoming: Incoming, mailbox_key: str) -> bool:
        """Whether to leave this mail where it is (it is no order); remembered if so."""
        if is_order(incoming, self.settings):
            return False
        self.journal.leave(mailbox_key)
        self.left += 1
        return True


def is_order(incoming: Incoming, settings: RemoteSettings) -> bool:
    """Whether the mail looks like an order: a configured sender's, by a person, not ours,
    with a command line. Only read here, never trusted: the processor proves it."""
    if not incoming.complete:
        return False  # too large to read whole: no command line can be seen
    try:
        mail = parse_mail(incoming)
        sender = from_address(mail.msg)
        if sender is None or sender not in settings.senders:
            return False
        if sender == settings.reply_from.lower() and mail.msg.get("Auto-Submitted"):
            return False  # our own reply, sent from the owner's own address
        if automated(mail.msg) is not None:
            return False  # a bounce, an auto-reply, a list: never an order
        orders = parse_orders(mail.body, settings.marker)
    except Unreadable:
        return False
    return bool(orders.commands or orders.auth_lines)
