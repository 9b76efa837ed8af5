"""Run a ``Simulator`` in a daemon thread for synchronous callers (tests, ``--demo``).

    with SimulatorThread(demo_specs()) as sim:
        sim.plugs[0].host            # listeners are bound once the block starts
        sim.set_fault("127.0.0.2", "delay", 1.5)
        sim.clear_faults("127.0.0.2")
    # every port is free again here

Also the ready-made fleets: ``demo_specs`` (a pleasant house for ``--demo``) and
``bulk_specs`` (hundreds of plugs for benchmarks).
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any, Self, TypeVar

from kshell.simulator.accounts import DEMO_ACCOUNT, Account
from kshell.simulator.firmware import FirmwareConfig
from kshell.simulator.models import PLUG_MODELS
from kshell.simulator.plug import SimPlug
from kshell.simulator.server import Simulator
from kshell.simulator.spec import PlugSpec

T = TypeVar("T")


class SimulatorThread:
    """A ``Simulator`` on its own event loop in a daemon thread; thread-safe controls."""

    def __init__(
        self,
        specs: Iterable[PlugSpec | SimPlug],
        *,
        firmware: FirmwareConfig | None = None,
        start_timeout: float = 30.0,
        account: Account = DEMO_ACCOUNT,
    ) -> None:
        self.sim = Simulator(specs, firmware=firmware, account=account)
        self._timeout = start_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- life cycle --------------------------------------------------------------------
    def start(self) -> Self:
        """Start the loop; returns once every listener is bound (or raises why not)."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="kshell-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._timeout):
            raise TimeoutError("simulator did not start in time")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.sim.start())
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.sim.stop())
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def stop(self) -> None:
        """Stop serving; when this returns every socket is closed and its port free."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(self._timeout)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- access ----------------------------------------------------------------------------
    @property
    def plugs(self) -> list[SimPlug]:
        """The plugs (``.host``, ``.port``, ``.udp_port``, ``.alias``, ``.model``, ...).

        Reading attributes from another thread is fine; change state through the methods
        below (or ``call``), which run on the simulator's loop.
        """
        return self.sim.plugs

    @property
    def hosts(self) -> list[str]:
        return [p.host for p in self.sim.plugs]

    @property
    def account(self) -> Account:
        """The account KLAP/AES plugs know unless their spec names their own."""
        return self.sim.account

    @property
    def udp_port(self) -> int | None:
        """The UDP port of the first plug (all plugs of a fleet share one)."""
        return self.sim.plugs[0].udp_port if self.sim.plugs else None

    def plug(self, host: str) -> SimPlug:
        return self.sim.plug(host)

    def open_connections(self, host: str) -> int:
        """Connections plug ``host`` holds open now: what a test waits on instead of sleeping."""
        return self.call(self.sim.open_connections, host)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the simulator's loop and return its result."""
        loop = self._require_loop()
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(self._timeout)

    def _run_coro(self, coro: Any) -> Any:
        loop = self._require_loop()
        return asyncio.run_coroutine_threadsafe(coro, loop).result(self._timeout)

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._thread is None or self._loop.is_closed():
            raise RuntimeError("simulator is not running")
        return self._loop

    # -- faults ----------------------------------------------------------------------------
    def set_fault(self, host: str, name: str, value: Any = True) -> None:
        """Give plug ``host`` (address, ``host:port`` or alias) a fault; see ``FAULTS``.

        Takes effect before this returns (a refused port is closed, and so on).
        """
        self._run_coro(self.sim.set_fault(host, name, value))

    def clear_faults(self, host: str, name: str | None = None) -> None:
        """Clear one fault, or all of them; normal behaviour is back when this returns."""
        self._run_coro(self.sim.clear_faults(host, name))

    def clear_fault(self, host: str, name: str) -> None:
        self.clear_faults(host, name)

    def switch_transport(self, host: str, transport: str, login_version: int = 2) -> None:
        """A firmware update moves ``host`` to KLAP or AES (same MAC); see ``Simulator``."""
        self._run_coro(self.sim.switch_transport(host, transport, login_version))

    def power_cut(self, host: str, duration: float = 0.0) -> None:
        """Unplug ``host`` for ``duration`` seconds: connections drop, ``total`` restarts."""
        self._run_coro(self.sim.power_cut(host, duration))


# -- fleets -----------------------------------------------------------------------------------
def addresses(base: str, n: int) -> list[str]:
    """``n`` distinct addresses from ``base`` up, within 127.0.0.0/8.

    Addresses ending in .0 or .255 are skipped (they read like network and broadcast
    addresses to people and to some tools), and so is 127.255.255.255.
    """
    start = ipaddress.IPv4Address(base)
    if not start.is_loopback:
        raise ValueError(f"{base} is not in 127.0.0.0/8")
    out: list[str] = []
    addr = int(start)
    last = int(ipaddress.IPv4Address("127.255.255.254"))
    while len(out) < n:
        if addr > last:
            raise ValueError(f"not enough loopback addresses after {base} for {n} plugs")
        if addr & 0xFF not in (0, 255):
            out.append(str(ipaddress.IPv4Address(addr)))
        addr += 1
    return out


_DEMO: tuple[dict[str, Any], ...] = (
    {"alias": "Living Room Lamp", "model": "HS105(US) 1.0", "profile": "lamp"},
    {"alias": "Kitchen Kettle", "model": "HS110(EU) 2.0", "profile": "kettle"},
    {"alias": "Office Heater", "model": "HS110(EU) 1.0", "profile": "heater"},
    {
        "alias": "Media Strip",
        "model": "HS300(US) 1.0",
        "outlet_aliases": ("TV", "Soundbar", "Game Console", "Router", "Desk Lamp", "Charger"),
        "outlet_profiles": ("media", "media", "computer", "router", "lamp", "charger"),
        "outlet_states": (1, 1, 0, 1, 1, 0),
    },
    {"alias": "Garage", "model": "KP115(EU) 1.0", "profile": "freezer"},
    {"alias": "Bedroom Fan", "model": "HS100(US) 2.0", "profile": "media", "relay_state": 0},
    {"alias": "Porch Light", "model": "KL110(US) 1.0", "profile": "lamp"},
    {"alias": "Fridge", "model": "HS110(EU) 2.0", "profile": "fridge"},
)


def demo_specs(
    n: int = 5, base: str = "127.0.0.2", *, port: int = 9999, udp_port: int | None = 9999
) -> list[PlugSpec]:
    """A pleasant mixed house: lamp, kettle, heater, a six-outlet strip, a garage freezer.

    Beyond five: a plug without a meter, a bulb (which kshell lists as unsupported), a
    fridge, then numbered extra plugs.
    """
    specs = []
    for i, host in enumerate(addresses(base, n)):
        if i < len(_DEMO):
            extra = dict(_DEMO[i])
        else:
            model = PLUG_MODELS[i % len(PLUG_MODELS)]
            extra = {"alias": f"Plug {i + 1}", "model": model}
        specs.append(PlugSpec(host=host, port=port, udp_port=udp_port, seed=1000 + i, **extra))
    return specs


# the current generation (KLAP / AES on HTTP; the account is the simulator's, DEMO_ACCOUNT)
_NEW_DEMO: tuple[dict[str, Any], ...] = (
    {"alias": "Tea Kettle", "model": "P110(AU) 1.0", "profile": "kettle"},
    {"alias": "Hallway Dimmer", "model": "HS220(US) 3.26", "profile": "lamp"},
    {
        "alias": "Desk Strip",
        "model": "EP40M(US) 1.0",
        "outlet_aliases": ("Monitor", "Speakers"),
        "outlet_states": (1, 0),
    },
    {"alias": "Space Heater", "model": "KP125M(US) 1.0", "profile": "heater"},
    {"alias": "Garden Lights", "model": "HS100(UK) 4.1", "profile": "lamp"},
    {
        "alias": "Office Strip",
        "model": "P300(EU) 1.0",
        "outlet_aliases": ("PC", "Printer", "Phone Charger"),
        "outlet_profiles": ("computer", "idle", "charger"),
    },
    # a meter gone wrong: ~28 kW on every reading (the plausibility check's case)
    {"alias": "Old Freezer", "model": "P110(EU) 1.0", "profile": "freezer",
     "faults": (("bogus_power", True),)},
)  # fmt: skip


def house_specs(
    n: int = 10,
    base: str = "127.0.0.2",
    *,
    port: int = 9999,
    udp_port: int | None = 9999,
    http_port: int = 80,
    tdp_port: int | None = 20002,
) -> list[PlugSpec]:
    """A mixed house of both generations, alternating: old plugs from ``demo_specs``' list,
    new ones (KLAP/AES, SMART and IOT over KLAP) from ``_NEW_DEMO``, then numbered old plugs.

    The new plugs know ``accounts.DEMO_ACCOUNT`` (the simulator's default account), so a
    client given those credentials can log in to all of them.
    """
    old = list(_DEMO[:5])
    new = list(_NEW_DEMO)
    specs = []
    for i, host in enumerate(addresses(base, n)):
        pick = new if (i % 2 and new) or not old else old
        extra = (
            dict(pick.pop(0))
            if pick
            else {"alias": f"Plug {i + 1}", "model": PLUG_MODELS[i % len(PLUG_MODELS)]}
        )
        specs.append(
            PlugSpec(host=host, port=port, udp_port=udp_port, http_port=http_port,
                     tdp_port=tdp_port, seed=2000 + i, **extra)
        )  # fmt: skip
    return specs


# SMART plugs with a meter over KLAP v2, for fleets like the emeter benchmarks
METERED_SMART_MODELS = ("P110(AU) 1.0", "KP125M(US) 1.0")


def bulk_specs(
    n: int,
    base: str = "127.0.1.1",
    *,
    port: int = 9999,
    udp_port: int | None = 9999,
    models: Iterable[str] | None = None,
    http_port: int = 80,
    tdp_port: int | None = 20002,
) -> list[PlugSpec]:
    """``n`` plugs for benchmarks, cycling through the plug models, each on its own address.

    ``models`` may name current-generation models too (``METERED_SMART_MODELS`` for a fleet
    of SMART meters over KLAP); those answer on ``http_port`` and discovery on ``tdp_port``.
    """
    chosen = tuple(models) if models else PLUG_MODELS
    return [
        PlugSpec(
            host=host,
            port=port,
            udp_port=udp_port,
            http_port=http_port,
            tdp_port=tdp_port,
            model=chosen[i % len(chosen)],
            alias=f"Bulk Plug {i + 1:03d}",
            seed=50_000 + i,
        )
        for i, host in enumerate(addresses(base, n))
    ]
