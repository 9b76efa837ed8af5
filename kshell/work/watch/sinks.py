"""The watch's file sink: every sample, with its timestamp, to a .csv or .jsonl file."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TextIO

from kshell.errors import UsageError
from kshell.text import json_line
from kshell.work.watch.sample import Sample

CSV_COLUMNS = (
    "time",
    "t",
    "round",
    "target",
    "host",
    "outlet",
    "status",
    "power_w",
    "voltage_v",
    "current_a",
    "total_kwh",
    "plausible",
    "flags",
    "counter_reset",
    "error",
)


class SampleWriter:
    """Every sample, with its timestamp, to a .csv or .jsonl file (appended, flushed each s)."""

    def __init__(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".jsonl", ".ndjson"):
            raise UsageError(f"--out: name a .csv or .jsonl file, not '{path.name}'")
        self.path = path
        self.csv = suffix == ".csv"
        try:
            self.file: TextIO = path.open("a", encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError(f"--out: cannot write {path}: {exc.strerror or exc}") from None
        self._flushed = time.monotonic()
        self.lines = 0
        if self.csv:
            import csv

            self._csv = csv.writer(self.file)
            if self.file.tell() == 0:
                self._csv.writerow(CSV_COLUMNS)

    def write(self, sample: Sample) -> None:
        data = sample.json()
        if self.csv:
            data["flags"] = "; ".join(data.get("flags", []))
            if "error" in data:
                data["error"] = data["error"]["message"]
            self._csv.writerow(["" if data.get(c) is None else data.get(c) for c in CSV_COLUMNS])
        else:
            self.file.write(json_line(data) + "\n")
        self.lines += 1
        now = time.monotonic()
        if now - self._flushed >= 1.0:
            self.file.flush()
            self._flushed = now

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
