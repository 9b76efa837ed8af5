"""Rows appended to a file that always ends on a whole row, whatever the disk does.

A watch's --out file is appended for hours. A full disk (or a file-size limit) can take
half a write: the file is cut back to its last whole row, the error is kept (one line, said
once by whoever owns the file), and nothing more is written; the watch goes on on screen.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from kshell.errors import UsageError
from kshell.text import clean

FLUSH_S = 1.0  # rows reach the disk at least this often
FLUSH_BYTES = 64 * 1024  # or as soon as this much waits


class RowFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"--out: cannot write {path}: {exc.strerror or exc}") from None
        self.size = os.fstat(self.fd).st_size
        self.rows = 0  # rows on disk
        self.error: str | None = None  # why writing stopped
        self._waiting: list[bytes] = []
        self._waiting_rows = 0
        self._waiting_bytes = 0
        self._flushed = time.monotonic()

    @staticmethod
    def check(path: Path) -> None:
        """Refuse now a path that cannot be written (before any plug is asked)."""
        RowFile(path).close()

    def append(self, row: str) -> None:
        if self.error is not None:
            return
        data = row.encode("utf-8")
        self._waiting.append(data)
        self._waiting_rows += 1
        self._waiting_bytes += len(data)
        now = time.monotonic()
        if self._waiting_bytes >= FLUSH_BYTES or now - self._flushed >= FLUSH_S:
            self.flush()
            self._flushed = now

    def flush(self) -> None:
        if self.error is not None or not self._waiting:
            return
        batch = self._waiting
        data = b"".join(batch)
        self._waiting, self._waiting_rows, self._waiting_bytes = [], 0, 0
        done = 0
        try:
            while done < len(data):
                done += os.write(self.fd, data[done:])
        except OSError as exc:
            self._stop(exc, batch, done)
            return
        self.size += done
        self.rows += len(batch)

    def _stop(self, exc: OSError, batch: list[bytes], done: int) -> None:
        """Keep the whole rows of a half-written batch and cut the rest back off, so the
        file ends on a whole row."""
        whole = rows = 0
        for row in batch:
            if whole + len(row) > done:
                break
            whole += len(row)
            rows += 1
        if done > whole:
            try:
                os.ftruncate(self.fd, self.size + whole)
            except OSError:
                pass  # not a regular file (/dev/full): nothing to cut back
        self.size += whole
        self.rows += rows
        reason = exc.strerror or type(exc).__name__
        self.error = clean(
            f"--out {self.path}: {reason}: writing stopped after {self.rows} rows "
            "(the file ends on a whole row); the watch goes on on the screen",
            300,
        )

    def close(self) -> None:
        self.flush()
        try:
            os.close(self.fd)
        except OSError:
            pass
