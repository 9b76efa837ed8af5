"""Whether a loopback port is free again once a server has closed it."""

from __future__ import annotations

import errno
import socket


def port_is_free(host: str, port: int) -> bool:
    """Nobody listens there: a connection is refused and a new listener can take the port."""
    with socket.socket() as client:
        if client.connect_ex((host, port)) != errno.ECONNREFUSED:
            return False
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not a listener
        try:
            server.bind((host, port))
            server.listen()
        except OSError:
            return False
    return True
