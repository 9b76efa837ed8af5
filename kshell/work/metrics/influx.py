"""Where ``emeter watch --out`` sends line protocol: an InfluxDB 1.x server or a ``.lp`` file.

``influx://HOST:PORT/DATABASE``: samples are buffered and written in batches to the 1.x
HTTP write API (``POST /write?db=...&precision=ms``). A batch that fails for a reason that
can heal (no connection, a timeout, a 5xx, a missing database) stays at the head of the
buffer and is sent again after a growing back-off, so a short outage loses nothing. The
buffer is bounded: past it the oldest lines go, and the count is reported. A batch the
server refuses as malformed (400) is dropped and counted (it would never be taken).
When the watch ends, what is buffered gets a bounded last chance.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from pathlib import Path
from typing import Any

from kshell.errors import UsageError
from kshell.text import clean
from kshell.work.metrics.lineproto import sample_line
from kshell.work.rowfile import RowFile

BATCH = 1000  # lines per write
MAX_BUFFER = 100_000  # lines held while the server is away (about 15 MB)
FLUSH_EVERY = 1.0  # seconds between writes while samples come in
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 5.0
REQUEST_TIMEOUT = 5.0
FINAL_FLUSH = 10.0  # seconds the buffer gets when the watch ends


def open_sink(out: str) -> InfluxSink | LineFile:
    """The sink ``--out`` names: ``influx://HOST:PORT/DB`` or a ``.lp`` file."""
    if out.startswith("influx://"):
        return InfluxSink(out)
    return LineFile(Path(out).expanduser())


def parse_url(url: str) -> tuple[str, str, str]:
    """``influx://HOST:PORT/DB`` -> (server URL, database, description); UsageError if not."""
    parts = urllib.parse.urlsplit(url)
    db = parts.path.strip("/")
    try:
        port = parts.port or 8086
    except ValueError:
        port = 0
    if not parts.hostname or not db or "/" in db or not 0 < port < 65536 or parts.query:
        raise UsageError(f"--out: '{clean(url, 100)}' is not influx://HOST:PORT/DATABASE")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"http://{host}:{port}", db, f"influx://{host}:{port}/{db}"


class InfluxSink:
    """Batches line protocol to InfluxDB 1.x, riding out outages up to a bounded buffer."""

    def __init__(
        self,
        url: str,
        *,
        batch: int = BATCH,
        max_buffer: int = MAX_BUFFER,
        flush_every: float = FLUSH_EVERY,
    ) -> None:
        self.server, self.database, self.where = parse_url(url)
        query = urllib.parse.urlencode({"db": self.database, "precision": "ms"})
        self.write_url = f"{self.server}/write?{query}"
        self.batch = batch
        self.buffer: deque[str] = deque()
        self.max_buffer = max_buffer
        self.flush_every = flush_every
        self.final_flush = FINAL_FLUSH
        self.sent = 0
        self.dropped = 0  # lines lost: the buffer overflowed, or the server refused them
        self.retries = 0
        self.last_error = ""
        self._inflight = 0  # lines at the head of the buffer being sent now
        self._wake = asyncio.Event()
        self._closing = False
        # urllib, with no proxy: line protocol goes straight to the server named
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kshell-influx")

    def write(self, sample: Any) -> None:
        line = sample_line(sample)
        if line is None:
            return
        self.buffer.append(line)
        if len(self.buffer) > self.max_buffer:
            del self.buffer[self._inflight]  # the oldest line not in the batch being sent
            self.dropped += 1
        if len(self.buffer) >= self.batch:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_every)
            self._wake.clear()
            await self._drain()

    async def _drain(self, deadline: float | None = None) -> bool:
        """Send batches until the buffer is empty; on a failure that can heal, back off and
        try again (until ``deadline``, monotonic). True when everything went."""
        delay = BACKOFF_FIRST
        while self.buffer:
            lines = [self.buffer[i] for i in range(min(self.batch, len(self.buffer)))]
            self._inflight = len(lines)
            try:
                outcome = await asyncio.to_thread(self._post, "\n".join(lines).encode() + b"\n")
            finally:
                self._inflight = 0
            if outcome in ("ok", "refused"):
                for _ in lines:  # the head of the buffer is still these lines: only we pop
                    self.buffer.popleft()
                if outcome == "ok":
                    self.sent += len(lines)
                else:
                    self.dropped += len(lines)
                delay = BACKOFF_FIRST
                continue
            self.retries += 1
            if deadline is not None and time.monotonic() + delay > deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(BACKOFF_MAX, delay * 2)
        return True

    def _post(self, body: bytes) -> str:
        """One write: 'ok', 'refused' (malformed: never retried) or 'retry'."""
        request = urllib.request.Request(
            self.write_url, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        try:
            with self._opener.open(request, timeout=REQUEST_TIMEOUT) as answer:
                answer.read(65536)
                return "ok" if 200 <= answer.status < 300 else "retry"
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace")
            self.last_error = clean(f"HTTP {exc.code}: {detail.strip()}", 200)
            if exc.code == 404 and "database not found" in detail:
                self._create_database()  # as Telegraf does; the batch goes again after it
            # 400: a line the server will never take (the others can heal): dropped
            return "refused" if exc.code == 400 else "retry"
        except (OSError, ValueError) as exc:
            self.last_error = clean(str(getattr(exc, "reason", exc)), 200)
            return "retry"

    def _create_database(self) -> None:
        name = self.database.replace("\\", "\\\\").replace('"', '\\"')
        body = urllib.parse.urlencode({"q": f'CREATE DATABASE "{name}"'}).encode()
        with contextlib.suppress(OSError, ValueError):
            self._opener.open(f"{self.server}/query", data=body, timeout=REQUEST_TIMEOUT).close()

    async def aclose(self) -> None:
        """Stop the background writer and give the buffer a bounded last chance."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._drain(deadline=time.monotonic() + self.final_flush)
        self.dropped += len(self.buffer)
        self.buffer.clear()

    def close(self) -> None:
        self._task.cancel()

    @property
    def error(self) -> str | None:
        """What was lost, once points were: the watch says it and exits 1."""
        if not self.dropped:
            return None
        why = self.last_error or "buffer full"
        return f"--out {self.where}: {self.dropped} points not written ({why})"

    def report(self) -> str:
        note = f"; {self.where}: {self.sent} points written"
        if self.dropped:
            note += f", {self.dropped} DROPPED ({self.last_error or 'buffer full'})"
        return note

    def stats(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "sent": self.sent,
            "dropped": self.dropped,
            "retries": self.retries,
        }


class LineFile:
    """Line protocol appended to a ``.lp`` file (flushed each second, ending on a whole line
    whatever the disk does, as the CSV writer: kshell.work.rowfile)."""

    def __init__(self, path: Path) -> None:
        if path.suffix.lower() != ".lp":
            raise UsageError(f"--out: name a .lp file, not '{clean(path.name, 80)}'")
        self.rows = RowFile(path)
        self.where = str(path)
        self.sent = 0
        self.dropped = 0

    @property
    def error(self) -> str | None:
        return self.rows.error

    def write(self, sample: Any) -> None:
        line = sample_line(sample)
        if line is None:
            return
        if self.rows.error is not None:
            self.dropped += 1
            return
        self.rows.append(line + "\n")
        self.sent += 1

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        self.rows.close()

    def report(self) -> str:
        if self.rows.error is not None:
            return f"; {self.rows.error}"
        return f"; {self.sent} lines of line protocol written to {self.where}"

    def stats(self) -> dict[str, Any]:
        return {"where": self.where, "sent": self.sent, "dropped": self.dropped}
