"""``PlugState``: the state of one simulated device, and what its handlers act on.

The request handling (``SimPlug.handle``, in ``plug``) picks a handler table and calls the
handlers (``iot_system``, ``iot_meter``, ``everyday``) with the state; they type it as this
class, so the handlers sit below the plug that dispatches to them.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Callable
from typing import Any

from kshell.simulator.energy import PROFILES, EnergyMeter, LoadProfile
from kshell.simulator.faults import Faults
from kshell.simulator.firmware import DownloadJob, FirmwareConfig
from kshell.simulator.models import ModelSpec, make_identity
from kshell.simulator.parts import (
    ENTRY_NOT_EXIST,
    INVALID_ARGUMENT,
    DeviceError,
    RuleTable,
    Socket,
)
from kshell.simulator.smart_models import get_model
from kshell.simulator.spec import PlugSpec, resolve_transport
from kshell.simulator.wall import PlugClock

_PROFILE_BY_MODEL = {  # what people tend to plug into each kind of device
    "HS100": ("lamp", "media", "router", "charger"),
    "HS105": ("lamp", "charger", "router"),
    "HS110": ("fridge", "heater", "kettle", "computer", "media"),
    "HS300": ("media", "computer", "router", "charger", "lamp", "idle"),
    "KP115": ("freezer", "fridge", "computer", "heater"),
    "KL110": ("lamp",),
}
_TZ_INDEX = {"EU": 41, "UK": 39, "US": 18}  # kasa timezone indices: Amsterdam, GB, New York


class PlugState:
    """One simulated Kasa device (plug, strip or bulb): its state, without the dispatch."""

    def __init__(
        self,
        spec: PlugSpec,
        *,
        firmware: FirmwareConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spec = spec
        self.kind: ModelSpec = get_model(spec.model)
        self.clock = clock
        self.firmware = firmware or FirmwareConfig()
        self.host = spec.host
        self.port = spec.port
        self.udp_port = spec.udp_port
        self.transport, self.login_version = resolve_transport(spec, self.kind.key)
        self.http_port = spec.http_port
        self.tdp_port = spec.tdp_port
        self.seed = (
            spec.seed
            if spec.seed is not None
            else int(hashlib.sha1(f"{spec.host}:{spec.port}".encode()).hexdigest()[:8], 16)
        )
        rng = random.Random(self.seed)
        born_host, _, born_port = (spec.identity or spec.host).partition(":")
        ident = make_identity(self.kind, born_host, int(born_port or spec.port))
        self.device_id = ident.device_id
        self.hw_id = ident.hw_id
        self.oem_id = ident.oem_id
        self.fw_id = ident.fw_id
        self.mac = ident.mac
        self.sw_ver = spec.sw_ver or self.kind.sw_ver
        self.led_off = 1 if spec.led_off else 0
        self.rssi = rng.randint(-75, -38)
        us = self.kind.nominal_voltage < 200
        lat, lon = (40.7128, -74.006) if us else (52.3676, 4.9041)
        self.latitude = round(lat + rng.uniform(-0.05, 0.05), 4)
        self.longitude = round(lon + rng.uniform(-0.05, 0.05), 4)
        self.tz_index = _TZ_INDEX.get(self.kind.region, 41 if not us else 18)
        self.faults = Faults()
        for name, value in spec.faults:
            self.faults.set(name, value)
        self.smart: Any = None  # the SmartApi of a SMART plug, set by the server (web.make_web)
        # what an AES client sent it ("handshake", each login_device's params), for tests
        self.aes_received: list[Any] = []
        self.down = False  # rebooting / flashing: not answering
        self.on_network_change: Callable[[], None] | None = None  # set by the server
        self._outage: asyncio.TimerHandle | None = None
        self._stuck_after: Callable[[], None] | None = None
        self.download_job: DownloadJob | None = None  # the firmware being fetched
        self.cloud = {"username": "", "server": "devs.tplinkcloud.com", "binded": 0}
        self.wall = PlugClock(clock(), spec.clock_drift, spec.clock_speed)
        self.schedule = RuleTable(enable=1)
        self.anti_theft = RuleTable(enable=0)
        self.count_down = RuleTable(enable=1, limit=1)
        self.light: dict[str, Any] = {
            "mode": "normal",
            "hue": 0,
            "saturation": 0,
            "color_temp": 2700,
            "brightness": rng.choice((60, 80, 100)),
        }

        now = clock()
        uptime = 3600 * 24 * (1 + rng.random() * 20)
        self.booted_at = now - uptime
        family = self.kind.model[:5]
        default_alias = spec.alias or f"{family} {self.host.rsplit('.', 1)[-1]}"
        self._alias = default_alias
        self.sockets: list[Socket] = []
        if self.kind.is_strip:
            n = self.kind.children
            aliases = spec.outlet_aliases or tuple(f"Plug {i + 1}" for i in range(n))
            profiles = spec.outlet_profiles or tuple(
                rng.choice(_PROFILE_BY_MODEL["HS300"]) for _ in range(n)
            )
            states = spec.outlet_states or tuple(1 if i % 3 != 2 else 0 for i in range(n))
            for i in range(n):
                self.sockets.append(
                    self._make_socket(
                        f"{self.device_id}{i:02d}",
                        aliases[i],
                        states[i],
                        profiles[i],
                        self.seed * 31 + i,
                        now,
                        uptime,
                    )
                )
        else:
            profile = spec.profile or rng.choice(_PROFILE_BY_MODEL.get(family, PROFILES))
            self.sockets.append(
                self._make_socket(
                    "", default_alias, spec.relay_state, profile, self.seed, now, uptime
                )
            )

    def _make_socket(
        self, sid: str, alias: str, state: int, profile: str, seed: int, now: float, up: float
    ) -> Socket:
        load = LoadProfile(profile, seed, self.kind.nominal_voltage)
        if self.kind.is_bulb:
            load.on_w = 10.0 * self.light["brightness"] / 100  # an LED bulb's own draw
            load.mean_w = load.on_w
        meter = EnergyMeter(
            load,
            seed=seed,
            nominal_v=self.kind.nominal_voltage,
            rated_w=self.kind.rated_power_w,
            now=now,
            on=bool(state),
            uptime_s=up,
        )
        on_since = now - up * random.Random(seed).uniform(0.2, 1.0)
        return Socket(sid, alias, 1 if state else 0, meter, on_since)

    # -- public state ------------------------------------------------------------------
    @property
    def model(self) -> str:
        return self.kind.model

    @property
    def hw_ver(self) -> str:
        return self.kind.hw_ver

    @property
    def alias(self) -> str:
        return self._alias

    @alias.setter
    def alias(self, name: str) -> None:
        self._alias = name
        if not self.kind.is_strip:
            self.sockets[0].alias = name

    @property
    def relay_state(self) -> int:
        """The plug's relay; for a strip, 1 when any outlet is on."""
        return int(any(s.state for s in self.sockets))

    @property
    def children(self) -> list[Socket]:
        return self.sockets if self.kind.is_strip else []

    @property
    def main(self) -> Socket:
        return self.sockets[0]

    @property
    def is_http(self) -> bool:
        """A plug of the current generation: KLAP or AES on HTTP, no TCP 9999."""
        return self.transport != "xor"

    @property
    def discovery_port(self) -> int | None:
        return self.tdp_port if self.is_http else self.udp_port

    @property
    def answers_tcp(self) -> bool:
        if self.is_http:
            return False
        return not (self.down or {"offline", "tcp_dead", "klap"} & self.faults.snapshot().keys())

    @property
    def answers_http(self) -> bool:
        return self.is_http and not (
            self.down or {"offline", "tcp_dead"} & self.faults.snapshot().keys()
        )

    @property
    def answers_udp(self) -> bool:
        return not (self.down or "offline" in self.faults)

    def schedule_reboot(self, delay: float) -> None:
        """Go down after ``delay`` seconds for the reboot time, then come back."""
        self.schedule_outage(delay, self.firmware.reboot_time)

    def __repr__(self) -> str:
        return f"<SimPlug {self.host}:{self.port} {self.kind.key} {self.alias!r}>"

    def outlets_named(self, context: Any) -> list[Socket] | None:
        """The outlets a strip's context names; None without a (usable) context."""
        if context is None or not self.kind.is_strip:
            return None
        if not isinstance(context, dict) or "child_ids" not in context:
            return None  # as the firmware does: an odd context is ignored
        ids = context["child_ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise DeviceError(INVALID_ARGUMENT)
        by_id = {s.id: s for s in self.sockets}
        # real strips also accept the bare two-digit suffix ("00".."05")
        by_id.update({s.id[-2:]: s for s in self.sockets})
        try:
            return [by_id[i] for i in ids]
        except KeyError:
            raise DeviceError(ENTRY_NOT_EXIST) from None

    def outlet_named(self, context: Any) -> Socket:
        """The first outlet a strip's context names, else the plug's own (or a strip's first)."""
        targets = self.outlets_named(context)
        return targets[0] if targets else self.sockets[0]

    # -- outages: reboot, flash, power cut ---------------------------------------------
    def _notify(self) -> None:
        if self.on_network_change is not None:
            self.on_network_change()

    def schedule_outage(
        self, delay: float, duration: float, after: Callable[[], None] | None = None
    ) -> None:
        """Stop answering after ``delay`` for ``duration`` seconds, then boot again."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (direct unit use): the reboot is instantaneous
            self._boot(after)
            return
        if self._outage is not None:
            self._outage.cancel()

        def go_down() -> None:
            self.down = True
            self._notify()
            self._outage = loop.call_later(duration, come_back)

        def come_back() -> None:
            self._outage = None
            if after is not None and "fw_never_back" in self.faults:
                self._stuck_after = after  # waits for the fault to be cleared
                return
            self._boot(after)

        # a moment's grace so the answer that caused the outage leaves first
        self._outage = loop.call_later(max(delay, 0.05), go_down)

    def _boot(self, after: Callable[[], None] | None) -> None:
        now = self.clock()
        if after is not None:
            after()
        self.booted_at = now
        for s in self.sockets:
            s.meter.reboot(now, bool(s.state))
            if s.state:
                s.on_since = now  # on_time counts from the boot
        self.download_job = None
        self.down = False
        self._stuck_after = None
        self._notify()

    def faults_changed(self) -> None:
        """Called by the server after faults were set or cleared."""
        if self._stuck_after is not None and "fw_never_back" not in self.faults:
            self._boot(self._stuck_after)

    def power_cut(self, duration: float = 0.0) -> None:
        """Unplug and replug: the since-boot total restarts, relays keep their state."""
        if self._outage is not None:
            self._outage.cancel()
            self._outage = None
        if duration <= 0:
            self.down = True
            self._notify()
            self._boot(None)
            return
        self.down = True
        self._notify()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._boot(None)
            return
        self._outage = loop.call_later(duration, self._boot, None)

    def shutdown(self) -> None:
        """Cancel timers and downloads (the simulator is stopping)."""
        if self._outage is not None:
            self._outage.cancel()
            self._outage = None
        if self.download_job is not None:
            self.download_job.cancel()
