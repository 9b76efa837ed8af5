"""A plug as the shell sees it: requests by module and method, answers checked.

``Device`` talks through a ``Connection``; the pure functions below read a sysinfo
answer, checking types, because what a plug says is untrusted.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from kshell import protocol
from kshell.errors import DeviceError, ProtocolError, UnsupportedDevice
from kshell.transport import Connection

HW_INFO_KEYS = ("sw_ver", "hw_ver", "mac", "type", "hwId", "fwId", "oemId", "dev_name")
SYSINFO = {"system": {"get_sysinfo": {}}}
MAX_CHILDREN = 16


def check_answer(
    answer: dict[str, Any], module: str, method: str, target: str | None
) -> dict[str, Any]:
    """Pull ``answer[module][method]`` out, raising DeviceError for ``err_code != 0``."""
    mod = answer.get(module)
    if not isinstance(mod, dict):
        raise ProtocolError(f"answer lacks the '{module}' module", target=target)
    if _err(mod):  # firmware reports a missing module at this level
        raise DeviceError(module, method, _err(mod), _msg(mod), target=target)
    result = mod.get(method)
    if not isinstance(result, dict):
        raise ProtocolError(f"answer lacks '{module}.{method}'", target=target)
    if _err(result):
        raise DeviceError(module, method, _err(result), _msg(result), target=target)
    return result


@functools.lru_cache(maxsize=1024)
def _plain_request(module: str, method: str, child_id: str | None) -> bytes:
    """A request without parameters, encoded once: a watch sends the same one all day."""
    req: dict[str, Any] = {module: {method: {}}}
    if child_id:
        req["context"] = {"child_ids": [child_id]}
    return protocol.encode(req)


def _err(part: dict[str, Any]) -> int:
    code = part.get("err_code", 0)
    return code if isinstance(code, int) else -1


def _msg(part: dict[str, Any]) -> str:
    msg = part.get("err_msg", "")
    return msg[:200] if isinstance(msg, str) else ""


@dataclass
class Device:
    """One plug, or one outlet of a strip when ``child_id`` is set."""

    conn: Connection
    child_id: str | None = None
    label: str = ""
    sysinfo: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.label = self.label or self.conn.label

    async def request(
        self,
        module: str,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        idempotent: bool = False,
        child: bool = True,
    ) -> dict[str, Any]:
        child_id = self.child_id if child else None
        if params:
            req: dict[str, Any] = {module: {method: params}}
            if child_id:
                req["context"] = {"child_ids": [child_id]}
            message = protocol.encode(req)
        else:
            message = _plain_request(module, method, child_id)
        answer = await self.conn.query(message, idempotent=idempotent)
        return check_answer(answer, module, method, self.label)

    async def update(self) -> dict[str, Any]:
        """Read sysinfo alone (some firmware fails a request naming a module it lacks)."""
        info = await self.request("system", "get_sysinfo", idempotent=True, child=False)
        if kind_of(info) == "bulb":
            raise UnsupportedDevice("a bulb, not a plug: not supported", target=self.label)
        self.sysinfo = info
        return info

    async def set_relay(self, on: bool) -> None:
        await self.request("system", "set_relay_state", {"state": int(on)})

    async def set_led(self, on: bool) -> None:
        await self.request("system", "set_led_off", {"off": int(not on)}, child=False)

    async def set_alias(self, alias: str) -> None:
        await self.request("system", "set_dev_alias", {"alias": alias})

    async def reboot(self, delay: int = 1) -> None:
        await self.request("system", "reboot", {"delay": delay}, child=False)

    def outlet(self) -> dict[str, Any] | None:
        """The strip's child entry for this outlet (after ``update``)."""
        for child in children(self.sysinfo):
            if child["id"] == self.child_id:
                return child
        return None

    def is_on(self) -> bool | None:
        if self.child_id:
            child = self.outlet()
            return None if child is None else child["state"]
        state = relay_state(self.sysinfo)
        kids = children(self.sysinfo)
        if state is None and kids:  # a strip's own state: is any outlet on?
            return any(c["state"] for c in kids)
        return state


def text(info: dict[str, Any], key: str, limit: int = 128) -> str | None:
    """A string field, or None when missing or not a string; bounded in length."""
    value = info.get(key)
    return value[:limit] if isinstance(value, str) else None


def kind_of(info: dict[str, Any]) -> str:
    """'strip', 'plug', 'bulb' or 'unknown', told by the keys and type strings."""
    dev_type = (text(info, "type") or text(info, "mic_type") or "").upper()
    if "BULB" in dev_type or "LIGHTSTRIP" in dev_type or "is_color" in info:
        return "bulb"
    if isinstance(info.get("children"), list):
        return "strip"
    if "PLUG" in dev_type or "SWITCH" in dev_type or "relay_state" in info:
        return "plug"
    return "unknown"


def relay_state(info: dict[str, Any]) -> bool | None:
    value = info.get("relay_state")
    return bool(value) if isinstance(value, int) else None


def features(info: dict[str, Any]) -> list[str]:
    return [f for f in (text(info, "feature") or "").split(":") if f]


def has_emeter(info: dict[str, Any]) -> bool:
    return "ENE" in features(info)


def model(info: dict[str, Any]) -> str:
    return text(info, "model") or "?"


def led_on(info: dict[str, Any]) -> bool | None:
    value = info.get("led_off")
    return (not value) if isinstance(value, int) else None


def hw_info(info: dict[str, Any]) -> dict[str, Any]:
    """The hardware keys a plug reports (those present; some hardware omits fwId)."""
    out: dict[str, Any] = {}
    for key in HW_INFO_KEYS:
        if key == "type":
            value = text(info, "type") or text(info, "mic_type")
        else:
            value = text(info, key)
        if value is not None:
            out[key] = value
    return out


def children(info: dict[str, Any]) -> list[dict[str, Any]]:
    """A strip's outlets as checked dicts: id, alias, state, on_time, number (from 1)."""
    raw = info.get("children")
    if not isinstance(raw, list):
        return []
    out = []
    for index, child in enumerate(raw[:MAX_CHILDREN], start=1):
        if not isinstance(child, dict) or not isinstance(child.get("id"), str):
            continue
        cid = child["id"]
        if len(cid) <= 2:  # some firmware gives only the suffix; the full id is needed
            cid = (text(info, "deviceId") or "") + cid
        state = child.get("state")
        on_time = child.get("on_time")
        out.append(
            {
                "number": index,
                "id": cid[:64],
                "alias": text(child, "alias") or f"outlet {index}",
                "state": bool(state) if isinstance(state, int) else None,
                "on_time": on_time if isinstance(on_time, int) else None,
            }
        )
    return out
