"""The old generation's TCP side: framed, XOR-ciphered JSON on kept-open connections (port 9999).

One request at a time per connection, in order; the plug's faults (``delay``, ``drop``,
``close``, ``garbage``, ``bad_length``) shape each answer.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque

from kshell.device.codec import HEADER_SIZE, MAX_FRAME, decode_datagram, encode
from kshell.errors import ProtocolError
from kshell.simulator.plug import SimPlug


class XorConn(asyncio.Protocol):
    """One client connection: frames in, answers out, one request at a time."""

    def __init__(self, plug: SimPlug, conns: set[XorConn]) -> None:
        self.plug = plug
        self.conns = conns
        self.buf = bytearray()
        self.pending: deque[bytes] = deque()
        self.busy = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conns.discard(self)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while len(self.buf) >= HEADER_SIZE:
            length = int.from_bytes(self.buf[:HEADER_SIZE], "big")
            if length > MAX_FRAME:  # a plug would choke; we just hang up
                self.abort()
                return
            if len(self.buf) < HEADER_SIZE + length:
                break
            payload = bytes(self.buf[HEADER_SIZE : HEADER_SIZE + length])
            del self.buf[: HEADER_SIZE + length]
            self.pending.append(payload)
        if not self.busy:
            self._next()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _next(self) -> None:
        """Serve queued requests in order; a delay fault pauses the queue."""
        while self.pending and self.transport is not None and not self.transport.is_closing():
            faults = self.plug.faults
            if "drop" in faults:
                self.pending.clear()  # read, never answered
                return
            if "close" in faults:
                self.pending.clear()
                self.transport.close()
                return
            payload = self.pending.popleft()
            delay = faults.get("delay")
            if delay:
                self.busy = True
                asyncio.get_running_loop().call_later(delay, self._answer_then_next, payload)
                return
            self._answer(payload)

    def _answer_then_next(self, payload: bytes) -> None:
        self.busy = False
        if self.transport is None or self.transport.is_closing():
            return
        self._answer(payload)
        self._next()

    def _answer(self, payload: bytes) -> None:
        assert self.transport is not None
        plug = self.plug
        try:
            request = decode_datagram(payload)  # same cipher and JSON, without the header
        except ProtocolError:
            self.transport.close()  # not our protocol: hang up, as a plug does
            return
        message = encode(plug.handle(request))
        faults = plug.faults
        if "garbage" in faults:
            junk = os.urandom(max(16, len(message) - HEADER_SIZE))
            message = len(junk).to_bytes(HEADER_SIZE, "big") + junk
        bad = faults.get("bad_length")
        if bad == "huge":
            message = (MAX_FRAME * 64).to_bytes(HEADER_SIZE, "big") + message[HEADER_SIZE:]
        elif bad == "short":
            claimed = len(message) - HEADER_SIZE + 64
            message = claimed.to_bytes(HEADER_SIZE, "big") + message[HEADER_SIZE:]
        self.transport.write(message)
