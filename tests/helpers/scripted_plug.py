"""A plug that says what a test scripts: framed XOR on TCP 9999, one thread, real sockets.

For answers the simulator would never give (wrong types, a refused module pair): each
request is decoded and ``answer(request)`` says what goes back (None: the plug closes the
connection instead).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kshell.device import codec as protocol

Answer = Callable[[dict[str, Any]], dict[str, Any] | None]


@contextmanager
def scripted_plug(host: str, answer: Answer, port: int = 9999) -> Iterator[list[dict[str, Any]]]:
    """Serve ``answer`` on host:port while the block runs; yields the requests as asked."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen()
    server.settimeout(0.1)
    stop = threading.Event()
    asked: list[dict[str, Any]] = []

    def converse(conn: socket.socket) -> None:
        while True:
            header = conn.recv(4)
            if len(header) < 4:
                return
            body = b""
            while len(body) < struct.unpack(">I", header)[0]:
                body += conn.recv(65536)
            request = protocol.decode(header + body)
            asked.append(request)
            reply = answer(request)
            if reply is None:
                return
            conn.sendall(protocol.encode(reply))

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    converse(conn)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield asked
    finally:
        stop.set()
        thread.join(2)
        server.close()
