"""Loaded into every Python process the test-suite starts (the tests put this folder on
PYTHONPATH): refuses to connect or send to any address outside loopback, and writes the
attempt to $KSHELL_GUARD_LOG so the test session fails loudly. Tests must never touch a
real network, and a refused send alone could go unnoticed (discovery reports it quietly).
"""

import ipaddress
import os
import socket

_LOG = os.environ.get("KSHELL_GUARD_LOG")


def _check(address: object) -> None:
    if not isinstance(address, tuple) or not address or not isinstance(address[0], str):
        return  # unix sockets and the like
    host = address[0]
    if host in ("localhost", ""):
        return
    try:
        if ipaddress.ip_address(host.split("%")[0]).is_loopback:
            return
    except ValueError:
        pass  # a host name: only loopback literals are allowed in tests
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(f"pid {os.getpid()}: refused traffic to {address!r}\n")
    raise OSError(101, f"test loopback guard: {host} is not a loopback address")


def _guard(name: str) -> None:
    original = getattr(socket.socket, name)

    def guarded(self, *args):  # type: ignore[no-untyped-def]
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(args[-1] if name == "sendto" else args[0])
        return original(self, *args)

    guarded.__name__ = name
    setattr(socket.socket, name, guarded)


for _name in ("connect", "connect_ex", "sendto"):
    _guard(_name)
