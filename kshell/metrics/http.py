"""A small HTTP/1.1 server for scrapers, bounded against whoever connects.

One request per connection (``Connection: close``); GET and HEAD only; the request head
is limited in size and must arrive within a deadline; a client that does not read its
answer is dropped after a deadline too; only so many connections at once (the others are
closed at once). What a client sends never reaches a log raw.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

MAX_HEAD = 8192  # request line and headers together
MAX_CLIENTS = 64
READ_TIMEOUT = 5.0  # for the whole request head
WRITE_TIMEOUT = 10.0  # for the whole answer
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
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


class HttpServer:
    def __init__(
        self,
        handler: Handler,
        *,
        read_timeout: float = READ_TIMEOUT,
        write_timeout: float = WRITE_TIMEOUT,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.handler = handler
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.max_clients = max_clients
        self.requests = 0
        self._clients: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; returns the bound address (port 0 picks a free one)."""
        self._server = await asyncio.start_server(self._accept, host, port, limit=MAX_HEAD)
        bound = self._server.sockets[0].getsockname()
        return bound[0], bound[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._clients):
            task.cancel()
        if self._clients:
            await asyncio.gather(*self._clients, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._clients) >= self.max_clients:
            writer.close()  # too many at once: the scraper tries again next interval
            return
        assert task is not None
        self._clients.add(task)
        try:
            response, head_only = await self._answer(reader)
            await asyncio.wait_for(self._send(writer, response, head_only), self.write_timeout)
        except (TimeoutError, ConnectionError):
            pass  # a client that does not read (or left): drop it
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[Response, bool]:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.read_timeout)
        except TimeoutError:
            return text(408, "request head not received in time"), False
        except asyncio.LimitOverrunError:
            return text(431, "request head too large"), False
        except asyncio.IncompleteReadError:
            raise ConnectionError("client left") from None
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
