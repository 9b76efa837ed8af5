"""The journal: every mail handled, so that each one runs at most once, even across a crash.

A sqlite file in the state folder, keyed by Message-ID together with the claimed sender
and a hash of the body (or by From, Date, Subject and body when there is no Message-ID)
and, for IMAP, also by UIDVALIDITY+UID. A message goes
``received -> running -> done``; each step is committed (fsync) before the next action, so
a message found ``running`` after a crash is reported as interrupted, never run again.
Other end states: ``rejected`` (not trusted), ``refused`` (trusted, not run: too old,
too many commands, over the rate), ``unreadable`` (could not be parsed: never parsed
again), ``duplicate`` is never stored (the first one is).

Beside the messages: TOTP codes used (never accepted twice), wrong codes and the senders
whose TOTP they locked, and what the DKIM signatures that ran signed (one signed order runs once).

One listener per journal: an exclusive lock on a file beside it.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

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
CREATE TABLE IF NOT EXISTS code_notices (sender TEXT PRIMARY KEY, at REAL NOT NULL);
"""

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


class JournalLocked(KshellError):
    kind = "refused"


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_file = _take_lock(path.with_name(path.name + ".lock"))
        try:
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            make_private(path)  # before WAL mode: its -wal and -shm files take this mode
            self.db.execute("PRAGMA journal_mode=WAL")
            # Only "running" must reach the disk before the next step (a lost "received" or
            # "done" is harmless: see set_state), so the rest is not synced one by one.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=5000")  # `remote unlock` from another shell
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            self._lock_file.close()
            raise KshellError(f"journal {path}: {exc}") from None

    def close(self) -> None:
        try:
            self.db.close()
        finally:
            self._lock_file.close()  # releases the lock

    # -- messages -------------------------------------------------------------------------

    def find(self, key: str, mailbox_key: str | None = None) -> Entry | None:
        row = self.db.execute(
            "SELECT key, mailbox_key, sender, subject, state, note, replied FROM messages "
            "WHERE key = ? OR (? IS NOT NULL AND mailbox_key = ?)",
            (key, mailbox_key, mailbox_key),
        ).fetchone()
        return _entry(row) if row else None

    def receive(self, key: str, mailbox_key: str | None, sender: str | None, subject: str) -> None:
        now = time.time()
        self.db.execute(
            "INSERT INTO messages (key, mailbox_key, sender, subject, state, received, updated) "
            "VALUES (?, ?, ?, ?, 'received', ?, ?)",
            (key, mailbox_key, sender, subject[:200], now, now),
        )

    def set_state(
        self, key: str, state: str, note: str | None = None, *, sender: str | None = None
    ) -> None:
        """Move a message to ``state``. ``running`` is synced to disk before this returns
        (with it, everything written before: the WAL is one sequential file), so a crash
        after it can never lead to a second run; other states may be lost to a power cut,
        which at worst handles a message again that ran nothing."""
        durable = state == "running"
        if durable:
            self.db.execute("PRAGMA synchronous=FULL")
        try:
            self.db.execute(
                "UPDATE messages SET state = ?, note = COALESCE(?, note), "
                "sender = COALESCE(?, sender), updated = ? WHERE key = ?",
                (state, note, sender, time.time(), key),
            )
        finally:
            if durable:
                self.db.execute("PRAGMA synchronous=NORMAL")

    def mark_replied(self, key: str) -> None:
        self.db.execute("UPDATE messages SET replied = 1 WHERE key = ?", (key,))

    def interrupted(self) -> list[Entry]:
        """Messages a crash left ``running``: now ``interrupted`` (reported, never re-run)."""
        rows = self.db.execute(
            "SELECT key, mailbox_key, sender, subject, state, note, replied FROM messages "
            "WHERE state IN ('received', 'running')"
        ).fetchall()
        for row in rows:
            was = row[4]
            self.set_state(
                row[0],
                "interrupted" if was == "running" else "failed",
                f"listener stopped while {was}",
            )
        return [_entry(row) for row in rows]

    def reopen(self, key: str, mailbox_key: str | None) -> None:
        """A message rejected before arrives again: judge it again (it ran nothing), and
        count it again in the unproven bucket."""
        self.db.execute(
            "UPDATE messages SET state = 'received', mailbox_key = COALESCE(?, mailbox_key), "
            "received = ?, updated = ? WHERE key = ? AND state = 'rejected'",
            (mailbox_key, time.time(), time.time(), key),
        )

    def ran_within(self, sender: str, seconds: float) -> int:
        """How many of this sender's trusted messages were run or refused lately."""
        since = time.time() - seconds
        marks = ", ".join("?" * len(COUNTED))
        return self._count(
            f"SELECT COUNT(*) FROM messages WHERE sender = ? AND received >= ? "
            f"AND state IN ({marks})",
            (sender, since, *COUNTED),
        )

    def unproven_within(self, seconds: float) -> int:
        """How many messages lately proved no sender: their own bucket, apart from the
        trusted senders' (a flood of them never eats a trusted sender's rate)."""
        since = time.time() - seconds
        return self._count(
            "SELECT COUNT(*) FROM messages WHERE received >= ? AND state IN "
            "('rejected', 'unreadable')",
            (since,),
        )

    def _count(self, sql: str, params: tuple[object, ...]) -> int:
        return int(self.db.execute(sql, params).fetchone()[0])

    def rate_notice_sent(self, sender: str, seconds: float) -> bool:
        """Whether this sender was already told "over the rate" lately (one reply says so)."""
        since = time.time() - seconds
        return bool(
            self.db.execute(
                "SELECT 1 FROM messages WHERE sender = ? AND received >= ? AND state = 'refused' "
                "AND note LIKE 'rate%' AND replied = 1 LIMIT 1",
                (sender, since),
            ).fetchone()
        )

    def counts(self) -> dict[str, int]:
        return dict(
            self.db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall()
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
        now = time.time()
        self.db.execute("DELETE FROM totp_failures WHERE at < ?", (now - 86400,))
        self.db.execute("INSERT INTO totp_failures (sender, at) VALUES (?, ?)", (sender, now))
        mine = self.db.execute(
            "SELECT COUNT(*) FROM totp_failures WHERE sender = ? AND at >= ?", (sender, now - HOUR)
        ).fetchone()[0]
        total = self.db.execute(
            "SELECT COUNT(*) FROM totp_failures WHERE at >= ?", (now - HOUR,)
        ).fetchone()[0]
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


def _entry(row: tuple[Any, ...]) -> Entry:
    key, mailbox_key, sender, subject, state, note, replied = row
    return Entry(key, mailbox_key, sender, subject, state, note, bool(replied))


def _take_lock(path: Path) -> TextIO:
    """An exclusive, non-blocking lock: a second listener on the same journal is refused."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    handle = open(fd, "a+")  # noqa: SIM115 - held open for the listener's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise JournalLocked(
            f"another listener (pid {holder}) already uses the journal {path.with_suffix('')}; "
            "two listeners never share one journal"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
