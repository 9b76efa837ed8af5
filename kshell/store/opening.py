"""Opening the device store: a new one made whole before it gets its name, an old one
migrated, and a file kshell did not make (empty, not SQLite, someone else's database, a
newer kshell's schema) refused in one line and left exactly as it was.

Our file is told apart by ``PRAGMA application_id`` (schema.APPLICATION_ID); stores made before
it was set carry 0 and the ``devices`` table, and get the id at their next migration.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from kshell.store import schema

BUSY_S = 0.1  # one wait on another process's lock; longer waits are retries off the loop
_HEADER = b"SQLite format 3\x00"
_MOVE_AWAY = "move it away and kshell starts a new one"


def connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    db = sqlite3.connect(
        target, timeout=BUSY_S, isolation_level=None, check_same_thread=False, uri=uri
    )
    db.row_factory = sqlite3.Row
    return db


def in_memory() -> sqlite3.Connection:
    db = connect(":memory:")
    _build(db)
    return db


def open_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection to our store at ``path`` (made first when there is none).

    Read-only, so a home that cannot be written still reads: where even the WAL's shared
    memory cannot be made (a read-only mount, a full disk), the file is read as it is.
    """
    if not path.exists():
        create(path)
    check_header(path)
    base = path.absolute().as_uri()
    failure: sqlite3.Error | None = None
    for query in ("?mode=ro", "?mode=ro&immutable=1"):
        try:
            db = connect(base + query, uri=True)
            identify(db, path)
            return db
        except sqlite3.Error as exc:
            failure = failure or exc
    assert failure is not None
    raise failure


def open_writer(path: Path) -> sqlite3.Connection:
    db = connect(str(path))
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def check_header(path: Path) -> None:
    with path.open("rb") as file:
        head = file.read(len(_HEADER))
    if not head:
        raise schema.StoreError(
            f"device store {path}: an empty file, not a kshell device store; {_MOVE_AWAY}"
        )
    if head != _HEADER:
        raise schema.StoreError(
            f"device store {path}: not a kshell device store (not a SQLite database); {_MOVE_AWAY}"
        )


def identify(db: sqlite3.Connection, path: Path) -> None:
    """The store's schema version; a file that is not ours, or a newer kshell's, is refused."""
    app = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    ours = app == schema.APPLICATION_ID or (app == 0 and version > 0 and _has_devices(db))
    if not ours:
        raise schema.StoreError(
            f"device store {path}: not a kshell device store (a SQLite database of another"
            f" program); {_MOVE_AWAY}"
        )
    if version > schema.SCHEMA_VERSION:
        raise schema.StoreError(
            f"device store: {path} is schema {version}; this kshell reads up to"
            f" {schema.SCHEMA_VERSION}: upgrade kshell"
        )


def needs_migration(db: sqlite3.Connection) -> bool:
    app = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    return bool(app != schema.APPLICATION_ID or version < schema.SCHEMA_VERSION)


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring an older store (ours, by its table) to this schema, and mark it as ours."""
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then skip
    try:
        identify(db, path)  # as it is now that we hold the lock
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for step in schema.MIGRATIONS[version:]:
            step(db)
        db.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        rollback(db)
        raise


def rollback(db: sqlite3.Connection) -> None:
    """ROLLBACK that never replaces the error that made it necessary: SQLite has often
    rolled back already (a full disk does), and then ROLLBACK says no transaction is active."""
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def create(path: Path) -> None:
    """A new store, built under a private name and linked into place only when whole: a
    file named devices.db is therefore always a finished store, and two processes starting
    on a new home at once end up sharing one (the loser of the race opens the winner's)."""
    import tempfile  # only a new home makes its store

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".devices-", suffix=".db", dir=path.parent)
    os.close(handle)  # mkstemp: O_EXCL and 0600, the store's mode
    temporary = Path(name)
    try:
        db = connect(name)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")
            _build(db)
            from kshell.store.legacy_json import import_json

            import_json(db, path.with_name("devices.json"))
            db.execute("COMMIT")
        finally:
            db.close()
        try:
            os.link(temporary, path)  # never over a store another process made meanwhile
        except FileExistsError:
            pass
    finally:
        for leftover in (temporary, Path(f"{name}-wal"), Path(f"{name}-shm")):
            leftover.unlink(missing_ok=True)


def _build(db: sqlite3.Connection) -> None:
    for step in schema.MIGRATIONS:
        step(db)
    db.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    db.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")


def _has_devices(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'devices'")
    return row.fetchone() is not None
