"""A tiny HTTP/1.1 client: one kept-alive connection to one plug, its answers bounded.

Why not aiohttp: importing it costs about 155 ms here, more than a whole one-shot command, and
plugs speak a small subset of HTTP: a POST with a body and an answer with a Content-Length and
a cookie. What a plug says is untrusted, so the answer is bounded before it is read: the
header to 8 KiB, the body to ``MAX_BODY``; a garbage status line, a missing Content-Length or
a chunked answer is one line of error. The caller (a transport) holds one lock per plug, so
there is at most one request in flight on a connection.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from kshell.errors import ProtocolError, TransportError

MAX_HEADER = 8 * 1024
MAX_BODY = 512 * 1024  # a strip's child list or a component list is a few KiB
MAX_COOKIE = 256

_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-5][0-9][0-9])(?: [\t\x20-\x7e]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# a cookie value we echo back in a header: printable, no separators that could split it
_COOKIE_VALUE = re.compile(rf"[!#-+\--:<-\[\]-~]{{0,{MAX_COOKIE}}}")


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes
    cookies: dict[str, str] = field(default_factory=dict)
    keep_alive: bool = True


class ClosedBeforeAnswer(TransportError):
    """The plug closed the connection before sending a byte of answer. ``reused`` says the
    connection had served an earlier request: a kept-alive connection the plug dropped while
    idle, the one case where sending a read again is expected."""

    def __init__(self, reused: bool) -> None:
        super().__init__("the plug closed the connection without answering")
        self.reused = reused


def snippet(data: bytes, limit: int = 40) -> str:
    """Untrusted bytes for an error line: escaped (no control characters), shortened."""
    text = repr(bytes(data[:limit]))[2:-1]
    return text + ("..." if len(data) > limit else "")


@dataclass
class _Head:
    status: int
    length: int
    cookies: dict[str, str]
    keep_alive: bool


def parse_head(head: bytes, max_body: int) -> _Head:
    """Status line and headers of an answer (without the blank line), checked."""
    lines = head.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise ProtocolError(f"garbage instead of an HTTP status line: '{snippet(lines[0])}'")
    minor, status = match.group(1), int(match.group(2))
    lengths: set[bytes] = set()
    cookies: dict[str, str] = {}
    connection = b""
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or _TOKEN.fullmatch(name) is None:
            raise ProtocolError(f"garbled HTTP header line: '{snippet(line)}'")
        name, value = name.lower(), value.strip(b" \t")
        if name == b"content-length":
            lengths.add(value)
        elif name == b"transfer-encoding":
            raise ProtocolError("chunked HTTP answer (a plug's answer carries a Content-Length)")
        elif name == b"connection":
            connection = value.lower()
        elif name == b"set-cookie":
            cookies.update(_cookie_pairs(value))
    if status in (204, 304) or status < 200:
        length = 0
    elif not lengths:
        raise ProtocolError(f"HTTP {status} answer without a Content-Length")
    elif len(lengths) > 1 or not lengths.copy().pop().isdigit():
        raise ProtocolError("HTTP answer with an unreadable Content-Length")
    else:
        length = int(lengths.pop())
    if length > max_body:
        raise ProtocolError(f"HTTP answer of {length} bytes, over the {max_body // 1024} KiB limit")
    keep_alive = connection == b"keep-alive" if minor == b"0" else connection != b"close"
    return _Head(status, length, cookies, keep_alive)


def _cookie_pairs(value: bytes) -> dict[str, str]:
    """``TP_SESSIONID=abc;TIMEOUT=86400`` -> both pairs (plugs put TIMEOUT beside the id)."""
    pairs: dict[str, str] = {}
    for part in value.decode("latin-1").split(";"):
        name, equals, val = part.partition("=")
        name, val = name.strip(), val.strip().strip('"')
        if equals and name.isascii() and name.isidentifier() and _COOKIE_VALUE.fullmatch(val):
            pairs[name] = val
    return pairs


class _AnswerReader(asyncio.Protocol):
    """Collects one answer at a time into ``waiter``; anything unasked closes the line."""

    def __init__(self, max_body: int) -> None:
        self.transport: asyncio.Transport | None = None
        self.max_body = max_body
        self.buffer = bytearray()
        self.waiter: asyncio.Future[HttpAnswer] | None = None
        self.head: _Head | None = None
        self.closed = False
        self.answered = 0  # answers read on this connection
        self.idle_since = 0.0  # loop time of the last answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream connection's transport (asyncio's or uvloop's, which need not subclass it)
        self.transport = cast(asyncio.Transport, transport)

    def expect(self, waiter: asyncio.Future[HttpAnswer]) -> None:
        self.waiter, self.head = waiter, None
        self.buffer.clear()

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.abort()  # talking out of turn: nothing it says afterwards can be trusted
            return
        self.buffer += data
        try:
            answer = self._parse()
        except ProtocolError as exc:
            waiter.set_exception(exc)
            self.abort()
            return
        if answer is not None:
            self.answered += 1
            self.idle_since = asyncio.get_running_loop().time()
            waiter.set_result(answer)

    def _parse(self) -> HttpAnswer | None:
        if self.head is None:
            buffer = self.buffer
            seen = min(7, len(buffer))
            if buffer[:seen] != b"HTTP/1."[:seen]:
                line = bytes(buffer[:MAX_HEADER]).split(b"\r\n", 1)[0]
                raise ProtocolError(f"garbage instead of an HTTP status line: '{snippet(line)}'")
            end = buffer.find(b"\r\n\r\n", 0, MAX_HEADER + 4)
            if end < 0:
                if len(buffer) > MAX_HEADER:
                    raise ProtocolError(f"HTTP header over {MAX_HEADER // 1024} KiB")
                return None
            self.head = parse_head(bytes(self.buffer[:end]), self.max_body)
            del self.buffer[: end + 4]
        head = self.head
        if len(self.buffer) < head.length:
            return None
        # more than announced: the line is out of step, so it is not kept for the next request
        keep = head.keep_alive and len(self.buffer) == head.length
        return HttpAnswer(head.status, bytes(self.buffer[: head.length]), head.cookies, keep)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.head is None and not self.buffer:
            waiter.set_exception(ClosedBeforeAnswer(self.answered > 0))
        elif self.head is None:
            waiter.set_exception(ProtocolError("the plug closed the connection mid-header"))
        else:
            waiter.set_exception(
                ProtocolError(
                    f"the plug closed the connection after {len(self.buffer)} of "
                    f"{self.head.length} bytes of answer"
                )
            )


class HttpConnection:
    """One kept-alive HTTP connection to one plug. Errors carry no target: the transport
    that owns the connection names the plug."""

    def __init__(self, host: str, port: int, *, max_body: int = MAX_BODY) -> None:
        self.host = host
        self.port = port
        self.max_body = max_body
        self._reader: _AnswerReader | None = None
        name = f"[{host}]" if ":" in host else host  # an IPv6 literal
        authority = name if port == 80 else f"{name}:{port}"
        self._fixed = f"Host: {authority}\r\n"

    @property
    def connected(self) -> bool:
        reader = self._reader
        return reader is not None and not reader.closed

    async def post(
        self,
        path: str,
        body: bytes,
        *,
        deadline: float,
        headers: Mapping[str, str] | None = None,
        fresh_after: float | None = None,
    ) -> HttpAnswer:
        """POST ``body`` to ``path``; the answer must come by ``deadline`` (loop time).

        A kept connection found closed before sending is replaced (nothing was sent), and so
        is one idle for more than ``fresh_after`` seconds (the plug may be closing it as we
        write). A connection closed with no answer raises ``ClosedBeforeAnswer``: whether to
        send again is the caller's decision, since only it knows whether the request changes
        state.
        """
        reader = self._reader
        loop = asyncio.get_running_loop()
        if reader is not None and (
            reader.closed
            or reader.transport is None
            or reader.transport.is_closing()
            or (fresh_after is not None and loop.time() - reader.idle_since > fresh_after)
        ):
            self.close()
            reader = None
        if reader is None:
            reader = await self._connect(deadline)
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        request = (
            f"POST {path} HTTP/1.1\r\n{self._fixed}{extra}Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        waiter: asyncio.Future[HttpAnswer] = loop.create_future()
        reader.expect(waiter)
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            assert reader.transport is not None  # connected above, or reused while open
            reader.transport.write(request)
            answer = await waiter
        finally:
            timer.cancel()
            reader.waiter = None
        if not answer.keep_alive:
            self.close()
        return answer

    async def _connect(self, deadline: float) -> _AnswerReader:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                _, reader = await loop.create_connection(
                    lambda: _AnswerReader(self.max_body), self.host, self.port
                )
        except ConnectionRefusedError:
            raise TransportError(f"connection refused on port {self.port}") from None
        except socket.gaierror as exc:
            raise TransportError(f"cannot resolve host ({exc.strerror})") from None
        except OSError as exc:
            raise TransportError(exc.strerror or str(exc)) from None
        self._reader = reader
        return reader

    def close(self) -> None:
        if self._reader is not None:
            self._reader.abort()
        self._reader = None


def _expire(waiter: asyncio.Future[HttpAnswer]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())
