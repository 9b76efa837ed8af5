"""The journal: every mail handled, so that each one runs at most once, even across a crash.

A sqlite file in the state folder, keyed by Message-ID together with the claimed sender
and a hash of the body (or by From, Date, Subject and body when there is no Message-ID)
and, for IMAP, also by UIDVALIDITY+UID. A message goes
``received -> running -> done``; each step is committed (fsync) before the next action, so
a message found ``running`` after a crash is reported as interrupted, never run again
(its sender is told what finished: each finished command is journaled), unless every
command it planned had finished (then it is ``done``); one found ``received`` ran nothing
and is forgotten, so the source hands it on again and it runs.
Other end states: ``rejected`` (not trusted), ``refused`` (trusted, not run: too old,
too many commands, over the rate), ``unreadable`` (could not be parsed: never parsed
again), ``duplicate`` is never stored (the first one is).

Beside the messages: TOTP codes used (never accepted twice), wrong codes and the senders
whose TOTP they locked, and what the DKIM signatures that ran signed (one signed order runs once).

Rates and lock-outs count by when kshell received a mail on a clock that does not jump:
each message keeps the boot it arrived in (``/proc/sys/kernel/random/boot_id``) and the
time since that boot (CLOCK_BOOTTIME: it counts a suspend too). Within one boot "the last
hour" is measured on that clock alone, so moving the wall clock a day ahead and back
neither locks the owner out nor, set back, lets a flood through. Messages from an earlier
boot (or where no boot id can be read) fall back to the wall clock, and one dated in the
future by it (a clock that was ahead then) counts as nothing rather than for a day.

One listener per journal: an exclusive lock on a file beside it.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from kshell.app.remote.locks import take_lock
from kshell.errors import KshellError
from kshell.home import make_private

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    key TEXT PRIMARY KEY,
    mailbox_key TEXT UNIQUE,
    sender TEXT,
    subject TEXT,
    state TEXT NOT NULL,
    note TEXT,
    received REAL NOT NULL,
    updated REAL NOT NULL,
    replied INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS by_sender ON messages (sender, received);
CREATE TABLE IF NOT EXISTS used_codes (code TEXT PRIMARY KEY, used REAL NOT NULL);
CREATE TABLE IF NOT EXISTS totp_failures (sender TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS totp_locks (sender TEXT PRIMARY KEY, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS signatures (b TEXT PRIMARY KEY, key TEXT NOT NULL, used REAL NOT NULL);
CREATE TABLE IF NOT EXISTS left_alone (mailbox_key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS code_notices (sender TEXT PRIMARY KEY, at REAL NOT NULL);
"""
LEFT_KEPT = 90 * 86400.0  # a mail left alone is remembered this long (then read once more)
# added later: a journal written by an older kshell gets them on open (NULL: an earlier boot)
ADDED_COLUMNS = (
    ("messages", "boot", "TEXT"),
    ("messages", "since_boot", "REAL"),
    ("messages", "message_id", "TEXT"),
    ("messages", "planned", "TEXT"),  # JSON: the commands a trusted mail was about to run
    ("messages", "finished", "TEXT"),  # JSON: those that finished
    ("messages", "stops", "INTEGER"),  # how often a stop caught it being checked
    ("totp_failures", "boot", "TEXT"),
    ("totp_failures", "since_boot", "REAL"),
)
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")

# what counts against a trusted sender's rate: what ran, and what was refused (each refusal
# may have cost a reply)
COUNTED = ("running", "done", "interrupted", "refused")
HOUR = 3600.0


@dataclass
class Entry:
    key: str
    mailbox_key: str | None
    sender: str | None
    subject: str | None
    state: str
    note: str | None
    replied: bool


@dataclass
class Stopped:
    """A message the last listener left unfinished, and what becomes of it now."""

    entry: Entry
    # "rerun" (nothing ran) | "given up" (nothing ran, stopped too often) | "done" (all ran)
    # | "interrupted" (some may have)
    outcome: str
    message_id: str
    planned: list[str]
    finished: list[str]


RERUNS = 2  # a mail that a stop caught being checked is tried again this often, no more
# (the mail itself may be what stops the listener: no endless crash loop on one mail)


class JournalLocked(KshellError):
    kind = "refused"


def boot_id() -> str:
    """This boot's id, or one of this process's own where the kernel tells none (then every
    earlier message is judged by the wall clock: sane, if not jump-proof)."""
    try:
        text = BOOT_ID.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return text[:64] or f"process-{uuid.uuid4()}"


def since_boot() -> float:
    """Seconds since boot, suspend included, never set back (monotonic where unavailable)."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):
        return time.monotonic()


@dataclass(frozen=True)
class Clocks:
    """The clocks the journal reads (a test injects its own; none is ever set)."""

    wall: Callable[[], float] = time.time
    steady: Callable[[], float] = since_boot
    boot: Callable[[], str] = boot_id


class Journal:
    def __init__(self, path: Path, clocks: Clocks | None = None) -> None:
        self.path = path
        self.clocks = clocks or Clocks()
        self.boot = self.clocks.boot()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_file = _take_lock(path.with_name(path.name + ".lock"))
        self._held: list[TextIO] = []
        self._finished: dict[str, list[str]] = {}  # the running mails' finished commands
        self._unsaved: dict[str, tuple[str, str | None]] = {}  # states a failed write left
        try:
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            make_private(path)  # before WAL mode: its -wal and -shm files take this mode
            self.db.execute("PRAGMA journal_mode=WAL")
            # Only "running" must reach the disk before the next step (a lost "received" or
            # "done" is harmless: see set_state), so the rest is not synced one by one.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=5000")  # `remote unlock` from another shell
            self.db.executescript(SCHEMA)
            self._add_columns()
        except sqlite3.Error as exc:
            self._lock_file.close()
            raise KshellError(f"journal {path}: {exc}") from None

    def _add_columns(self) -> None:
        for table, column, kind in ADDED_COLUMNS:
            have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def hold(self, lock: TextIO | None) -> None:
        """Keep another lock (the source's) for as long as the journal is open."""
        if lock is not None:
            self._held.append(lock)

    def close(self) -> None:
        self._write_unsaved()  # a "done" a full disk refused, if it can be written now
        try:
            self.db.close()
        finally:
            for lock in [*self._held, self._lock_file]:
                lock.close()  # releases the locks
            self._held.clear()

    def _recent(
        self, seconds: float, wall_column: str = "received"
    ) -> tuple[str, tuple[object, ...]]:
        """An SQL condition (and its parameters) for "received in the last ``seconds``"."""
        wall = self.clocks.wall()
        steady = self.clocks.steady()
        condition = (
            "((boot = ? AND since_boot >= ?) OR "
            f"(boot IS NOT ? AND {wall_column} >= ? AND {wall_column} <= ?))"
        )
        return (
            condition,
            (self.boot, steady - seconds, self.boot, wall - seconds, wall),
        )

    # -- messages -------------------------------------------------------------------------

    def find(self, key: str, mailbox_key: str | None = None) -> Entry | None:
        row = self.db.execute(
            "SELECT key, mailbox_key, sender, subject, state, note, replied FROM messages "
            "WHERE key = ? OR (? IS NOT NULL AND mailbox_key = ?)",
            (key, mailbox_key, mailbox_key),
        ).fetchone()
        return _entry(row) if row else None

    def receive(self, key: str, mailbox_key: str | None, sender: str | None, subject: str) -> None:
        self._write_unsaved()
        now = self.clocks.wall()
        self.db.execute(
            "INSERT INTO messages (key, mailbox_key, sender, subject, state, received, updated, "
            "boot, since_boot) VALUES (?, ?, ?, ?, 'received', ?, ?, ?, ?)",
            (key, mailbox_key, sender, subject[:200], now, now, self.boot, self.clocks.steady()),
        )

    def set_state(
        self, key: str, state: str, note: str | None = None, *, sender: str | None = None
    ) -> None:
        """Move a message to ``state``. ``running`` is synced to disk before this returns
        (with it, everything written before: the WAL is one sequential file), so a crash
        after it can never lead to a second run; other states may be lost to a power cut,
        which at worst handles a message again that ran nothing.

        A mail that ran is ``done`` whatever follows: when that write fails (a full disk)
        it is kept here and written with the next write that works, and no later
        ``failed`` replaces it."""
        self._write_unsaved()
        if state == "failed" and self._is_done(key):
            return
        durable = state == "running"
        if durable:
            self.db.execute("PRAGMA synchronous=FULL")
        try:
            self._update_state(key, state, note, sender)
        except sqlite3.Error:
            if state != "done":
                raise
            self._unsaved[key] = (state, note)  # the mail ran: never "interrupted" for this
        finally:
            if durable:
                self.db.execute("PRAGMA synchronous=NORMAL")
        if state == "done":
            self._finished.pop(key, None)

    def _update_state(self, key: str, state: str, note: str | None, sender: str | None) -> None:
        self.db.execute(
            "UPDATE messages SET state = ?, note = COALESCE(?, note), "
            "sender = COALESCE(?, sender), updated = ? WHERE key = ?",
            (state, note, sender, self.clocks.wall(), key),
        )

    def _is_done(self, key: str) -> bool:
        if self._unsaved.get(key, ("", None))[0] == "done":
            return True
        row = self.db.execute("SELECT state FROM messages WHERE key = ?", (key,)).fetchone()
        return bool(row) and row[0] == "done"

    def _write_unsaved(self) -> None:
        """What a failed write left in memory (what finished, ``done``), written now if the
        journal can be written again; kept for the next try if not."""
        try:
            for key, finished in list(self._finished.items()):
                if key in self._unsaved:
                    self._write_finished(key, finished)
            for key, (state, note) in list(self._unsaved.items()):
                self._update_state(key, state, note, None)
                del self._unsaved[key]
                self._finished.pop(key, None)
        except sqlite3.Error:
            pass  # still failing: the caller's own write will say so

    def mark_replied(self, key: str) -> None:
        self.db.execute("UPDATE messages SET replied = 1 WHERE key = ?", (key,))

    def plan(self, key: str, message_id: str, commands: list[str]) -> None:
        """What a trusted mail is about to run (written before ``running``, synced with it)."""
        self.db.execute(
            "UPDATE messages SET message_id = ?, planned = ?, finished = '[]' WHERE key = ?",
            (message_id[:300], json.dumps(commands), key),
        )

    def finished_command(self, key: str, command: str) -> None:
        """A command of this mail finished. Kept in memory too: when the write fails (a full
        disk) the mail goes on, and the list is written whole by the next write that works."""
        finished = self._finished.setdefault(key, [])
        finished.append(command)
        try:
            self._write_finished(key, finished)
        except sqlite3.Error:
            self._unsaved.setdefault(key, ("running", None))  # written with what finished

    def _write_finished(self, key: str, finished: list[str]) -> None:
        self.db.execute(
            "UPDATE messages SET finished = ? WHERE key = ?", (json.dumps(finished), key)
        )

    def interrupted(self) -> list[Stopped]:
        """What the last listener left unfinished, settled now: a message still
        ``received`` ran nothing (``retry``: it is handled again, up to ``RERUNS`` times;
        then it is ``failed``), one whose commands all
        finished is ``done`` (its last write was lost), any other is ``interrupted``
        (reported, never re-run)."""
        rows = self.db.execute(
            "SELECT key, mailbox_key, sender, subject, state, note, replied, message_id, "
            "planned, finished, stops FROM messages WHERE state IN ('received', 'running') "
            "OR (state = 'failed' AND planned IS NOT NULL)"
        ).fetchall()
        stopped = []
        for row in rows:
            entry = _entry(row[:7])
            planned, finished = _strings(row[8]), _strings(row[9])
            stops = int(row[10] or 0) + 1
            if entry.state == "received" and stops > RERUNS:
                outcome = "given up"
                self.set_state(entry.key, "failed", f"the listener stopped {stops} times on it")
            elif entry.state == "received":
                outcome = "rerun"  # judged afresh when the source hands it on again
                self.db.execute(
                    "UPDATE messages SET state = 'retry', stops = ? WHERE key = ?",
                    (stops, entry.key),
                )
            elif planned and finished[: len(planned)] == planned:
                outcome = "done"
                self.set_state(entry.key, "done", f"{len(planned)} run (recorded after a stop)")
            elif entry.state == "failed":
                continue  # it failed on its own, and said so then
            else:
                outcome = "interrupted"
                self.set_state(entry.key, "interrupted", "listener stopped while running")
            stopped.append(Stopped(entry, outcome, row[7] or entry.key, planned, finished))
        return stopped

    def reopen(self, key: str, mailbox_key: str | None) -> None:
        """A message rejected before (or caught by a stop while checked) arrives again:
        judge it again (it ran nothing), and count it again in the unproven bucket."""
        now = self.clocks.wall()
        self.db.execute(
            "UPDATE messages SET state = 'received', mailbox_key = COALESCE(?, mailbox_key), "
            "received = ?, updated = ?, boot = ?, since_boot = ? "
            "WHERE key = ? AND state IN ('rejected', 'retry')",
            (mailbox_key, now, now, self.boot, self.clocks.steady(), key),
        )

    def ran_within(self, sender: str, seconds: float) -> int:
        """How many of this sender's trusted messages were run or refused lately."""
        recent, params = self._recent(seconds)
        marks = ", ".join("?" * len(COUNTED))
        return self._count(
            f"SELECT COUNT(*) FROM messages WHERE sender = ? AND {recent} AND state IN ({marks})",
            (sender, *params, *COUNTED),
        )

    def unproven_within(self, seconds: float) -> int:
        """How many messages lately proved no sender: their own bucket, apart from the
        trusted senders' (a flood of them never eats a trusted sender's rate)."""
        recent, params = self._recent(seconds)
        return self._count(
            f"SELECT COUNT(*) FROM messages WHERE {recent} AND state IN ('rejected', 'unreadable')",
            params,
        )

    def _count(self, sql: str, params: tuple[object, ...]) -> int:
        return int(self.db.execute(sql, params).fetchone()[0])

    def rate_notice_sent(self, sender: str, seconds: float) -> bool:
        """Whether this sender was already told "over the rate" lately (one reply says so)."""
        recent, params = self._recent(seconds)
        return bool(
            self.db.execute(
                f"SELECT 1 FROM messages WHERE sender = ? AND {recent} AND state = 'refused' "
                "AND note LIKE 'rate%' AND replied = 1 LIMIT 1",
                (sender, *params),
            ).fetchone()
        )

    def counts(self) -> dict[str, int]:
        return dict(
            self.db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall()
        )

    # -- mail left alone in a shared folder ------------------------------------------------

    def leave(self, mailbox_key: str) -> None:
        now = self.clocks.wall()
        self.db.execute("DELETE FROM left_alone WHERE at < ?", (now - LEFT_KEPT,))
        self.db.execute(
            "INSERT OR REPLACE INTO left_alone (mailbox_key, at) VALUES (?, ?)", (mailbox_key, now)
        )

    def was_left(self, mailbox_key: str) -> bool:
        return bool(
            self.db.execute(
                "SELECT 1 FROM left_alone WHERE mailbox_key = ?", (mailbox_key,)
            ).fetchone()
        )

    # -- TOTP codes -----------------------------------------------------------------------

    def use_code(self, code: str) -> bool:
        """Record a TOTP code as used; False if it was used before."""
        self.db.execute("DELETE FROM used_codes WHERE used < ?", (time.time() - 86400,))
        try:
            self.db.execute(
                "INSERT INTO used_codes (code, used) VALUES (?, ?)", (code, time.time())
            )
        except sqlite3.IntegrityError:
            return False
        return True

    # -- wrong codes and locks ------------------------------------------------------------

    def totp_failure(self, sender: str) -> tuple[int, int]:
        """Count a wrong code: (this sender's, everyone's) in the last hour."""
        now = self.clocks.wall()
        self.db.execute("DELETE FROM totp_failures WHERE at < ?", (now - 86400,))
        self.db.execute(
            "INSERT INTO totp_failures (sender, at, boot, since_boot) VALUES (?, ?, ?, ?)",
            (sender, now, self.boot, self.clocks.steady()),
        )
        recent, params = self._recent(HOUR, "at")
        mine = self._count(
            f"SELECT COUNT(*) FROM totp_failures WHERE sender = ? AND {recent}", (sender, *params)
        )
        total = self._count(f"SELECT COUNT(*) FROM totp_failures WHERE {recent}", params)
        return mine, total

    def lock_totp(self, sender: str, failures: int) -> bool:
        """Lock TOTP for one sender; True if it was not locked yet."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO totp_locks (sender, since) VALUES (?, ?)", (sender, time.time())
        )
        return cursor.rowcount == 1

    def totp_locked(self, sender: str) -> bool:
        return bool(
            self.db.execute("SELECT 1 FROM totp_locks WHERE sender = ?", (sender,)).fetchone()
        )

    def totp_locks(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT sender FROM totp_locks ORDER BY sender")]

    def code_notice_due(self, sender: str, seconds: float) -> bool:
        """Whether ``sender`` may be told now why a code was refused (none in the last
        ``seconds``); True records it as told. A notice dated ahead of the clock (the clock
        went back) no longer counts: at worst one notice more, never a sender left unheard."""
        now = time.time()
        cursor = self.db.execute(
            "INSERT INTO code_notices (sender, at) VALUES (?, ?) ON CONFLICT (sender) "
            "DO UPDATE SET at = excluded.at WHERE code_notices.at < ? OR code_notices.at > ?",
            (sender, now, now - seconds, now),
        )
        return cursor.rowcount == 1

    # -- signatures -----------------------------------------------------------------------

    def use_signature(self, b: str, key: str) -> str | None:
        """Record a DKIM signature as run for ``key``; the key it ran for before, if any."""
        row = self.db.execute("SELECT key FROM signatures WHERE b = ?", (b,)).fetchone()
        if row is not None:
            return str(row[0])
        self.db.execute(
            "INSERT INTO signatures (b, key, used) VALUES (?, ?, ?)", (b, key, time.time())
        )
        return None


def unlock_totp(path: Path, sender: str) -> bool:
    """Lift a TOTP lock (and forget the sender's wrong codes); True if it was locked.

    Works beside a running listener: SQLite's own locking, not the listener's lock file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(str(path), isolation_level=None, timeout=5)
        make_private(path)
    except sqlite3.Error as exc:
        raise KshellError(f"journal {path}: {exc}") from None
    try:
        db.executescript(SCHEMA)
        locked = db.execute("DELETE FROM totp_locks WHERE sender = ?", (sender,)).rowcount
        db.execute("DELETE FROM totp_failures WHERE sender = ?", (sender,))
        return locked > 0
    except sqlite3.Error as exc:
        raise KshellError(f"journal {path}: {exc}") from None
    finally:
        db.close()


def _strings(text: str | None) -> list[str]:
    """A JSON list of strings as the journal wrote it ([] for anything else)."""
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _entry(row: tuple[Any, ...]) -> Entry:
    key, mailbox_key, sender, subject, state, note, replied = row
    return Entry(key, mailbox_key, sender, subject, state, note, bool(replied))


def _take_lock(path: Path) -> TextIO:
    """An exclusive, non-blocking lock: a second listener on the same journal is refused."""

    def refused(holder: str) -> KshellError:
        return JournalLocked(
            f"another listener (pid {holder}) already uses the journal {path.with_suffix('')}; "
            "two listeners never share one journal"
        )

    return take_lock(path, refused)
