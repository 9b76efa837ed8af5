"""The device store: every plug ever seen, kept in SQLite (WAL) in the state folder.

Several kshell processes share one state folder (an open shell, one-shot commands, a
listener), so every write is one small transaction on the rows it concerns: an answer updates
what the plug said, a failure flips one flag, ``forget`` deletes one row. Nothing is ever
written back from a copy read earlier, so no process can undo another's edit. Reads come from
an in-memory snapshot that is reloaded when any process has changed the database (SQLite's
``data_version``), which keeps completion and the toolbar free of I/O on each keystroke.

A plug is offline only after a request made to it failed; silence on a broadcast only ages
its ``last_heard``. Rows are keyed by address; a MAC belongs to at most one row, and moves to
a new address only when the caller says the old one no longer answers with it
(``observe(..., move=True)``; kshell.core.targets decides that on the network).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kshell.home import make_private
from kshell.store import schema
from kshell.store.records import HOW, DeviceRecord, Observation, normalise_mac
from kshell.store.schema import COLUMNS, StoreError, decode, encode, upsert

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["HOW", "DeviceRecord", "DeviceStore", "Observation", "StoreError", "normalise_mac"]

PATIENCE_S = 1.0  # how long a write retries another process's lock before it gives up


class DeviceStore:
    """The device store (the name is kept from its JSON days: every caller knows it).

    ``path=None`` keeps the store in memory (tests, a throwaway session). The file is opened
    on first use (``help`` never opens it), for reading on one connection and for writing on
    another. Writes wait for another process's lock in short steps, up to PATIENCE_S, and
    never on the event loop's thread: there, status writes (``heard``, ``failed``) are queued
    to one writer thread, in order, and answers are stored through ``observe_async``. A write
    that fails raises StoreError with SQLite's own cause; a queued one is counted in
    ``unrecorded`` (told once, when the process ends).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one transaction at a time on the write connection
        self._pool: ThreadPoolExecutor | None = None  # the writer thread, once needed
        self._give_up_until = 0.0  # after a write gave up on a lock: the next try only once
        self._closing = False
        self.unrecorded: list[str] = []  # causes of queued writes that failed
        self._snapshot: dict[tuple[str, int], DeviceRecord] = {}
        self._sorted: list[DeviceRecord] = []
        self._seen_version: tuple[int, int] | None = None
        self._writes = 0  # our own commits: data_version counts only other connections'

    # --- opening ----------------------------------------------------------------------

    @property
    def _db(self) -> sqlite3.Connection:
        """The read connection, opened (and the store made or migrated) on first use."""
        if self._reader is None:
            self._reader = self._open()
        return self._reader

    def _open(self) -> sqlite3.Connection:
        from kshell.store import opening as cache_open

        if self.path is None:
            self._writer = cache_open.in_memory()
            return self._writer
        try:
            # before the reader: SQLite gives its -wal and -shm files the database's mode
            ends = ("", "-wal", "-shm")
            make_private(*(self.path.with_name(self.path.name + end) for end in ends))
            reader = cache_open.open_reader(self.path)
            if cache_open.needs_migration(reader):
                self._migrate(reader)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"device store {self.path}: {self._why(exc)}") from None
        return reader

    def _migrate(self, reader: sqlite3.Connection) -> None:
        from kshell.store import opening as cache_open

        assert self.path is not None
        version = reader.execute("PRAGMA user_version").fetchone()[0]
        deadline = time.monotonic() + (PATIENCE_S if version < schema.SCHEMA_VERSION else 0.0)
        while True:
            try:
                with self._lock:
                    cache_open.migrate(self._writable(), self.path)
                return
            except (sqlite3.Error, OSError) as exc:
                if isinstance(exc, sqlite3.Error) and _busy(exc) and time.monotonic() < deadline:
                    continue  # another process is writing (or migrating): its turn is short
                if version < schema.SCHEMA_VERSION:  # its rows lack columns this kshell reads
                    cause = self._why(exc)
                    raise StoreError(
                        f"device store {self.path}: cannot upgrade it: {cause}"
                    ) from None
                return  # a store of this schema only lacks its mark: marked another time

    def _why(self, exc: BaseException) -> str:
        """SQLite's cause, told as the disk being full where it is (SQLite reports a full
        disk met while making the WAL's shared memory as a plain I/O error)."""
        cause = _cause(exc)
        if self.path is not None and "I/O error" in cause:
            try:
                room = os.statvfs(self.path.parent)
            except OSError:
                return cause
            if room.f_bavail * room.f_frsize < 64 * 1024:
                return f"the disk is full ({cause})"
        return cause

    def _writable(self) -> sqlite3.Connection:
        if self._writer is None:
            from kshell.store import opening as cache_open

            assert self.path is not None
            self._writer = cache_open.open_writer(self.path)
        return self._writer

    # --- writing, off the event loop --------------------------------------------------

    @contextmanager
    def _write(self, patience: float = PATIENCE_S) -> Iterator[sqlite3.Connection]:
        """One short write transaction; BEGIN IMMEDIATE takes the lock before reading.

        Another process's lock is waited for in short steps (the busy timeout) up to
        PATIENCE_S; a failure is a StoreError naming SQLite's cause, never a failed ROLLBACK.
        """
        from kshell.store.opening import rollback

        self._db  # noqa: B018 - opened (made, migrated) before the first write
        with self._lock:
            db = self._begin(patience)
            try:
                yield db
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                rollback(db)
                raise StoreError(self._why(exc)) from None
            except BaseException:
                rollback(db)
                raise
            finally:
                self._writes += 1

    def _begin(self, patience: float) -> sqlite3.Connection:
        start = time.monotonic()
        once = self._closing or start < self._give_up_until  # the lock is held long: one try
        while True:
            try:
                db = self._writable()
                db.execute("BEGIN IMMEDIATE")  # waits up to the busy timeout itself
                return db
            except sqlite3.Error as exc:
                now = time.monotonic()
                if not _busy(exc):
                    raise StoreError(self._why(exc)) from None
                if once or now - start >= patience:
                    self._give_up_until = now + PATIENCE_S
                    raise StoreError(self._why(exc)) from None

    def _later(self, work: Callable[[], object]) -> None:
        """Run a write on the writer thread, after those queued before it."""

        def run() -> None:
            try:
                work()
            except StoreError as exc:
                self.unrecorded.append(exc.message)

        self._thread().submit(run)

    def _thread(self) -> ThreadPoolExecutor:
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="kshell-store")
        return self._pool

    async def observe_async(
        self, record: DeviceRecord, *, move: bool = False, asked: DeviceRecord | None = None
    ) -> Observation:
        """``observe`` on the writer thread, in order with the writes queued before it: the
        event loop goes on while another process holds the store. Its caller waits for it,
        so it waits for a lock once (the busy timeout: another kshell's writes are one row,
        short), not PATIENCE_S: a plug's answer is never held up by its record."""
        self._db  # noqa: B018 - opened here, so the loop's reads never race the opening
        if self.path is None:
            return self.observe(record, move=move, asked=asked)
        import asyncio

        future = self._thread().submit(lambda: self._observe(record, move, asked, 0.0))
        return await asyncio.wrap_future(future)

    def _status(self, host: str, port: int, **values: Any) -> None:
        """A plug's status (answered, or not): queued on the event loop's thread."""
        if self.path is not None and _on_event_loop():
            self._db  # noqa: B018 - opened on this thread, never racing the loop's reads
            self._later(lambda: self.update(host, port, **values))
        else:
            self.update(host, port, **values)

    def close(self) -> None:
        """Write what is queued (one try each: the process is leaving), then close."""
        self._closing = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for db in {id(c): c for c in (self._reader, self._writer) if c is not None}.values():
            db.close()
        self._reader = self._writer = None

    # --- reading ------------------------------------------------------------------------

    def _fresh(self) -> dict[tuple[str, int], DeviceRecord]:
        db = self._db
        try:
            version = (db.execute("PRAGMA data_version").fetchone()[0], self._writes)
            rows = (
                db.execute("SELECT * FROM devices").fetchall()
                if version != self._seen_version
                else None
            )
        except sqlite3.Error as exc:
            raise StoreError(f"device store: {self._why(exc)}") from None
        if rows is not None:
            self._snapshot = {(r["host"], r["port"]): decode(r) for r in rows}
            self._sorted = sorted(
                self._snapshot.values(), key=lambda r: (r.alias.lower(), r.host, r.port)
            )
            self._seen_version = version
        return self._snapshot

    @property
    def records(self) -> dict[tuple[str, int], DeviceRecord]:
        """The current snapshot (a new record object whenever the store changed)."""
        return self._fresh()

    def version(self) -> tuple[int, int] | None:
        """Changes whenever any process changed the store: a cheap fingerprint."""
        self._fresh()
        return self._seen_version

    def all(self) -> list[DeviceRecord]:
        """Every known plug, by name (sorted once per change: the toolbar asks per keystroke)."""
        self._fresh()
        return list(self._sorted)

    def by_address(self, host: str, port: int) -> DeviceRecord | None:
        return self._fresh().get((host, port))

    def by_mac(self, mac: str) -> DeviceRecord | None:
        """Asked once per plug while a discovery stores what it heard, between its writes:
        one indexed row, not the snapshot (reloaded after every write, that was quadratic)."""
        mac = normalise_mac(mac)
        return self._one("mac = ?", mac) if mac else None

    def _one(self, where: str, *params: Any) -> DeviceRecord | None:
        try:
            return _row(self._db, where, *params)
        except sqlite3.Error as exc:
            raise StoreError(f"device store: {exc}") from None

    # --- writing, record by record ------------------------------------------------------

    def observe(
        self,
        record: DeviceRecord,
        *,
        move: bool = False,
        asked: DeviceRecord | None = None,
    ) -> Observation:
        """Store what a plug just said about itself (it answered, so it is online).

        Only this plug's row is touched. When its MAC is known at another address, nothing is
        stored and the known plug comes back as ``conflict``, unless ``move`` says the old
        address no longer answers with that MAC (then the row moves here). ``asked``: the
        stored record when the plug was asked; a name (the plug's or an outlet's) another
        process changed since then stays, as the answer predates that rename.
        """
        return self._observe(record, move, asked, PATIENCE_S)

    def _observe(
        self, record: DeviceRecord, move: bool, asked: DeviceRecord | None, patience: float
    ) -> Observation:
        address = (record.host, record.port)
        with self._write(patience) as db:
            known = _row(db, "mac = ?", record.mac) if record.mac else None
            here = _row(db, "host = ? AND port = ?", *address)
            moved_from = ""
            if known is not None and (known.host, known.port) != address:
                if not move:
                    return Observation(known, conflict=known)
                if here is not None:  # whoever had the new address before has left it
                    db.execute("DELETE FROM devices WHERE host = ? AND port = ?", address)
                db.execute(  # the row moves, with whatever else it holds
                    "UPDATE devices SET host = ?, port = ? WHERE host = ? AND port = ?",
                    (*address, known.host, known.port),
                )
                moved_from = known.address
            elif here is not None and here.mac and record.mac and here.mac != record.mac:
                # another plug took this address (DHCP): the old plug's row goes
                db.execute("DELETE FROM devices WHERE host = ? AND port = ?", address)
            elif here is not None and asked is not None:
                if here.alias != asked.alias:
                    record.alias = here.alias
                keep_renamed_outlets(record.children, asked.children, here.children)
            upsert(db, record)
        return Observation(record, moved_from=moved_from)

    def update(self, host: str, port: int, **values: Any) -> bool:
        """Set some fields of one plug's row; False if the store does not know it (any more)."""
        unknown = set(values) - set(COLUMNS) - {"host", "port"}
        if unknown:
            raise ValueError(f"no such device field: {', '.join(sorted(unknown))}")
        if not values:
            return False
        with self._write() as db:
            cursor = db.execute(
                f"UPDATE devices SET {', '.join(f'{k} = ?' for k in values)} "
                "WHERE host = ? AND port = ?",
                [*(encode(k, v) for k, v in values.items()), host, port],
            )
        return cursor.rowcount > 0

    def heard(self, host: str, port: int, how: str = "direct") -> None:
        """The plug at this address answered (without telling us anything new)."""
        now = time.time()
        # its row as any process left it; one indexed row, not the snapshot, which every
        # write of this process makes stale (`info all` would reload the store per plug)
        known = self._one("host = ? AND port = ?", host, port)
        if known and known.online and known.heard_by == how and now - known.last_heard < 1:
            return  # its answer was stored just now (a read's observe): no second write
        self._status(host, port, online=True, last_heard=now, heard_by=how)

    def failed(self, host: str, port: int) -> None:
        """A request made to this plug got no answer: offline until it answers again."""
        self._status(host, port, online=False)

    def mark(self, host: str, port: int, online: bool) -> None:
        if online:
            self.heard(host, port)
        else:
            self.failed(host, port)

    def remove(self, record: DeviceRecord) -> bool:
        """Forget one plug (its row only); False if it was already gone."""
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM devices WHERE host = ? AND port = ?", (record.host, record.port)
            )
        return cursor.rowcount > 0


def keep_renamed_outlets(
    answer: list[dict[str, Any]], asked: list[dict[str, Any]], stored: list[dict[str, Any]]
) -> None:
    """An outlet whose stored name changed since the plug was asked keeps the stored name."""
    name_asked = {c.get("id"): c.get("alias") for c in asked}
    name_now = {c.get("id"): c.get("alias") for c in stored}
    for child in answer:
        key = child.get("id")
        if key in name_now and key in name_asked and name_now[key] != name_asked[key]:
            child["alias"] = name_now[key]


def _cause(exc: BaseException) -> str:
    """SQLite's (or the system's) own words for what went wrong, on one line."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(exc)


def _on_event_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _row(db: sqlite3.Connection, where: str, *params: Any) -> DeviceRecord | None:
    row = db.execute(f"SELECT * FROM devices WHERE {where}", params).fetchone()
    return decode(row) if row is not None else None
