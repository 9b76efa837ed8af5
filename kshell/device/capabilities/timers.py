"""Countdown timers, the cloud binding and the networks a plug sees: one interface each.

IOT: ``count_down`` (rules with ``delay`` seconds and ``act``), ``cnCloud`` (``get_info``,
``unbind``), ``netif`` (``get_scaninfo``: ``ssid``, ``key_type``; ``set_stainfo`` joins).
SMART: the countdown list and the cloud state are read, their writes are not on record and
are refused; ``get_wireless_scan_info`` lists networks and ``set_qs_info`` joins one (the
owner's account, the network and the plug's time, as python-kasa records it). A plug that
joins another network drops the link at once: no answer to the join is expected.
"""

from __future__ import annotations

import abc
import base64
import binascii
from dataclasses import dataclass
from typing import Any

from kshell.device.capabilities.declaration import Capability
from kshell.device.capabilities.rule_words import safe_id
from kshell.device.protocols.iot import IotProtocol
from kshell.device.protocols.smart import SmartError, SmartProtocol
from kshell.device.transports.base import Credentials
from kshell.errors import DeviceError, KshellError, TransportError, UnsupportedDevice

LONGEST_S = 24 * 3600 - 1  # what the vendor's app offers: up to 23 h 59 min
SECURITY = {0: "open", 1: "WEP", 2: "WPA", 3: "WPA2"}  # the IOT family's key_type
NOT_ON_RECORD = "the request format is not on record for SMART plugs (use the vendor's app)"


@dataclass(frozen=True, slots=True)
class Countdown:
    id: str
    on: bool
    delay_s: int
    remain_s: int | None
    enabled: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": "on" if self.on else "off",
            "delay_s": self.delay_s,
            "remain_s": self.remain_s,
            "enabled": self.enabled,
        }


@dataclass(frozen=True, slots=True)
class CloudState:
    bound: bool
    account: str | None  # the IOT family says the account's name
    server: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"bound": self.bound, "account": self.account, "server": self.server}


@dataclass(frozen=True, slots=True)
class Network:
    ssid: str
    dbm: int | None  # received signal strength, where the plug says it (IOT: rssi)
    level: int | None  # 0-3 bars: the plug's own (SMART: signal_level) or from the dBm
    security: str


def bars_of(dbm: int | None) -> int | None:
    """The 0-3 level a SMART plug reports, for a dBm figure (its own thresholds)."""
    if dbm is None:
        return None
    return 3 if dbm > -50 else 2 if dbm > -70 else 1


def _level(value: int | None) -> int | None:
    return value if value is not None and 0 <= value <= 3 else None


class TimersModule(abc.ABC):
    @abc.abstractmethod
    async def countdowns(self) -> list[Countdown]: ...

    @abc.abstractmethod
    async def start(self, on: bool, delay_s: int) -> Countdown: ...

    @abc.abstractmethod
    async def cancel(self) -> int: ...

    @abc.abstractmethod
    async def cloud(self) -> CloudState: ...

    @abc.abstractmethod
    async def unbind(self) -> None: ...

    @abc.abstractmethod
    async def scan(self) -> list[Network]: ...

    @abc.abstractmethod
    async def join(
        self, ssid: str, password: str, security: str, account: Credentials | None
    ) -> None: ...


def _num(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any, limit: int = 64) -> str | None:
    return value[:limit] if isinstance(value, str) and value.isprintable() else None


class IotTimers(TimersModule):
    def __init__(self, proto: IotProtocol) -> None:
        self.proto = proto

    async def _ask(self, module: str, method: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return await self.proto.query(module, method, params, idempotent=not params)
        except DeviceError as exc:
            if exc.code in (-1, -2):
                raise UnsupportedDevice(
                    f"the plug has no {module} module", target=self.proto.label
                ) from None
            raise

    async def countdowns(self) -> list[Countdown]:
        listed = (await self._ask("count_down", "get_rules")).get("rule_list")
        out = []
        for raw in listed[:8] if isinstance(listed, list) else []:
            if not isinstance(raw, dict) or safe_id(raw.get("id")) is None:
                continue
            delay, act = _num(raw.get("delay")), _num(raw.get("act"))
            if delay is None or act not in (0, 1):
                continue
            on = act == 1
            out.append(
                Countdown(raw["id"], on, delay, _num(raw.get("remain")), raw.get("enable") != 0)
            )
        return out

    async def start(self, on: bool, delay_s: int) -> Countdown:
        await self._ask("count_down", "delete_all_rules")  # the table holds one timer
        rule = {"enable": 1, "delay": delay_s, "act": int(on), "name": "kshell"}
        answer = await self._ask("count_down", "add_rule", rule)
        stored = [
            c for c in await self.countdowns() if c.id == answer.get("id") or c.delay_s == delay_s
        ]
        if not stored:
            raise KshellError(
                "the plug answered 0 but did not store the timer", target=self.proto.label
            )
        return stored[0]

    async def cancel(self) -> int:
        before = len(await self.countdowns())
        await self._ask("count_down", "delete_all_rules")
        if await self.countdowns():
            raise KshellError("the plug answered 0 but kept its timer", target=self.proto.label)
        return before

    async def cloud(self) -> CloudState:
        info = await self._ask("cnCloud", "get_info")
        return CloudState(
            info.get("binded") == 1, _text(info.get("username")) or None, _text(info.get("server"))
        )

    async def unbind(self) -> None:
        if not (await self.cloud()).bound:
            raise KshellError("the plug is not bound to a cloud account", target=self.proto.label)
        await self._ask("cnCloud", "unbind")
        if (await self.cloud()).bound:
            raise KshellError("the plug answered 0 but is still bound", target=self.proto.label)

    async def scan(self) -> list[Network]:
        answer = await self._ask("netif", "get_scaninfo", {"refresh": 1, "timeout": 3})
        listed = answer.get("ap_list")
        out = []
        for ap in listed[:64] if isinstance(listed, list) else []:
            ssid = _text(ap.get("ssid"), 32) if isinstance(ap, dict) else None
            if ssid:
                key = _num(ap.get("key_type"))
                security = SECURITY.get(key, f"type {key}") if key is not None else "?"
                dbm = _num(ap.get("rssi"))
                dbm = dbm if dbm is not None and -120 <= dbm <= 0 else None
                out.append(Network(ssid, dbm, bars_of(dbm), security))
        return out

    async def join(
        self, ssid: str, password: str, security: str, account: Credentials | None
    ) -> None:
        key = next((k for k, name in SECURITY.items() if name == security), 3)
        params = {"ssid": ssid, "password": password, "key_type": key}
        try:
            await self.proto.query("netif", "set_stainfo", params)
        except TransportError:
            return  # it left for the new network before answering: expected


class SmartTimers(TimersModule):
    def __init__(self, proto: SmartProtocol) -> None:
        self.proto = proto

    async def _get(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return await self.proto.call(method, params, idempotent=True)
        except SmartError as exc:
            if exc.code in (-1, -1002):
                raise UnsupportedDevice(
                    f"the plug does not answer {method}", target=self.proto.label
                ) from None
            raise

    async def countdowns(self) -> list[Countdown]:
        listed = (await self._get("get_countdown_rules")).get("rule_list")
        out = []
        for raw in listed[:8] if isinstance(listed, list) else []:
            if not isinstance(raw, dict) or safe_id(raw.get("id")) is None:
                continue
            delay, states = _num(raw.get("delay")), raw.get("desired_states")
            on = states.get("on") if isinstance(states, dict) else None
            if delay is not None and isinstance(on, bool):
                out.append(
                    Countdown(
                        raw["id"], on, delay, _num(raw.get("remain")), raw.get("enable") is True
                    )
                )
        return out

    async def start(self, on: bool, delay_s: int) -> Countdown:
        raise UnsupportedDevice(f"setting a countdown: {NOT_ON_RECORD}", target=self.proto.label)

    async def cancel(self) -> int:
        raise UnsupportedDevice(f"cancelling a countdown: {NOT_ON_RECORD}", target=self.proto.label)

    async def cloud(self) -> CloudState:
        state = await self._get("get_connect_cloud_state")
        return CloudState(state.get("status") == 0, None, None)

    async def unbind(self) -> None:
        raise UnsupportedDevice(
            f"unbinding from the cloud: {NOT_ON_RECORD}", target=self.proto.label
        )

    async def scan(self) -> list[Network]:
        answer = await self._get("get_wireless_scan_info", {"start_index": 0})
        listed = answer.get("ap_list")
        out = []
        for ap in listed[:64] if isinstance(listed, list) else []:
            if not isinstance(ap, dict):
                continue
            ssid = _text(_b64(ap.get("ssid")), 32)
            if ssid:
                auth = _num(ap.get("auth"))
                security = {0: "open"}.get(auth, "secured") if auth is not None else "?"
                dbm = _num(ap.get("rssi"))  # some firmware sends both
                dbm = dbm if dbm is not None and -120 <= dbm <= 0 else None
                level = _level(_num(ap.get("signal_level")))
                out.append(
                    Network(ssid, dbm, level if level is not None else bars_of(dbm), security)
                )
        return out

    async def join(
        self, ssid: str, password: str, security: str, account: Credentials | None
    ) -> None:
        if account is None:
            raise UnsupportedDevice(
                "joining needs the owner's account (login, or KSHELL_USERNAME/KSHELL_PASSWORD)",
                target=self.proto.label,
            )

        def b64(text: str) -> str:
            return base64.b64encode(text.encode()).decode()

        if security == "open":
            raise UnsupportedDevice(
                f"joining an open network: {NOT_ON_RECORD}", target=self.proto.label
            )
        clock = await self._get("get_device_time")
        params = {
            "account": {"username": b64(account.username), "password": b64(account.password)},
            "wireless": {
                "key_type": "wpa2_psk",
                "password": b64(password),
                "ssid": b64(ssid),
            },
            "time": clock,
        }
        try:
            await self.proto.call("set_qs_info", params)
        except TransportError:
            return  # it left for the new network before answering: expected


def _b64(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


CAPABILITY: Capability[TimersModule] = Capability(
    "timers", iot=IotTimers, smart=SmartTimers, lacking="countdown timers"
)
