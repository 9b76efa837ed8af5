"""The device store's schema: its columns, how it grows (MIGRATIONS), how a record is
written to a row and read back, and the store's error.

Below both the store (``devices``) and the code that opens or fills a database
(``opening``, ``legacy_json``), so that they share the schema without importing each other.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from kshell.errors import KshellError
from kshell.store.records import DeviceRecord

APPLICATION_ID = 0x4B53484C  # "KSHL" in PRAGMA application_id: a devices.db kshell made

# --- the schema, and how it grows ---------------------------------------------------------

COLUMNS = tuple(f.name for f in fields(DeviceRecord))
_BOOLS = frozenset(f.name for f in fields(DeviceRecord) if f.type == "bool")
_JSON = frozenset(f.name for f in fields(DeviceRecord) if str(f.type).startswith(("list", "dict")))


def _create_v1(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE devices (host TEXT NOT NULL, port INTEGER NOT NULL,"
        " alias TEXT NOT NULL DEFAULT '', mac TEXT NOT NULL DEFAULT '',"
        " model TEXT NOT NULL DEFAULT '', hw_ver TEXT NOT NULL DEFAULT '',"
        " sw_ver TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL DEFAULT 'plug',"
        " state TEXT NOT NULL DEFAULT '', emeter INTEGER NOT NULL DEFAULT 0,"
        " online INTEGER NOT NULL DEFAULT 1, last_heard REAL NOT NULL DEFAULT 0,"
        " heard_by TEXT NOT NULL DEFAULT '', children TEXT NOT NULL DEFAULT '[]',"
        " PRIMARY KEY (host, port))"
    )
    db.execute("CREATE UNIQUE INDEX devices_mac ON devices (mac) WHERE mac != ''")


def add_column(name: str, sql_type: str, default: str) -> Callable[[sqlite3.Connection], None]:
    """A migration step adding one column (e.g. a per-plug ``family`` or ``transport``)."""

    def step(db: sqlite3.Connection) -> None:
        db.execute(f"ALTER TABLE devices ADD COLUMN {name} {sql_type} NOT NULL DEFAULT {default}")

    return step


def _add_login_trust(db: sqlite3.Connection) -> None:
    """Which AES plugs get the owner's login. A plug an earlier kshell read over AES with
    login version 2 is kept trusted (it was logged in to, as ssh keeps a known host); version
    1 (the password itself) needs the owner's word again."""
    add_column("login_trust", "TEXT", "''")(db)
    db.execute(
        "UPDATE devices SET login_trust = 'hashed' WHERE transport = 'aes' AND mac != ''"
        " AND sw_ver != '' AND login_version = 2"
    )


# MIGRATIONS[n] takes a database at schema version n to n + 1 (PRAGMA user_version). To add
# a field: add it to DeviceRecord with a default, and append add_column(...) here.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _create_v1,
    add_column("family", "TEXT", "''"),
    add_column("transport", "TEXT", "''"),
    add_column("login_version", "INTEGER", "0"),
    add_column("factory_default", "INTEGER", "0"),
    _add_login_trust,
]
SCHEMA_VERSION = len(MIGRATIONS)


def encode(name: str, value: Any) -> Any:
    if name in _JSON:
        return json.dumps(value)
    if name in _BOOLS:
        return int(bool(value))
    return value


def decode(row: sqlite3.Row) -> DeviceRecord:
    values: dict[str, Any] = {}
    for name in COLUMNS:
        value = row[name]
        if name in _JSON:
            try:
                value = json.loads(value)
            except ValueError:
                value = []
        elif name in _BOOLS:
            value = bool(value)
        values[name] = value
    return DeviceRecord(**values)


class StoreError(KshellError):
    kind = "state"


def upsert(db: sqlite3.Connection, record: DeviceRecord) -> None:
    """Write what a plug said about itself into its row: the record's fields only, so a
    column this record does not carry (one a newer kshell added) keeps its value."""
    settings = ", ".join(f"{name} = excluded.{name}" for name in COLUMNS[2:])
    db.execute(
        f"INSERT INTO devices ({', '.join(COLUMNS)}) "
        f"VALUES ({', '.join('?' for _ in COLUMNS)}) "
        f"ON CONFLICT (host, port) DO UPDATE SET {settings}",
        [encode(name, getattr(record, name)) for name in COLUMNS],
    )
