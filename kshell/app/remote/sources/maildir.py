"""A Maildir folder as the source: the default, needs no server.

New mail is whatever sits in ``new/`` or ``cur/`` of the top folder; handled mail moves
into the Maildir++ subfolder ``.Executed`` (``processed_folder``) with the Seen flag.
The folder is scanned every ``POLL`` seconds, and at once when ``wake()`` is called (the
SMTP listener does after a delivery). In a shared folder (``screen`` set: the top folder of
a mailbox) only orders are handed on; any other file stays in ``new/`` or ``cur/`` under its
own name (flags and all), read once and then remembered.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from kshell.app.remote.settings import RemoteSettings
from kshell.app.remote.sources.base import Handler, Incoming, Reporter, Screener, Step

POLL = 0.2  # seconds between scans; a scan is one listdir per folder


def ensure_maildir(path: Path) -> None:
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)


class MaildirSource:
    trust_authres = True  # a mail server of the operator delivered it
    screen: Screener | None = None

    def __init__(
        self, root: Path, settings: RemoteSettings, report: Reporter, *, keep_rejected: bool = True
    ) -> None:
        self.root = root
        self.keep_rejected = keep_rejected  # False: mail that proves no sender is deleted
        self.settings = settings
        self.report = report
        self.processed = root / f".{settings.processed_folder}"
        self._wake = asyncio.Event()
        self._stuck: set[str] = set()  # files that could not be moved: not handled again and again
        self._left: set[str] = set()  # mailbox keys of a shared folder's mail that is no order

    def describe(self) -> str:
        return f"maildir {self.root}"

    def wake(self) -> None:
        self._wake.set()

    def prepare(self) -> None:
        ensure_maildir(self.root)
        ensure_maildir(self.processed)
        (self.processed / "maildirfolder").touch()

    async def run(self, handle: Handler) -> None:
        self.prepare()
        while not handle.closing:
            for path in self.pending():
                if handle.closing:
                    break
                if not handle.in_hand(path.name):  # being handled: moved when it is done
                    await handle(self._incoming(path))
            # asyncio.wait, not wait_for: 3.11's wait_for can swallow a cancel that lands
            # as its timeout fires, and then the listener would not stop
            waiter = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=POLL)
            finally:
                waiter.cancel()
            self._wake.clear()

    def pending(self) -> list[Path]:
        found = []
        for sub in ("new", "cur"):
            try:
                with os.scandir(self.root / sub) as entries:
                    found += [
                        Path(e.path)
                        for e in entries
                        if e.is_file() and not e.name.startswith(".") and e.path not in self._stuck
                    ]
            except FileNotFoundError:
                ensure_maildir(self.root)
        if self.screen is not None:
            found = [path for path in found if not self._left_alone(path, self.screen)]
        # Maildir names begin with the delivery time: oldest first
        return sorted(found, key=lambda p: p.name)

    def _left_alone(self, path: Path, screen: Screener) -> bool:
        """Whether this file of a shared folder is no order (and so is never touched)."""
        key = f"maildir:{self.root}:{path.name.split(':', 1)[0]}"  # a flag change keeps it
        if key in self._left:
            return True
        if screen.known(key) or screen.leave(self._incoming(path), key):
            self._left.add(key)
            return True
        return False

    def _incoming(self, path: Path) -> Incoming:
        limit = self.settings.max_message_bytes
        try:
            size = path.stat().st_size
            with path.open("rb") as handle:
                raw = handle.read(limit + 1)
        except OSError:
            size, raw = 0, b""

        async def finish() -> None:
            self._move(path)

        async def discard() -> None:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                self._move(path)  # cannot delete it: at least never handle it again

        return Incoming(
            raw,
            size,
            size <= limit,
            None,
            path.name,
            finish,
            None if self.keep_rejected else discard,
        )

    def _move(self, path: Path) -> None:
        base = path.name.split(":", 1)[0]
        try:
            os.replace(path, self.processed / "cur" / f"{base}:2,S")
        except FileNotFoundError:
            pass  # already gone (moved by hand, or a second delivery of the same file)
        except OSError as exc:
            self._stuck.add(str(path))
            self.report(f"remote: cannot move {path.name} to {self.processed.name}: {exc}")

    async def check(self) -> list[Step]:
        try:
            self.prepare()
            probe = self.root / "tmp" / f".kshell-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            return [("source: maildir", False, f"{self.root}: {exc}")]
        waiting = len(self.pending())
        return [
            ("source: maildir", True, f"{self.root} is writable; {waiting} message(s) waiting"),
            ("source: processed folder", True, str(self.processed)),
        ]
