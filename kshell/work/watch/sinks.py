"""The watch's file sink: every sample, with its timestamp, to a .csv or .jsonl file."""

from __future__ import annotations

import io
from pathlib import Path

from kshell.errors import UsageError
from kshell.text import json_line
from kshell.work.rowfile import RowFile
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
    """Every sample, with its timestamp, to a .csv or .jsonl file (appended, flushed each
    second, always ending on a whole row: kshell.work.rowfile)."""

    def __init__(self, path: Path) -> None:
        self.csv = check_sample_path(path)
        self.path = path
        self.rows = RowFile(path)
        self.lines = 0
        if self.csv:
            import csv

            self._line = io.StringIO()
            self._csv = csv.writer(self._line)
            if self.rows.size == 0:
                self.rows.append(self._csv_row(list(CSV_COLUMNS)))

    @property
    def error(self) -> str | None:
        return self.rows.error

    def _csv_row(self, values: list[object]) -> str:
        self._line.seek(0)
        self._line.truncate()
        self._csv.writerow(values)
        return self._line.getvalue()

    def write(self, sample: Sample) -> None:
        data = sample.json()
        if self.csv:
            data["flags"] = "; ".join(data.get("flags", []))
            if "error" in data:
                data["error"] = data["error"]["message"]
            row = ["" if data.get(c) is None else data.get(c) for c in CSV_COLUMNS]
            self.rows.append(self._csv_row(row))
        else:
            self.rows.append(json_line(data) + "\n")
        self.lines += 1

    def close(self) -> None:
        self.rows.close()

    def report(self) -> str:
        if self.rows.error is not None:
            return f"; {self.rows.error}"
        return f"; written to {self.path}"


def check_sample_path(path: Path) -> bool:
    """A .csv (True) or .jsonl file (False); anything else is a usage error."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise UsageError(f"--out: name a .csv or .jsonl file, not '{path.name}'")
    return suffix == ".csv"
