"""The session: what one kshell process holds for as long as it runs, in typed fields.

Per-session things live here (paths, config, the device store, the registry, the device
pool, the discovery settings, the ports the prompt offers, the remote service, the plug
chosen with ``use``). Per-line things (where the line came from, the permission in force,
who can answer a question, whether a unique prefix may name a plug) live in the
``Invocation`` each line carries. A mail's lines see the same session through
``for_invocation``, which shares everything and changes only the per-line facts.
"""

from __future__ import annotations

import configparser
import copy
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from kshell.core.invocation import Ask, Invocation
from kshell.core.services import HistoryLog, MailService, MailStack, Service
from kshell.device.pool import DevicePool
from kshell.device.transports.base import Credentials
from kshell.device.transports.xor import DEFAULT_PORT
from kshell.events import Row
from kshell.lang.registry import Registry
from kshell.results import Result
from kshell.store.config import Paths, flag, get_list, number, port
from kshell.store.devices import DeviceStore

if TYPE_CHECKING:  # types only: none of these is imported when a session is built
    from kshell.lang.grammar import Line

ReadSecret = Callable[[str], Awaitable[str | None]]
PrintAbove = Callable[[str], None]


@dataclass(frozen=True)
class DiscoverySettings:
    """Where discovery broadcasts and listens; read from ``[discovery]`` once, or given
    explicitly (``--demo`` points it at its loopback plugs without touching the config)."""

    broadcast: tuple[str, ...] = ("auto",)  # ('auto',): every interface's broadcast
    port: int = DEFAULT_PORT  # UDP 9999, the first generation
    tcp_port: int = DEFAULT_PORT  # what an answer's plug is asked on afterwards
    tdp_port: int = 20002  # UDP, where the current generation announces itself
    timeout: float = 3.0
    refresh_on_start: bool = True  # the prompt discovers in the background as it opens

    @classmethod
    def from_config(cls, config: configparser.ConfigParser) -> DiscoverySettings:
        return cls(
            broadcast=tuple(get_list(config, "discovery", "broadcast") or ["auto"]),
            port=port(config, "discovery", "port"),
            tcp_port=port(config, "discovery", "tcp_port"),
            tdp_port=port(config, "discovery", "tdp_port"),
            timeout=number(config, "discovery", "timeout"),
            refresh_on_start=flag(config, "discovery", "refresh_on_start"),
        )


@dataclass
class Ports:
    """What the interactive surface offers while a prompt is open; nothing without one."""

    print_above: PrintAbove | None = None  # a line above the running prompt (event loop thread)
    prompt_open: bool = False
    exit_requested: bool = False  # `exit` asks; the prompt's loop ends at the next line


@dataclass
class Readings:
    """The last meter reading per plug label: the toolbar's watts, a counter-reset check."""

    power_w: dict[str, float | None] = field(default_factory=dict)
    total_kwh: dict[str, float] = field(default_factory=dict)


AfterCommand = Callable[["Session", "Line", bool], None]
# Runs one line as if typed, handing each result or row to the callback as it comes; whether
# it succeeded. The ui layer's runner is it (installed by kshell.app.build): `replay` runs
# its lines through it without importing the surface.
RunLine = Callable[["Session", str, Callable[["Result | Row"], None]], Awaitable[bool]]


@dataclass(eq=False)  # one object per process (its views share it): compared by identity
class Session:
    """Everything one kshell process holds while it runs (see the module's docstring).

    Every dataclass here has a docstring: without one, dataclass builds it from the
    signature, which costs a one-shot command's start-up time."""

    paths: Paths
    config: configparser.ConfigParser
    store: DeviceStore
    registry: Registry
    timeout: float = 5.0
    debug: bool = False
    current: str | None = None  # set by `use TARGET`
    invocation: Invocation = field(default_factory=Invocation)  # the line's facts, for the gate
    started: float = field(default_factory=time.time)
    login: Credentials | None = None  # typed at the prompt with `login`, or the demo's account
    read_secret: ReadSecret | None = None  # the prompt's hidden input; None: no terminal
    discovery: DiscoverySettings = field(default_factory=DiscoverySettings)
    ports: Ports = field(default_factory=Ports)
    readings: Readings = field(default_factory=Readings)
    refresh_status: str | None = None  # the start-up discovery, for the toolbar
    remote: MailService | None = None  # remote mode's service while `remote on` holds it
    metrics: Service | None = None  # the Prometheus exporter, while it serves
    history: HistoryLog | None = None  # opened on first use (kshell.history.store)
    after_command: list[AfterCommand] = field(default_factory=list)  # `record FILE` is one
    # what the app hands in (kshell.app.build); None where no app built the session
    mail: MailStack | None = None  # the mail stack, for the `remote` commands
    run_line: RunLine | None = None  # how `replay` runs a line
    devices: DevicePool = field(init=False, repr=False)  # one device per plug, kept open

    def __post_init__(self) -> None:
        self.devices = DevicePool(self.timeout, self.credentials, self.login_trust)

    def for_invocation(self, invocation: Invocation) -> Session:
        """The same session for lines from another source (a mail): everything shared
        (pool, store, ports) but the per-line facts, and no plug chosen with ``use``."""
        view = copy.copy(self)
        view.invocation = invocation
        view.current = None
        return view

    def credentials(self) -> Credentials | None:
        """The owner's cloud credentials for KLAP and AES plugs, if any are known."""
        from kshell.store.credentials import find

        return find(self)

    def login_trust(self, host: str, port: int, mac: str) -> str:
        """How far the store trusts the AES plug at host:port with the owner's login: only
        a row at that address that is that AES plug (the MAC ``mac`` claims, when one was
        claimed) and that the owner trusted (``add``), as ssh's known_hosts does."""
        from kshell.device.pool import LOGIN_TRUST, UNTRUSTED
        from kshell.store.devices import normalise_mac

        record = self.store.by_address(host, port)
        if record is None or record.transport != "aes" or not record.mac:
            return UNTRUSTED
        if mac and normalise_mac(mac) != record.mac:
            return UNTRUSTED  # another plug claims this address
        return record.login_trust if record.login_trust in LOGIN_TRUST else UNTRUSTED

    @property
    def interactive(self) -> bool:
        """A person is at the prompt of this process."""
        return self.ports.prompt_open

    @property
    def assume_yes(self) -> bool:
        return self.invocation.assume_yes

    @property
    def ask(self) -> Ask | None:
        return self.invocation.ask

    @ask.setter
    def ask(self, ask: Ask | None) -> None:
        """The prompt plugs a person in (and out while a command runs in the background)."""
        self.invocation = replace(self.invocation, ask=ask)

    def close_connections(self) -> None:
        self.devices.close_all()

    # The discovery settings under the names commands used before they were typed.
    @property
    def discovery_port(self) -> int:
        return self.discovery.port

    @property
    def tdp_port(self) -> int:
        """Where plugs of the current generation announce themselves (UDP 20002)."""
        return self.discovery.tdp_port

    @property
    def discovery_timeout(self) -> float:
        return self.discovery.timeout

    def broadcast_setting(self) -> list[str]:
        """Configured broadcast addresses; ['auto'] means every interface."""
        return list(self.discovery.broadcast)


__all__ = ["DiscoverySettings", "Ports", "Readings", "Session"]
