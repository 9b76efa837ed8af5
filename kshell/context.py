"""Session state handed to every command: no module globals.

The same Context serves the prompt, ``-c``, a script and a mail; what differs is the
Invocation: where the line came from, the permission in force, whether a person can
answer a question, and what mail may do.
"""

from __future__ import annotations

import configparser
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kshell.cache import DeviceCache
from kshell.config import Paths, get_float, get_list
from kshell.device.pool import DevicePool
from kshell.device.transports.base import Credentials
from kshell.invocation import Ask, Invocation
from kshell.registry import Registry
from kshell.transport import DEFAULT_PORT

ReadSecret = Callable[[str], Awaitable[str | None]]

if TYPE_CHECKING:  # the exporter loads only when it runs
    from kshell.metrics.server import MetricsServer


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
    invocation: Invocation = field(default_factory=Invocation)  # what the gate reads
    started: float = field(default_factory=time.time)
    extras: dict[str, Any] = field(default_factory=dict)  # state owned by command families
    metrics: MetricsServer | None = None  # the Prometheus exporter, while it serves
    login: Credentials | None = None  # typed at the prompt with `login`, for this session
    read_secret: ReadSecret | None = None  # the prompt's hidden input; None: no terminal
    devices: DevicePool = field(init=False, repr=False)  # one device per plug, kept open

    def __post_init__(self) -> None:
        self.devices = DevicePool(self.timeout, self.credentials)

    def credentials(self) -> Credentials | None:
        """The owner's cloud credentials for KLAP and AES plugs, if any are known."""
        from kshell.credentials import find

        return find(self)

    @property
    def ask(self) -> Ask | None:
        return self.invocation.ask

    @ask.setter
    def ask(self, ask: Ask | None) -> None:
        """The prompt plugs a person in (and out while a command runs in the background)."""
        self.invocation = replace(self.invocation, ask=ask)

    def close_connections(self) -> None:
        self.devices.close_all()

    @property
    def discovery_port(self) -> int:
        return self.config.getint("discovery", "port", fallback=DEFAULT_PORT)

    @property
    def tdp_port(self) -> int:
        """Where plugs of the current generation announce themselves (UDP 20002)."""
        return self.config.getint("discovery", "tdp_port", fallback=20002)

    @property
    def discovery_timeout(self) -> float:
        return get_float(self.config, "discovery", "timeout", 3.0)

    def broadcast_setting(self) -> list[str]:
        """Configured broadcast addresses; ['auto'] means every interface."""
        return get_list(self.config, "discovery", "broadcast") or ["auto"]
