"""``SimPlug``: the state and the request handling of one simulated device.

``SimPlug.handle(request) -> answer`` works on decoded JSON, with no I/O, the way the
firmware of a real plug answers: every module in the request is answered in one reply, an
unknown module gets ``{"err_code": -1, "err_msg": "module not support"}`` at module level, an
unknown method ``{"err_code": -2, "err_msg": "member not support"}`` at method level, bad
arguments ``-3 "invalid argument"``, an unknown child id ``-14 "entry not exist"``.

Strips (HS300) read ``"context": {"child_ids": [...]}`` first: relay, alias, emeter and runtime
statistics then address those outlets (relay changes apply to all ids given, the others to the
first). Without a context, a strip's ``set_relay_state`` switches every outlet and its emeter
answers for the first outlet (slot 0), as later hardware says outright with ``slot_id``.
Devices without children ignore a context.

Handlers run on the simulator's event loop only; ``handle`` reads the clock it was given.
"""

from __future__ import annotations

import asyncio
import calendar
import functools
import hashlib
import math
import random
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from kshell.simulator import everyday
from kshell.simulator.accounts import Account
from kshell.simulator.energy import PROFILES, EnergyMeter, LoadProfile, local_day
from kshell.simulator.faults import Faults
from kshell.simulator.firmware import (
    STATUS_IDLE,
    DownloadJob,
    FirmwareConfig,
    parse_image,
)
from kshell.simulator.models import ModelSpec, get_model, make_identity

Answer = dict[str, Any]

MODULE_NOT_SUPPORT = {"err_code": -1, "err_msg": "module not support"}
MEMBER_NOT_SUPPORT = {"err_code": -2, "err_msg": "member not support"}
INVALID_ARGUMENT = {"err_code": -3, "err_msg": "invalid argument"}
ENTRY_NOT_EXIST = {"err_code": -14, "err_msg": "entry not exist"}
TABLE_FULL = {"err_code": -10, "err_msg": "table is full"}

_PROFILE_BY_MODEL = {  # what people tend to plug into each kind of device
    "HS100": ("lamp", "media", "router", "charger"),
    "HS105": ("lamp", "charger", "router"),
    "HS110": ("fridge", "heater", "kettle", "computer", "media"),
    "HS300": ("media", "computer", "router", "charger", "lamp", "idle"),
    "KP115": ("freezer", "fridge", "computer", "heater"),
    "KL110": ("lamp",),
}
_TZ_INDEX = {"EU": 41, "UK": 39, "US": 18}  # kasa timezone indices: Amsterdam, GB, New York
_TZ_NAMES = {41: "Europe/Amsterdam", 39: "Europe/London", 18: "America/New_York"}


class DeviceError(Exception):
    """Raised by a handler: becomes that method's answer."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.get("err_msg", ""))
        self.answer = dict(answer)


@dataclass
class PlugSpec:
    """How to build one simulated device."""

    host: str
    model: str = "HS110(EU) 2.0"
    alias: str | None = None
    port: int = 9999  # 0: any free port (the bound one is in SimPlug.port)
    udp_port: int | None = 9999  # None: no UDP; 0: one free port shared by the simulator
    profile: str | None = None  # load profile (see energy.PROFILES); None: picked by seed
    seed: int | None = None  # None: derived from host and port
    relay_state: int = 1
    led_off: int = 0
    sw_ver: str | None = None  # override the model's firmware string
    outlet_aliases: tuple[str, ...] | None = None  # strips
    outlet_profiles: tuple[str, ...] | None = None
    outlet_states: tuple[int, ...] | None = None
    # the current generation (see ``web``): HTTP instead of TCP 9999, discovery on UDP 20002
    transport: str | None = None  # "xor", "klap" or "aes"; None: what the model speaks
    login_version: int | None = None  # KLAP/AES login version; None: the model's
    http_port: int = 80  # 0: any free port (the bound one is in SimPlug.http_port)
    tdp_port: int | None = 20002  # UDP discovery port of KLAP/AES plugs; 0: one free port
    account: Account | None = None  # the owner's login; None: the simulator's account
    factory_default: bool = False  # not set up yet: knows only the vendor's setup account
    session_timeout: float = 86400  # seconds a KLAP/AES session lasts (the TIMEOUT cookie)
    child_page: int = 10  # SMART strips: children per page of get_child_device_list
    faults: tuple[
        tuple[str, Any], ...
    ] = ()  # faults the plug starts with: (("bogus_power", True),)
    clock_drift: float = 0.0  # seconds the plug's own clock is off (everyday.PlugClock)
    clock_speed: float = 1.0  # how fast the plug's clock runs: tests fire rules quickly


def _transport(spec: PlugSpec, key: str) -> tuple[str, int]:
    """(transport, login version) of a spec, filling in what the model speaks."""
    from kshell.simulator.smart_models import DEFAULT_TRANSPORT

    transport, version = DEFAULT_TRANSPORT.get(key, ("xor", 0))
    transport = spec.transport or transport
    if transport not in ("xor", "klap", "aes"):
        raise ValueError(f"unknown transport {transport!r}: xor, klap or aes")
    if transport == "xor" and key in DEFAULT_TRANSPORT:
        raise ValueError(f"{key} does not speak the old protocol on TCP 9999")
    version = spec.login_version or version or 2
    if version not in (1, 2):
        raise ValueError(f"login version {version} is 1 or 2")
    return transport, version


def _int_arg(args: dict[str, Any], key: str, allowed: range | None = None) -> int:
    value = args.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DeviceError(INVALID_ARGUMENT)
    if allowed is not None and value not in allowed:
        raise DeviceError(INVALID_ARGUMENT)
    return value


class Socket:
    """One switched outlet: the plug itself, or one outlet of a strip."""

    def __init__(
        self, sid: str, alias: str, state: int, meter: EnergyMeter, on_since: float | None
    ) -> None:
        self.id = sid
        self.alias = alias
        self.state = state
        self.meter = meter
        self.on_since = on_since if state else None
        seed = meter.seed
        self.vgain = 12000 + seed % 2500
        self.igain = 15000 + (seed // 7) % 2500

    def set_state(self, now: float, state: int) -> None:
        self.meter.advance(now, bool(self.state))  # account for the old state first
        if state and not self.state:
            self.on_since = now
        elif not state:
            self.on_since = None
        self.state = state
        self.meter.advance(now, bool(state))

    def on_time(self, now: float) -> int:
        return int(now - self.on_since) if self.state and self.on_since is not None else 0


class RuleTable:
    """schedule / anti_theft / count_down rules: stored and listed, not acted on."""

    def __init__(self, enable: int, limit: int | None = None) -> None:
        self.rules: list[dict[str, Any]] = []
        self.enable = enable
        self.limit = limit

    def add(self, rule: dict[str, Any]) -> Answer:
        if self.limit is not None and len(self.rules) >= self.limit:
            raise DeviceError(TABLE_FULL)
        rid = hashlib.md5(repr((rule, len(self.rules), time.time())).encode()).hexdigest()
        self.rules.append({**rule, "id": rid.upper()})
        return {"id": rid.upper(), "err_code": 0}

    def edit(self, rule: dict[str, Any]) -> Answer:
        for i, old in enumerate(self.rules):
            if old["id"] == rule.get("id"):
                self.rules[i] = dict(rule)
                return {"err_code": 0}
        raise DeviceError(ENTRY_NOT_EXIST if "id" in rule else INVALID_ARGUMENT)

    def delete(self, rid: Any) -> Answer:
        for i, old in enumerate(self.rules):
            if old["id"] == rid:
                del self.rules[i]
                return {"err_code": 0}
        raise DeviceError(ENTRY_NOT_EXIST)


BOGUS_DAY_WH = 29_380_000.0


def _month_values(
    per_day: Callable[[date], float | int | None], year: int, month: int
) -> list[tuple[int, Any]]:
    """(day, value) for each day of the month the plug has a record of (value not None)."""
    out = []
    for day in range(1, calendar.monthrange(year, month)[1] + 1):
        value = per_day(date(year, month, day))
        if value is not None:
            out.append((day, value))
    return out


class SimPlug:
    """One simulated Kasa device (plug, strip or bulb) and its state."""

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
        self.transport, self.login_version = _transport(spec, self.kind.key)
        self.http_port = spec.http_port
        self.tdp_port = spec.tdp_port
        self.seed = (
            spec.seed
            if spec.seed is not None
            else int(hashlib.sha1(f"{spec.host}:{spec.port}".encode()).hexdigest()[:8], 16)
        )
        rng = random.Random(self.seed)
        ident = make_identity(self.kind, spec.host, spec.port)
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
        self.down = False  # rebooting / flashing: not answering
        self.on_network_change: Callable[[], None] | None = None  # set by the server
        self._outage: asyncio.TimerHandle | None = None
        self._stuck_after: Callable[[], None] | None = None
        self._job: DownloadJob | None = None
        self.cloud = {"username": "", "server": "devs.tplinkcloud.com", "binded": 0}
        self.wall = everyday.PlugClock(clock(), spec.clock_drift, spec.clock_speed)
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
        self._schedule_outage(delay, self.firmware.reboot_time)

    def __repr__(self) -> str:
        return f"<SimPlug {self.host}:{self.port} {self.kind.key} {self.alias!r}>"

    # -- the protocol --------------------------------------------------------------------
    def handle(self, request: dict[str, Any]) -> Answer:
        """Answer one decoded request the way the device's firmware would."""
        now = self.clock()
        everyday.catch_up(self, now)
        table = self._table()
        context = request.get("context") if self.kind.is_strip else None
        out: Answer = {}
        for module, methods in request.items():
            if module == "context":
                continue  # consumed, never echoed
            handlers = table.get(module)
            if handlers is None:
                out[module] = dict(MODULE_NOT_SUPPORT)
                continue
            if not isinstance(methods, dict):
                out[module] = dict(INVALID_ARGUMENT)
                continue
            answers: Answer = {}
            for method, args in methods.items():
                fn = handlers.get(method)
                if fn is None:
                    answers[method] = dict(MEMBER_NOT_SUPPORT)
                    continue
                if args is None:
                    args = {}
                if not isinstance(args, dict):
                    answers[method] = dict(INVALID_ARGUMENT)
                    continue
                try:
                    answers[method] = fn(self, args, context, now)
                except DeviceError as exc:
                    answers[method] = exc.answer
                except (TypeError, ValueError, KeyError, OverflowError):
                    answers[method] = dict(INVALID_ARGUMENT)
            out[module] = answers
        return out

    def _table(self) -> dict[str, dict[str, Handler]]:
        if self.kind.is_bulb:
            return _BULB_TABLE
        if "brightness" in self.kind.key_order:
            return _DIMMER_TABLE
        return _METER_TABLE if self.kind.has_emeter else _PLUG_TABLE

    def _targets(self, context: Any) -> list[Socket] | None:
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

    def _one(self, context: Any) -> Socket:
        targets = self._targets(context)
        return targets[0] if targets else self.sockets[0]

    # -- sysinfo -------------------------------------------------------------------------
    def sysinfo(self, now: float | None = None) -> Answer:
        now = self.clock() if now is None else now
        k = self.kind
        main = self.sockets[0]
        values: Answer = {
            "err_code": 0,
            "sw_ver": self.sw_ver,
            "hw_ver": k.hw_ver,
            "type": k.device_type,
            "mic_type": k.device_type,
            "model": k.model,
            "mac": self.mac,
            "mic_mac": self.mac.replace(":", ""),
            "deviceId": self.device_id,
            "hwId": self.hw_id,
            "fwId": self.fw_id,
            "oemId": self.oem_id,
            "alias": self._alias,
            "dev_name": k.dev_name,
            "description": k.dev_name,
            "icon_hash": "",
            "relay_state": main.state,
            "on_time": main.on_time(now),
            "active_mode": self._active_mode(),
            "feature": k.feature,
            "updating": 0,
            "rssi": self.rssi,
            "led_off": self.led_off,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "latitude_i": int(self.latitude * 10000),
            "longitude_i": int(self.longitude * 10000),
            "next_action": {"type": -1},
            "brightness": self.light["brightness"],
            **k.extra,
        }
        if k.is_strip:
            values["children"] = [
                {
                    "id": s.id,
                    "state": s.state,
                    "alias": s.alias,
                    "on_time": s.on_time(now),
                    "next_action": {"type": -1},
                }
                for s in self.sockets
            ]
            values["child_num"] = len(self.sockets)
        if k.is_bulb:
            values.update(self._bulb_sysinfo())
        return {key: values[key] for key in k.key_order if key in values}

    def _active_mode(self) -> str:
        if self.count_down.rules and self.count_down.enable:
            return "count_down"
        if self.schedule.rules and self.schedule.enable:
            return "schedule"
        return "none"

    def _bulb_sysinfo(self) -> Answer:
        return {
            "dev_state": "normal",
            "is_factory": False,
            "disco_ver": "1.0",
            "ctrl_protocols": {"name": "Linkie", "version": "1.0"},
            "light_state": self._light_state(),
            "is_dimmable": 1,
            "is_color": 0,
            "is_variable_color_temp": 0,
            "preferred_state": [
                {"index": i, "hue": 0, "saturation": 0, "color_temp": 2700, "brightness": b}
                for i, b in enumerate((100, 75, 25, 1))
            ],
            "heapsize": 291620,
        }

    def _light_state(self) -> Answer:
        if self.sockets[0].state:
            return {"on_off": 1, **self.light}
        return {"on_off": 0, "dft_on_state": dict(self.light)}

    # -- outages: reboot, flash, power cut ---------------------------------------------
    def _notify(self) -> None:
        if self.on_network_change is not None:
            self.on_network_change()

    def _schedule_outage(
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
        self._job = None
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
        if self._job is not None:
            self._job.cancel()

    # -- system ------------------------------------------------------------------------
    def _get_sysinfo(self, args: Answer, ctx: Any, now: float) -> Answer:
        return self.sysinfo(now)

    def _set_relay_state(self, args: Answer, ctx: Any, now: float) -> Answer:
        state = _int_arg(args, "state", range(2))
        targets = self._targets(ctx)
        if targets is None:
            targets = self.sockets
        for s in targets:
            s.set_state(now, state)
        return {"err_code": 0}

    def _set_led_off(self, args: Answer, ctx: Any, now: float) -> Answer:
        self.led_off = _int_arg(args, "off", range(2))
        return {"err_code": 0}

    def _set_dev_alias(self, args: Answer, ctx: Any, now: float) -> Answer:
        alias = args.get("alias")
        if not isinstance(alias, str) or not alias or len(alias) > 64:
            raise DeviceError(INVALID_ARGUMENT)
        targets = self._targets(ctx)
        if targets:
            targets[0].alias = alias
        else:
            self._alias = alias
            if not self.kind.is_strip:
                self.sockets[0].alias = alias
        return {"err_code": 0}

    def _set_dev_location(self, args: Answer, ctx: Any, now: float) -> Answer:
        if "latitude_i" in args or "longitude_i" in args:
            self.latitude = _int_arg(args, "latitude_i", range(-900000, 900001)) / 10000
            self.longitude = _int_arg(args, "longitude_i", range(-1800000, 1800001)) / 10000
        else:
            self.latitude = float(args["latitude"])
            self.longitude = float(args["longitude"])
        return {"err_code": 0}

    def _get_dev_icon(self, args: Answer, ctx: Any, now: float) -> Answer:
        return {"icon": "", "hash": "", "err_code": 0}

    def _reboot(self, args: Answer, ctx: Any, now: float) -> Answer:
        delay = _int_arg(args, "delay", range(3601)) if "delay" in args else 1
        self._schedule_outage(delay, self.firmware.reboot_time)
        return {"err_code": 0}

    def _reset(self, args: Answer, ctx: Any, now: float) -> Answer:
        delay = _int_arg(args, "delay", range(3601)) if "delay" in args else 1

        def factory_defaults() -> None:
            self._alias = f"{self.kind.model[:5]} {self.host.rsplit('.', 1)[-1]}"
            self.cloud.update(username="", binded=0)
            for table in (self.schedule, self.anti_theft, self.count_down):
                table.rules.clear()

        self._schedule_outage(delay, self.firmware.reboot_time, factory_defaults)
        return {"err_code": 0}

    def _download_firmware(self, args: Answer, ctx: Any, now: float) -> Answer:
        url = args.get("url")
        if not isinstance(url, str) or not url:
            raise DeviceError(INVALID_ARGUMENT)
        if self._job is not None:
            self._job.cancel()
        self._job = DownloadJob(url, self.firmware, self.faults, source=self.host)
        self._job.start()
        return {"err_code": 0}

    def _get_download_state(self, args: Answer, ctx: Any, now: float) -> Answer:
        if self._job is None:
            return {
                "status": STATUS_IDLE,
                "ratio": 0,
                "reboot_time": math.ceil(self.firmware.reboot_time),
                "flash_time": math.ceil(self.firmware.flash_time),
                "err_code": 0,
            }
        return self._job.answer()

    def _flash_firmware(self, args: Answer, ctx: Any, now: float) -> Answer:
        job = self._job
        if job is None or job.data is None or job.failed:
            raise DeviceError({"err_code": -5, "err_msg": "firmware not downloaded"})
        if "fw_flash_fail" in self.faults:
            raise DeviceError({"err_code": -5, "err_msg": "flash failed"})
        header = parse_image(job.data)
        if header is None or header.model != self.kind.model or header.hw != self.kind.hw_ver:
            raise DeviceError({"err_code": -5, "err_msg": "firmware verify failed"})

        def install() -> None:
            self.sw_ver = header.sw_ver

        fw = self.firmware
        self._schedule_outage(0.1, fw.flash_time + fw.reboot_time, install)
        return {"err_code": 0}

    # -- emeter --------------------------------------------------------------------------
    def _get_realtime(self, args: Answer, ctx: Any, now: float) -> Answer:
        s = self._one(ctx)
        reading = s.meter.reading(now, bool(s.state), bogus=self.faults.consume("bogus_power"))
        if self.kind.is_bulb:
            return {"power_mw": int(reading.power_w * 1000), "err_code": 0}
        if self.kind.emeter == "v1":
            return reading.as_v1()
        answer = reading.as_v2()
        if self.kind.slot_id:  # the outlet's index, before err_code as the firmware sends it
            answer = {**answer, "slot_id": self.sockets.index(s)}
            answer["err_code"] = answer.pop("err_code")
        return answer

    def _energy_entry(self, wh: float) -> Answer:
        if self.kind.emeter == "v1":
            return {"energy": round(wh / 1000, 3)}
        return {"energy_wh": round(wh)}

    def _history(self, ctx: Any, now: float) -> tuple[Socket, date]:
        """The addressed socket, its meter brought up to now, and today's date."""
        s = self._one(ctx)
        s.meter.advance(now, bool(s.state))
        return s, local_day(now)

    def _day_wh(self, s: Socket, day: date, today: date) -> float | None:
        wh = s.meter.day_wh(day, today)
        if wh is not None and day == today and "bogus_energy" in self.faults:
            return BOGUS_DAY_WH  # the firmware bug seen: a day of 29,380 kWh
        return wh

    def _get_daystat(self, args: Answer, ctx: Any, now: float) -> Answer:
        year = _int_arg(args, "year", range(1970, 2100))
        month = _int_arg(args, "month", range(1, 13))
        s, today = self._history(ctx, now)
        days = _month_values(lambda d: self._day_wh(s, d, today), year, month)
        return {
            "day_list": [
                {"year": year, "month": month, "day": day, **self._energy_entry(wh)}
                for day, wh in days
            ],
            "err_code": 0,
        }

    def _get_monthstat(self, args: Answer, ctx: Any, now: float) -> Answer:
        year = _int_arg(args, "year", range(1970, 2100))
        s, today = self._history(ctx, now)
        months = []
        for month in range(1, 13):
            days = _month_values(lambda d: self._day_wh(s, d, today), year, month)
            if days:
                months.append(
                    {"year": year, "month": month, **self._energy_entry(sum(wh for _, wh in days))}
                )
        return {"month_list": months, "err_code": 0}

    def _get_vgain_igain(self, args: Answer, ctx: Any, now: float) -> Answer:
        s = self._one(ctx)
        return {"vgain": s.vgain, "igain": s.igain, "err_code": 0}

    def _set_vgain_igain(self, args: Answer, ctx: Any, now: float) -> Answer:
        s = self._one(ctx)
        s.vgain = _int_arg(args, "vgain", range(1, 1 << 20))
        s.igain = _int_arg(args, "igain", range(1, 1 << 20))
        return {"err_code": 0}

    def _erase_emeter_stat(self, args: Answer, ctx: Any, now: float) -> Answer:
        targets = self._targets(ctx) or self.sockets
        if "erase_noop" not in self.faults:  # that firmware says 0 and erases nothing
            for s in targets:
                s.meter.erase(now)
        return {"err_code": 0}

    # -- schedule (runtime statistics and rules), anti_theft, count_down ----------------
    def _runtime_daystat(self, args: Answer, ctx: Any, now: float) -> Answer:
        year = _int_arg(args, "year", range(1970, 2100))
        month = _int_arg(args, "month", range(1, 13))
        s, today = self._history(ctx, now)
        days = _month_values(lambda d: s.meter.day_minutes(d, today), year, month)
        return {
            "day_list": [
                {"year": year, "month": month, "day": day, "time": minutes} for day, minutes in days
            ],
            "err_code": 0,
        }

    def _runtime_monthstat(self, args: Answer, ctx: Any, now: float) -> Answer:
        year = _int_arg(args, "year", range(1970, 2100))
        s, today = self._history(ctx, now)
        months = []
        for month in range(1, 13):
            days = _month_values(lambda d: s.meter.day_minutes(d, today), year, month)
            if days:
                months.append({"year": year, "month": month, "time": sum(m for _, m in days)})
        return {"month_list": months, "err_code": 0}

    def _erase_runtime_stat(self, args: Answer, ctx: Any, now: float) -> Answer:
        return {"err_code": 0}

    def _get_next_action(self, args: Answer, ctx: Any, now: float) -> Answer:
        return {"type": -1, "err_code": 0}

    # -- time, cloud, netif ----------------------------------------------------------------
    def _get_time(self, args: Answer, ctx: Any, now: float) -> Answer:
        t = datetime.fromtimestamp(now, _zone(self.tz_index))  # the plug keeps its own zone
        return {
            "year": t.year,
            "month": t.month,
            "mday": t.day,
            "hour": t.hour,
            "min": t.minute,
            "sec": t.second,
            "err_code": 0,
        }

    def _get_timezone(self, args: Answer, ctx: Any, now: float) -> Answer:
        return {"index": self.tz_index, "err_code": 0}

    def _set_timezone(self, args: Answer, ctx: Any, now: float) -> Answer:
        if "index" in args:
            self.tz_index = _int_arg(args, "index", range(110))
        return {"err_code": 0}

    def _cloud_info(self, args: Answer, ctx: Any, now: float) -> Answer:
        bound = self.cloud["binded"]
        return {
            "username": self.cloud["username"],
            "server": self.cloud["server"],
            "binded": bound,
            "cld_connection": 0,  # loopback: no cloud to reach
            "illegalType": 0,
            "stopConnect": 0,
            "tcspStatus": 0,
            "fwDlPage": "",
            "tcspInfo": "",
            "fwNotifyType": 0,
            "err_code": 0,
        }

    def _cloud_fw_list(self, args: Answer, ctx: Any, now: float) -> Answer:
        return {"fw_list": [], "err_code": 0}

    def _cloud_set_server(self, args: Answer, ctx: Any, now: float) -> Answer:
        server = args.get("server")
        if not isinstance(server, str) or not server:
            raise DeviceError(INVALID_ARGUMENT)
        self.cloud["server"] = server
        return {"err_code": 0}

    def _cloud_unbind(self, args: Answer, ctx: Any, now: float) -> Answer:
        if not self.cloud["binded"]:
            raise DeviceError(
                {"err_code": -4002, "err_msg": "Device hasn't bound to any account yet"}
            )
        self.cloud.update(username="", binded=0)
        return {"err_code": 0}

    def _scaninfo(self, args: Answer, ctx: Any, now: float) -> Answer:
        return {"ap_list": [{"ssid": "KasaSimNet", "key_type": 3}], "err_code": 0}

    # -- bulbs ---------------------------------------------------------------------------
    def _get_light_state(self, args: Answer, ctx: Any, now: float) -> Answer:
        return {**self._light_state(), "err_code": 0}

    def _transition_light_state(self, args: Answer, ctx: Any, now: float) -> Answer:
        if "brightness" in args:
            self.light["brightness"] = _int_arg(args, "brightness", range(101))
            load = self.sockets[0].meter.profile
            load.on_w = load.mean_w = 10.0 * self.light["brightness"] / 100
        if "on_off" in args:
            self.sockets[0].set_state(now, _int_arg(args, "on_off", range(2)))
        return {**self._light_state(), "err_code": 0}


Handler = Callable[[SimPlug, Answer, Any, float], Answer]


@functools.lru_cache(maxsize=8)
def _zone(index: int) -> tzinfo | None:
    """The zone of a timezone index we know; None (host local time) otherwise."""
    try:
        return zoneinfo.ZoneInfo(_TZ_NAMES[index])
    except (KeyError, zoneinfo.ZoneInfoNotFoundError):
        return None


def _rules_module(attr: str) -> dict[str, Handler]:
    """get_rules / add_rule / edit_rule / delete_rule / ... over one RuleTable."""

    def table(plug: SimPlug) -> RuleTable:
        found: RuleTable = getattr(plug, attr)
        return found

    def get_rules(plug: SimPlug, args: Answer, ctx: Any, now: float) -> Answer:
        t = table(plug)
        answer: Answer = {"rule_list": [dict(r) for r in t.rules]}
        if attr != "count_down":
            answer.update(enable=t.enable, version=2)
        return {**answer, "err_code": 0}

    def add_rule(plug: SimPlug, args: Answer, ctx: Any, now: float) -> Answer:
        return table(plug).add(args)

    def edit_rule(plug: SimPlug, args: Answer, ctx: Any, now: float) -> Answer:
        return table(plug).edit(args)

    def delete_rule(plug: SimPlug, args: Answer, ctx: Any, now: float) -> Answer:
        if "id" not in args:
            raise DeviceError({"err_code": -10002, "err_msg": "Missing neccesary argument"})
        return table(plug).delete(args["id"])

    def delete_all_rules(plug: SimPlug, args: Answer, ctx: Any, now: float) -> Answer:
        table(plug).rules.clear()
        return {"err_code": 0}

    def set_overall_enable(plug: SimPlug, args: Answer, ctx: Any, now: float) -> Answer:
        table(plug).enable = _int_arg(args, "enable", range(2))
        return {"err_code": 0}

    return {
        "get_rules": get_rules,
        "add_rule": add_rule,
        "edit_rule": edit_rule,
        "delete_rule": delete_rule,
        "delete_all_rules": delete_all_rules,
        "set_overall_enable": set_overall_enable,
    }


_SYSTEM: dict[str, Handler] = {
    "get_sysinfo": SimPlug._get_sysinfo,
    "set_relay_state": SimPlug._set_relay_state,
    "set_led_off": SimPlug._set_led_off,
    "set_dev_alias": SimPlug._set_dev_alias,
    "set_dev_location": SimPlug._set_dev_location,
    "get_dev_icon": SimPlug._get_dev_icon,
    "reboot": SimPlug._reboot,
    "reset": SimPlug._reset,
    "download_firmware": SimPlug._download_firmware,
    "get_download_state": SimPlug._get_download_state,
    "flash_firmware": SimPlug._flash_firmware,
}
_EMETER: dict[str, Handler] = {
    "get_realtime": SimPlug._get_realtime,
    "get_daystat": SimPlug._get_daystat,
    "get_monthstat": SimPlug._get_monthstat,
    "get_vgain_igain": SimPlug._get_vgain_igain,
    "set_vgain_igain": SimPlug._set_vgain_igain,
    "erase_emeter_stat": SimPlug._erase_emeter_stat,
}
_SCHEDULE: dict[str, Handler] = {
    **_rules_module("schedule"),
    "get_next_action": SimPlug._get_next_action,
    "get_daystat": SimPlug._runtime_daystat,
    "get_monthstat": SimPlug._runtime_monthstat,
    "erase_runtime_stat": SimPlug._erase_runtime_stat,
}
_TIME: dict[str, Handler] = {
    "get_time": SimPlug._get_time,
    "get_timezone": SimPlug._get_timezone,
    "set_timezone": SimPlug._set_timezone,
}
_CLOUD: dict[str, Handler] = {
    "get_info": SimPlug._cloud_info,
    "get_intl_fw_list": SimPlug._cloud_fw_list,
    "set_server_url": SimPlug._cloud_set_server,
    "unbind": SimPlug._cloud_unbind,
}
_TIME.update(everyday.IOT_TIME)  # the plug's own drifting clock, settable
_PLUG_TABLE: dict[str, dict[str, Handler]] = {
    "system": _SYSTEM,
    "schedule": _SCHEDULE,
    "anti_theft": _rules_module("anti_theft"),
    "count_down": {**_rules_module("count_down"), **everyday.IOT_COUNTDOWN},
    "time": _TIME,
    "cnCloud": _CLOUD,
    "netif": {"get_scaninfo": everyday.scaninfo, "set_stainfo": everyday.set_stainfo},
}
_METER_TABLE = {**_PLUG_TABLE, "emeter": _EMETER}
_DIMMER_TABLE: dict[str, dict[str, Handler]] = {
    **_PLUG_TABLE,
    "smartlife.iot.dimmer": everyday.IOT_DIMMER,
}
_BULB_TABLE: dict[str, dict[str, Handler]] = {
    "system": {
        "get_sysinfo": SimPlug._get_sysinfo,
        **{k: _SYSTEM[k] for k in ("download_firmware", "get_download_state", "flash_firmware")},
    },
    "smartlife.iot.common.system": {
        "set_dev_alias": SimPlug._set_dev_alias,
        "reboot": SimPlug._reboot,
    },
    "smartlife.iot.smartbulb.lightingservice": {
        "get_light_state": SimPlug._get_light_state,
        "transition_light_state": SimPlug._transition_light_state,
    },
    "smartlife.iot.common.emeter": {
        k: _EMETER[k] for k in ("get_realtime", "get_daystat", "get_monthstat")
    },
    "smartlife.iot.common.schedule": _SCHEDULE,
    "smartlife.iot.common.timesetting": _TIME,
    "smartlife.iot.common.cloud": _CLOUD,
}
