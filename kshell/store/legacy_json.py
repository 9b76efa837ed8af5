"""devices.json, the device cache before the SQLite store: read once into the new store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from kshell.store.records import DeviceRecord, normalise_mac
from kshell.store.schema import COLUMNS, upsert


def import_json(db: sqlite3.Connection, legacy: Path) -> None:
    """devices.json from before the store: imported once, then renamed out of the way."""
    try:
        raw = json.loads(legacy.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # none, or damaged: start empty rather than fail
    items = raw.get("devices", []) if isinstance(raw, dict) else []
    for item in items if isinstance(items, list) else []:
        record = _legacy_record(item)
        if record is None:
            continue
        if record.mac:
            db.execute("DELETE FROM devices WHERE mac = ?", (record.mac,))
        upsert(db, record)
    try:
        legacy.replace(legacy.with_name("devices.json.imported"))
    except OSError:
        pass  # read-only folder: the version stamp alone keeps it from being imported again


def _legacy_record(item: Any) -> DeviceRecord | None:
    if not isinstance(item, dict) or not isinstance(item.get("host"), str):
        return None
    values = {k: v for k, v in item.items() if k in COLUMNS}
    if "last_seen" in item and "last_heard" not in item:
        values["last_heard"] = item["last_seen"]
    try:
        record = DeviceRecord(**values)
        record.port = int(record.port)
        record.last_heard = float(record.last_heard or 0)
    except (TypeError, ValueError):
        return None
    record.mac = normalise_mac(str(record.mac))
    for name in ("alias", "model", "hw_ver", "sw_ver", "kind", "state", "heard_by"):
        if not isinstance(getattr(record, name), str):
            setattr(record, name, "")
    if not isinstance(record.children, list):
        record.children = []
    return record
