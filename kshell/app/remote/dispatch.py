"""Mails in hand, run side by side where that is safe: the service's one intake for
every source (Maildir, IMAP, the SMTP listener's store).

The journal sees every mail first, one at a time in arrival order (``submit`` awaits
it); the rest (trust, commands, reply, the move) runs in a task of its own. A mail waits
for every earlier mail in hand that it conflicts with: the same (claimed) sender, so one
sender's mails run in order, or a plug that one of them changes, so two orders to one
plug never run side by side nor out of order. A read (a watch) changes nothing and waits
for nobody's reads. Waiting only on earlier mails cannot deadlock; a slot
(``mail_concurrency``) is taken only once the mail may run, so a waiting mail holds none.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from email.utils import getaddresses

from kshell.app.remote.body import parse_orders
from kshell.app.remote.processor import Processor, Received, split_line
from kshell.app.remote.sources.base import Incoming
from kshell.core.invocation import Invocation, MailRules
from kshell.core.session import Session
from kshell.errors import KshellError
from kshell.lang.grammar import split_commands

EVERY_PLUG = "plug:*"  # a changing command whose plugs are not known before it runs
HAND_PER_SLOT = 2  # mails journaled and waiting, per slot, before the source is held back


@dataclass(eq=False)
class _InHand:
    where: str
    keys: frozenset[str]
    done: asyncio.Event = field(default_factory=asyncio.Event)


def conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two mails must not run side by side (one waits for the other)."""
    if a & b:
        return True
    return (EVERY_PLUG in a and any(k.startswith("plug:") for k in b)) or (
        EVERY_PLUG in b and any(k.startswith("plug:") for k in a)
    )


class Dispatcher:
    """What a source hands its mail to (``await dispatcher(incoming)``): see the module."""

    def __init__(self, processor: Processor, session: Session, concurrency: int) -> None:
        self.processor = processor
        self.session = session
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._hand: dict[asyncio.Task[None], _InHand] = {}  # in arrival order
        self._wheres: set[str] = set()
        self._changed = asyncio.Event()  # a mail finished: its move may be due, room made
        self.closing = False  # stop(finish=True): no new mail is taken

    # -- what a source calls ----------------------------------------------------------------

    async def __call__(self, incoming: Incoming) -> None:
        """Journal the mail now; run it in its own task. A mail offered while closing is
        left where it is (not journaled: the next start takes it)."""
        while len(self._hand) >= self.concurrency * HAND_PER_SLOT and not self.closing:
            await self.finished()
        if self.closing or incoming.where in self._wheres:
            return
        received = await self.processor.receive(incoming)
        if received is None:
            return  # not journaled: it stays, and is offered again
        keys = self._keys(received)
        earlier = [h.done for h in self._hand.values() if conflict(h.keys, keys)]
        entry = _InHand(incoming.where, keys)
        task = asyncio.create_task(self._complete(received, earlier, entry), name="kshell-mail")
        self._hand[task] = entry
        self._wheres.add(incoming.where)
        task.add_done_callback(self._forget)

    def in_hand(self, where: str) -> bool:
        """Whether this mail (``Incoming.where``) is being handled: not offered again."""
        return where in self._wheres

    @property
    def busy(self) -> bool:
        return bool(self._hand)

    async def finished(self) -> None:
        """Until the next mail in hand is finished (moved, or its move handed on)."""
        await self._changed.wait()

    # -- the mails ----------------------------------------------------------------------------

    async def _complete(
        self, received: Received, earlier: list[asyncio.Event], entry: _InHand
    ) -> None:
        try:
            for done in earlier:
                await done.wait()
            async with self._slots:
                await self.processor.complete(received)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001, S110 - the move failed: complete said so; found again
            pass
        finally:
            entry.done.set()

    def _forget(self, task: asyncio.Task[None]) -> None:
        entry = self._hand.pop(task, None)
        if entry is not None:
            self._wheres.discard(entry.where)
            entry.done.set()  # a cancelled task: whoever waited on it goes on (or is cancelled)
        self._announce()

    def _announce(self) -> None:
        """Wake whoever waits in ``finished`` (once: the next wait waits again)."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _keys(self, received: Received) -> frozenset[str]:
        """The sender the mail claims and each plug its commands change, as keys."""
        mail = received.mail
        if mail is None:
            return frozenset()  # only a move to do: it waits for nobody
        keys: set[str] = set()
        for _, address in getaddresses(mail.msg.get_all("From", [])):
            keys.add("sender:" + address.strip().lower())
        orders = parse_orders(mail.body, self.processor.settings.marker)
        view = self.session.for_invocation(Invocation.for_mail("read", MailRules()))
        for line in orders.commands:
            for text in split_line(line):
                keys |= _changed_plugs(view, text)
        return frozenset(keys)

    # -- stopping -----------------------------------------------------------------------------

    async def drain(self, timeout: float) -> None:
        """Take no new mail and let the mails in hand finish (``timeout`` at most; then
        they are cancelled, as ``cancel`` does)."""
        self.closing = True
        self._announce()  # a source held back by a full hand goes on (and takes nothing)
        tasks = set(self._hand)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        await self.cancel()

    async def cancel(self) -> None:
        """Cancel every mail in hand and wait until each has ended (none is left behind)."""
        self.closing = True
        tasks = set(self._hand)
        for task in tasks:
            task.cancel()
        while tasks:
            done, tasks = await asyncio.wait(tasks, timeout=1)
            for task in tasks:
                task.cancel()  # a library's wait_for (Python 3.11) can swallow one cancel
            for task in done:
                with contextlib.suppress(asyncio.CancelledError, Exception):  # reported
                    task.result()


def _changed_plugs(view: Session, text: str) -> set[str]:
    """The plugs one command line changes ("plug:HOST:PORT"), read before it runs: its
    command's declaration says whether it changes plugs; its words that name plugs say
    which (none named: it may change any, the conservative answer)."""
    from kshell.core.targets import resolve

    try:
        [line] = split_commands(text)
        cmd, rest = view.registry.lookup(line.words)
    except (KshellError, ValueError):
        return set()  # it will not run: the transcript shows its error
    if not cmd.changes:
        return set()
    plugs: set[str] = set()
    for word in rest:
        if word.startswith("-"):
            continue
        with contextlib.suppress(KshellError):
            plugs |= {f"plug:{t.host}:{t.port}" for t in resolve(view, word)}
    return plugs or {EVERY_PLUG}
