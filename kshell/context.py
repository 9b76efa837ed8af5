"""Session state handed to every command: no module globals.

The same Context serves the prompt, ``-c``, a script and a mail; what differs is
whether a person can answer a question (``ask``) and the permission in force.
"""

from __future__ import annotations

import configparser
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from kshell.cache import DeviceCache
from kshell.config import Paths, get_float, get_list
from kshell.registry import Registry
from kshell.transport import DEFAULT_PORT, Connection

# Where the line being run came from. A person typing (the prompt, -c) may name a plug by a
# unique prefix; a script file or a mail may not: a later rename must not change what it means.
Origin = Literal["prompt", "command", "script", "mail"]
PREFIX_ORIGINS: tuple[Origin, ...] = ("prompt", "command")


@dataclass
class Context:
    paths: Paths
    config: configparser.ConfigParser
    cache: DeviceCache
    registry: Registry
    timeout: float = 5.0
    interactive: bool = False
    assume_yes: bool = False
    debug: bool = False
    current: str | None = None  # set by `use TARGET`
    permission: str = "admin"  # what the source of the current line may do
    source: str = "local"  # local | mail
    origin: Origin = "script"  # per line (moves to the Invocation): see PREFIX_ORIGINS
    ask: Callable[[str], Awaitable[bool]] | None = None  # None: nobody can answer
    started: float = field(default_factory=time.time)
    connections: dict[tuple[str, int], Connection] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)  # state owned by command families

    def connection(self, host: str, port: int = DEFAULT_PORT) -> Connection:
        """The kept-open connection to a plug (one per plug: one request in flight)."""
        conn = self.connections.get((host, port))
        if conn is None:
            conn = self.connections[(host, port)] = Connection(host, port, self.timeout)
        return conn

    def close_connections(self) -> None:
        for conn in self.connections.values():
            conn.close()
        self.connections.clear()

    @property
    def discovery_port(self) -> int:
        return self.config.getint("discovery", "port", fallback=DEFAULT_PORT)

    @property
    def discovery_timeout(self) -> float:
        return get_float(self.config, "discovery", "timeout", 3.0)

    def broadcast_setting(self) -> list[str]:
        """Configured broadcast addresses; ['auto'] means every interface."""
        return get_list(self.config, "discovery", "broadcast") or ["auto"]
