"""A transient HTTP server that hands one firmware image to the plugs, and nothing else.

Plugs fetch firmware over plain HTTP only (with ``https://`` they accept the request and
then fail), so the image must be served from this machine for the length of the flow:

* a peer that is not a plug being updated (its address is given to ``issue``) is closed at
  accept, before it can hold a connection: strangers cannot starve the plug's download. Each
  peer may hold only a few connections at once (a plug fetches one image at a time);
* each plug gets its own unguessable path (``/<random token>/<image name>``), answered only
  to that plug's own address when it is known: a bystander who sniffed a URL gets 404 and
  is never counted as the plug's download ("the whole image went out" is what the flow
  checks before flashing);
* everything else (other paths, ``..``, queries, other methods) is answered 404: no listing,
  no traversal, since the only thing served is a bytes object held in memory;
* the bytes served are the bytes whose hash was checked (read once, before the server starts);
* each request is logged with the bytes actually sent and whether the whole image went out;
* ``close()`` is synchronous and idempotent: listening sockets closed, open transfers aborted,
  so a ``finally`` can always run it, whatever ended the flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import quote, urlsplit

from kshell.errors import KshellError

HEAD_LIMIT = 8192  # bytes of request line + headers we accept
HEAD_TIMEOUT = 10.0  # seconds a client may take to send its request
SEND_TIMEOUT = 30.0  # seconds a client may leave a chunk unread before we give up on it
CHUNK = 64 * 1024
MAX_CLIENTS = 256
MAX_PER_PEER = 4  # connections at once from one address
MAX_LOGGED_STRANGERS = 32  # strangers logged one line each (the first time), then counted


class StagingError(KshellError):
    kind = "staging"


@dataclass
class Transfer:
    """One request the server answered (the log line)."""

    client: str
    method: str
    path: str
    status: int = 0
    plug: str | None = None  # the plug whose path it was, None for anything else
    bytes_sent: int = 0
    size: int = 0
    complete: bool = False
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    def json(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "plug": self.plug,
            "bytes_sent": self.bytes_sent,
            "complete": self.complete,
            "seconds": round((self.ended or time.monotonic()) - self.started, 3),
        }


class StagingServer:
    """Serves ``data`` at one path per plug on ``binds`` (one port for all addresses)."""

    def __init__(
        self,
        data: bytes,
        name: str,
        binds: list[str],
        port: int = 0,
        *,
        on_request: Callable[[Transfer], None] | None = None,
        send_timeout: float = SEND_TIMEOUT,
    ) -> None:
        if not binds:
            raise ValueError("nothing to bind to")
        self.data = data
        self.name = quote(name.replace("/", "_"), safe="._-") or "firmware.bin"
        self.binds = list(dict.fromkeys(binds))
        self.port = port
        self.on_request = on_request
        self.send_timeout = send_timeout
        self.transfers: list[Transfer] = []
        self._paths: dict[str, tuple[str, str | None]] = {}  # path -> (plug label, its address)
        self._servers: list[asyncio.AbstractServer] = []
        self._handlers: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._peers: dict[str | None, int] = {}  # connections open per peer address
        self.strangers = 0  # connections closed at accept: not from a plug being updated
        self._strangers_seen: set[str | None] = set()
        self.closed = False

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on every bind address, all on one port (the first bind picks it if 0)."""
        try:
            for host in self.binds:
                server = await asyncio.start_server(
                    self._serve, host, self.port, limit=HEAD_LIMIT, family=_family(host)
                )
                self._servers.append(server)
                if not self.port:
                    self.port = server.sockets[0].getsockname()[1]
        except OSError as exc:
            self.close()
            where = ", ".join(self.binds)
            raise StagingError(
                f"cannot listen on {where} port {self.port or 'any'}: {exc.strerror or exc}"
            ) from None

    def close(self) -> None:
        """Stop listening and drop every transfer in flight. Safe to call any number of times."""
        self.closed = True
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._handlers):
            if task is not asyncio.current_task():
                task.cancel()

    async def aclose(self) -> None:
        self.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        handlers = [t for t in self._handlers if t is not asyncio.current_task()]
        if handlers:
            await asyncio.wait(handlers, timeout=2.0)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- what the flow asks ------------------------------------------------------------

    def issue(self, plug: str, address: str, client: str | None = None) -> str:
        """A fresh URL for one plug, on the local ``address`` that plug can reach; with
        ``client`` (the plug's own IP address), answered to that address only (a host name
        is not resolved here: its URL is answered to anyone who has it, as before)."""
        path = f"/{secrets.token_urlsafe(24)}/{self.name}"
        self._paths[path] = (plug, _normal(client) if client else None)
        host = f"[{address}]" if ":" in address else address
        return f"http://{host}:{self.port}{path}"

    def bytes_sent(self, plug: str) -> int:
        return sum(t.bytes_sent for t in self.transfers if t.plug == plug)

    def complete(self, plug: str) -> bool:
        """Has the whole image gone out to this plug at least once?"""
        return any(t.complete for t in self.transfers if t.plug == plug)

    def fetched(self, plug: str) -> bool:
        return any(t.plug == plug and t.status == 200 for t in self.transfers)

    @property
    def total_sent(self) -> int:
        return sum(t.bytes_sent for t in self.transfers)

    # -- HTTP ----------------------------------------------------------------------------

    def _admits(self, peer: str | None) -> bool:
        """Is this peer a plug being updated? Anyone, while a path was issued for a plug known
        only by name (not resolved here)."""
        clients = {owner for _, owner in self._paths.values()}
        return None in clients or peer in clients

    def _turn_away(self, writer: asyncio.StreamWriter, peer: tuple[Any, ...], why: int) -> None:
        writer.transport.abort()  # no answer, no buffer, no descriptor kept
        self.strangers += 1
        address = _normal(str(peer[0]))
        if address in self._strangers_seen or len(self._strangers_seen) >= MAX_LOGGED_STRANGERS:
            return  # logged once per address: a flood must not flood the log too
        self._strangers_seen.add(address)
        transfer = Transfer(client=f"{peer[0]}:{peer[1]}", method="-", path="-", status=why)
        transfer.ended = time.monotonic()
        self.transfers.append(transfer)
        if self.on_request is not None:
            self.on_request(transfer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        address = _normal(str(peer[0]))
        if not self._admits(address):
            self._turn_away(writer, peer, 403)  # closed at accept
            return
        if self._peers.get(address, 0) >= MAX_PER_PEER:
            self._turn_away(writer, peer, 429)
            return
        self._peers[address] = self._peers.get(address, 0) + 1
        try:
            await self._serve_admitted(reader, writer, peer)
        finally:
            self._peers[address] -= 1
            if not self._peers[address]:
                del self._peers[address]

    async def _serve_admitted(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: tuple[Any, ...]
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._writers.add(writer)
        transfer = Transfer(client=f"{peer[0]}:{peer[1]}", method="-", path="-")
        try:
            if self.closed or len(self._writers) > MAX_CLIENTS:
                transfer.status = 503
                await self._reply(writer, 503, b"busy\n")
                return
            try:
                async with asyncio.timeout(HEAD_TIMEOUT):
                    head = await reader.readuntil(b"\r\n\r\n")
            except (
                asyncio.LimitOverrunError,
                asyncio.IncompleteReadError,
                TimeoutError,
                ValueError,
            ):
                transfer.status = 400
                await self._reply(writer, 400, b"bad request\n")
                return
            method, path = _request_line(head)
            transfer.method, transfer.path = method[:16], _loggable(path)
            owner = self._paths.get(path) if method in ("GET", "HEAD") else None
            plug = owner[0] if owner and owner[1] in (None, _normal(str(peer[0]))) else None
            if plug is None:
                transfer.status = 404
                await self._reply(writer, 404, b"not found\n")
                return
            transfer.plug, transfer.status, transfer.size = plug, 200, len(self.data)
            await self._send_image(writer, transfer, body=method == "GET")
        except (ConnectionError, OSError, TimeoutError):
            pass  # the client went away or stopped reading: the log shows how far it got
        finally:
            transfer.ended = time.monotonic()
            self.transfers.append(transfer)
            self._writers.discard(writer)
            if self.closed:
                writer.transport.abort()
            else:
                writer.close()  # flushes what is buffered, then closes
            if task is not None:
                self._handlers.discard(task)
            if self.on_request is not None:
                self.on_request(transfer)

    async def _send_image(
        self, writer: asyncio.StreamWriter, transfer: Transfer, body: bool
    ) -> None:
        head = (
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/octet-stream\r\n"
            f"Content-Length: {len(self.data)}\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(head.encode("ascii"))
        if not body:
            await writer.drain()
            return
        view = memoryview(self.data)
        for start in range(0, len(view), CHUNK):
            chunk = view[start : start + CHUNK]
            writer.write(chunk)
            async with asyncio.timeout(self.send_timeout):
                await writer.drain()
            transfer.bytes_sent += len(chunk)
        transfer.complete = transfer.bytes_sent == len(self.data)

    async def _reply(self, writer: asyncio.StreamWriter, status: int, text: bytes) -> None:
        reason = {400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}[status]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(text)}\r\nConnection: close\r\n\r\n".encode("ascii")
            + text
        )
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            async with asyncio.timeout(5.0):
                await writer.drain()


def _request_line(head: bytes) -> tuple[str, str]:
    """(method, path) of a request; an absolute-form target is reduced to its path."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return "?", "?"
    method, target = parts[0], parts[1]
    if target.lower().startswith("http://"):
        split = urlsplit(target)
        target = split.path + ("?" + split.query if split.query else "")
    return method, target


def _loggable(path: str) -> str:
    """A request path fit for a log line: bounded, control characters made visible."""
    text = "".join(ch if 32 <= ord(ch) < 127 else f"\\x{ord(ch):02x}" for ch in path[:200])
    return text + ("..." if len(path) > 200 else "")


def _normal(address: str) -> str | None:
    """An address as the kernel reports peers (an IPv4-mapped IPv6 one as IPv4); None for
    a host name."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


def _family(host: str) -> int:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return socket.AF_UNSPEC


# --- which local address the plug can reach ----------------------------------------------


def choose_local_address(plug_ip: str) -> tuple[str, str]:
    """(address, reason): the interface whose network holds the plug, else the kernel's route.

    The most specific network wins when several interfaces hold the plug's address.
    """
    ip = ipaddress.IPv4Address(plug_ip)
    best: tuple[int, str, str] | None = None
    try:
        import netifaces

        for iface in netifaces.interfaces():
            for entry in netifaces.ifaddresses(iface).get(netifaces.AF_INET, []):
                addr, mask = entry.get("addr"), entry.get("netmask")
                if not addr or not mask:
                    continue
                try:
                    net = ipaddress.IPv4Network(f"{addr}/{mask}", strict=False)
                except ValueError:
                    continue
                if ip in net and (best is None or net.prefixlen > best[0]):
                    best = (net.prefixlen, addr, f"interface {iface} ({net})")
    except (ImportError, OSError, ValueError):
        best = None  # no interface list: the route below still answers
    if best is not None:
        return best[1], best[2]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((plug_ip, 9999))  # UDP connect sends nothing; it only picks a route
            return probe.getsockname()[0], "the kernel's route to the plug"
    except OSError as exc:
        raise StagingError(
            f"no local address reaches {plug_ip} ({exc.strerror or exc}): give --bind ADDR",
            target=plug_ip,
        ) from None
