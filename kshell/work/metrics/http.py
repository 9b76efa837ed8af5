"""A small HTTP/1.1 server for scrapers, bounded against whoever connects.

One request per connection (``Connection: close``); GET and HEAD only; the request head
is limited in size, its first byte must come soon and the whole head within a deadline; a
client that does not read its answer is dropped after a deadline too. Connections are
accepted one at a time, only while there is room (the rest wait in the kernel's queue, not
in our descriptors): at most so many at once, and so many per client address. A client at
its cap, or a full server, loses its oldest connection still sending its head (a slow
client's, never a request being answered); when none is, the newcomer is answered 429/503
at once. What a client sends never reaches a log raw.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

MAX_HEAD = 8192  # request line and headers together
MAX_CLIENTS = 64
MAX_PER_CLIENT = 8  # connections at once from one address
FIRST_BYTE_TIMEOUT = 2.0  # a scraper sends its request as soon as it connects
READ_TIMEOUT = 5.0  # for the whole request head
WRITE_TIMEOUT = 10.0  # for the whole answer
BACKLOG = 256
SLOW_AFTER = 0.5  # a connection still sending its head after this is a slow one
MAX_REFUSING = 16  # 429/503 answers being written at once
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    421: "Misdirected Request",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def text(status: int, message: str) -> Response:
    return Response(status, (message + "\n").encode())


Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class _Client:
    address: str
    since: float
    task: asyncio.Task[None]
    reading_head: bool = True


class HttpServer:
    def __init__(
        self,
        handler: Handler,
        *,
        read_timeout: float = READ_TIMEOUT,
        first_byte_timeout: float = FIRST_BYTE_TIMEOUT,
        write_timeout: float = WRITE_TIMEOUT,
        max_clients: int = MAX_CLIENTS,
        max_per_client: int = MAX_PER_CLIENT,
    ) -> None:
        self.handler = handler
        self.read_timeout = read_timeout
        self.first_byte_timeout = first_byte_timeout
        self.write_timeout = write_timeout
        self.max_clients = max_clients
        self.max_per_client = max_per_client
        self.requests = 0
        self.turned_away = 0  # connections answered 429/503 or dropped to make room
        self._clients: dict[asyncio.Task[None], _Client] = {}
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._refusing: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; returns the bound address (port 0 picks a free one)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family, backlog=BACKLOG)
        listener.setblocking(False)
        self._listener = listener
        self._accepting = asyncio.create_task(self._accept_loop(), name="kshell-metrics-accept")
        bound = listener.getsockname()
        return bound[0], bound[1]

    async def close(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
            self._accepting = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        tasks = [*self._clients, *self._refusing]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- accepting, bounded ----------------------------------------------------------------
    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._listener is not None
        while True:
            while self._full():  # wait in the kernel's queue: no descriptor of ours
                self._freed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._freed.wait(), SLOW_AFTER / 2)
            try:
                sock, peer = await loop.sock_accept(self._listener)
            except OSError:  # out of descriptors, a reset before accept: try again shortly
                await asyncio.sleep(0.05)
                continue
            sock.setblocking(False)
            address = str(peer[0])
            refusal = self._make_room(address)
            task = asyncio.create_task(self._connection(sock, refusal))
            if refusal is None:
                self._clients[task] = _Client(address, time.monotonic(), task)
            else:
                self.turned_away += 1
                self._refusing.add(task)
            await asyncio.sleep(0)  # the connection task starts before the next accept

    def _full(self) -> bool:
        if len(self._refusing) >= MAX_REFUSING:
            return True
        return len(self._clients) >= self.max_clients and not self._slow(self._clients.values())

    @staticmethod
    def _slow(clients: Iterable[_Client]) -> list[_Client]:
        """Connections still sending their head long after a scraper would have sent it."""
        now = time.monotonic()
        return [c for c in clients if c.reading_head and now - c.since >= SLOW_AFTER]

    def _make_room(self, address: str) -> Response | None:
        """Room for one more connection from ``address``, a slow client's connection dropped
        if need be; else the answer to give the newcomer."""
        mine = [c for c in self._clients.values() if c.address == address]
        if len(mine) >= self.max_per_client and not self._drop_oldest(mine):
            return text(429, "too many connections from your address")
        if len(self._clients) >= self.max_clients and not self._drop_oldest(
            list(self._clients.values())
        ):
            return text(503, "busy: try again at the next interval")
        return None

    def _drop_oldest(self, clients: list[_Client]) -> bool:
        slow = self._slow(clients)
        if not slow:
            return False
        oldest = min(slow, key=lambda c: c.since)
        del self._clients[oldest.task]
        self.turned_away += 1
        oldest.task.cancel()
        return True

    async def _connection(self, sock: socket.socket, refusal: Response | None) -> None:
        task = asyncio.current_task()
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_HEAD)
            if refusal is not None:
                await asyncio.wait_for(self._send(writer, refusal, False), 1.0)
                return
            response, head_only = await self._answer(reader, task)
            await asyncio.wait_for(self._send(writer, response, head_only), self.write_timeout)
        except (TimeoutError, ConnectionError, OSError):
            pass  # a client that does not read (or left): drop it
        finally:
            if task is not None:
                self._clients.pop(task, None)
                self._refusing.discard(task)
                self._freed.set()
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)
            else:
                sock.close()

    async def _answer(
        self, reader: asyncio.StreamReader, task: asyncio.Task[None] | None
    ) -> tuple[Response, bool]:
        started = time.monotonic()
        try:
            first = await asyncio.wait_for(reader.readexactly(1), self.first_byte_timeout)
            left = max(0.0, self.read_timeout - (time.monotonic() - started))
            head = first + await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), left)
        except TimeoutError:
            return text(408, "request head not received in time"), False
        except asyncio.LimitOverrunError:
            return text(431, "request head too large"), False
        except asyncio.IncompleteReadError:
            raise ConnectionError("client left") from None
        client = self._clients.get(task) if task is not None else None
        if client is not None:
            client.reading_head = False  # a request being answered is never dropped for room
        request = parse_head(head)
        if request is None:
            return text(400, "bad request"), False
        if request.method not in ("GET", "HEAD"):
            return Response(405, b"GET only\n", headers={"Allow": "GET, HEAD"}), False
        self.requests += 1
        return await self.handler(request), request.method == "HEAD"

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, response: Response, head_only: bool) -> None:
        reason = _REASONS.get(response.status, "")
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            "Connection: close",
            *(f"{k}: {v}" for k, v in response.headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if not head_only:
            writer.write(response.body)
        await writer.drain()


def parse_head(head: bytes) -> Request | None:
    """The request line and headers; None when they are not HTTP/1.x."""
    try:
        lines = head.decode("latin-1").split("\r\n")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        return None
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        return None
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        headers[name.lower()] = value.strip()
    url = urlsplit(parts[1])
    try:
        query = parse_qs(url.query, keep_blank_values=True, max_num_fields=20)
    except ValueError:  # too many fields
        return None
    return Request(parts[0], unquote(url.path), query, headers)
