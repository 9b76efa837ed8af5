"""A small, bounded HTTP/1.1 server protocol for the plugs of the current generation.

Only what a plug's web server does: POST (and a refused GET), ``Content-Length`` bodies,
keep-alive, cookies in, ``Set-Cookie`` out. Bounded like firmware: headers up to 8 KiB, bodies
up to 64 KiB (413 beyond), ``MAX_CONNECTIONS`` open connections, a request must arrive within
``REQUEST_TIME`` seconds and an idle connection is closed after ``IDLE_TIME``. Faults of the
plug (``delay``, ``drop``, ``close``, ``garbage``, ``bad_length``, ``oversized``) apply to
every answer.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from kshell.simulator.faults import Faults

MAX_HEADER = 8192
MAX_BODY = 64 * 1024
MAX_CONNECTIONS = 32  # per plug; more are closed at once, as a small device runs out of sockets
REQUEST_TIME = 10.0
IDLE_TIME = 60.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    500: "Internal Server Error",
}


@dataclass
class HttpRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def cookies(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in self.headers.get("cookie", "").split(";"):
            name, sep, value = part.strip().partition("=")
            if sep:
                out[name] = value
        return out


@dataclass
class HttpResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/octet-stream"
    cookie: str | None = None  # the whole Set-Cookie value, as the plug writes it
    extra: dict[str, str] = field(default_factory=dict)

    def encode(self, *, keep_alive: bool, faults: Faults | None = None) -> bytes:
        length = len(self.body)
        bad = faults.get("bad_length") if faults is not None else None
        if bad == "huge":
            length = 1 << 30
        elif bad == "short":
            length += 64
        lines = [
            f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Error')}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {length}",
            "Connection: " + ("keep-alive" if keep_alive else "close"),
        ]
        if self.cookie:
            lines.append(f"Set-Cookie: {self.cookie}")
        lines += [f"{k}: {v}" for k, v in self.extra.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


Handler = Callable[[HttpRequest], HttpResponse]


class HttpConn(asyncio.Protocol):
    """One client connection to a plug's port 80: requests in order, one at a time."""

    def __init__(self, handler: Handler, faults: Faults, conns: set[HttpConn]) -> None:
        self.handler = handler
        self.faults = faults
        self.conns = conns
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self._timer: asyncio.TimerHandle | None = None

    # -- connection life ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if len(self.conns) >= MAX_CONNECTIONS:
            transport.abort()
            return
        self.conns.add(self)
        self._arm(IDLE_TIME)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conns.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        self.transport = None

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _arm(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, self.abort)

    def _open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    # -- requests ------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if not self.buf:
            self._arm(REQUEST_TIME)  # a request has begun: it must arrive in time
        self.buf += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        while self._open() and not self.busy:
            parsed = self._parse()
            if parsed is None:
                return
            request, keep_alive = parsed
            self._arm(IDLE_TIME if not self.buf else REQUEST_TIME)
            if "drop" in self.faults:
                self.buf.clear()  # read, never answered
                return
            if "close" in self.faults:
                self.abort()
                return
            delay = self.faults.get("delay")
            if delay:
                self.busy = True
                asyncio.get_running_loop().call_later(
                    delay, self._answer_later, request, keep_alive
                )
                return
            self._answer(request, keep_alive)

    def _answer_later(self, request: HttpRequest, keep_alive: bool) -> None:
        self.busy = False
        if self._open():
            self._answer(request, keep_alive)
            self._next()

    def _answer(self, request: HttpRequest, keep_alive: bool) -> None:
        assert self.transport is not None
        if "garbage" in self.faults:
            self.transport.write(os.urandom(64))  # not HTTP at all
            self.transport.close()
            return
        try:
            response = self.handler(request)
        except Exception:  # noqa: BLE001 - a plug answers 500, it does not crash
            response = HttpResponse(500)
        oversized = self.faults.get("oversized")
        if oversized:
            response = HttpResponse(200, os.urandom(oversized))
        self.transport.write(response.encode(keep_alive=keep_alive, faults=self.faults))
        if not keep_alive:
            self.transport.close()

    def _fail(self, status: int) -> None:
        assert self.transport is not None
        self.transport.write(HttpResponse(status).encode(keep_alive=False))
        self.transport.close()
        self.buf.clear()

    def _parse(self) -> tuple[HttpRequest, bool] | None:
        """The next complete request from the buffer (consumed), or None for more bytes."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEADER:
                self._fail(400)
            return None
        if end > MAX_HEADER:
            self._fail(400)
            return None
        try:
            head = bytes(self.buf[:end]).decode("latin-1")
            request_line, *header_lines = head.split("\r\n")
            method, target, version = request_line.split(" ")
            if not version.startswith("HTTP/1."):
                raise ValueError(version)
            headers: dict[str, str] = {}
            for line in header_lines:
                name, sep, value = line.partition(":")
                if not sep:
                    raise ValueError(line)
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
        except ValueError:
            self._fail(400)
            return None
        if "chunked" in headers.get("transfer-encoding", "").lower() or length < 0:
            self._fail(400)  # plugs take Content-Length bodies only
            return None
        if length > MAX_BODY:
            self._fail(413)
            return None
        if len(self.buf) < end + 4 + length:
            return None
        body = bytes(self.buf[end + 4 : end + 4 + length])
        del self.buf[: end + 4 + length]
        url = urlsplit(target)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        return HttpRequest(method.upper(), url.path, query, headers, body), keep_alive


class DecoyHttp(asyncio.Protocol):
    """Just enough HTTP to make port 80 look alive (the old plugs' ``klap`` fault)."""

    def __init__(self) -> None:
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" in self.buf or len(self.buf) > 8192:
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )
            self.transport.close()
