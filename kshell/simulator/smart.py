"""``SmartApi``: the SMART JSON-RPC of a simulated plug, strip or dimmer (no I/O).

One request ``{"method": M, "params": {...}}`` in, ``{"error_code": E, "result": {...}}`` out
(``set_*`` and ``device_reboot`` answer no ``result``). Facts: docs/protocols.md, "SMART JSON-RPC"
and python-kasa's recordings (``tests/fixtures/smart/``):

* ``multipleRequest {"requests": [...]}`` answers ``{"responses": [{method, error_code,
  result}]}`` and stops at the first failing entry;
* lists (``get_child_device_list``, ``get_child_device_component_list``) are paged: a page
  carries ``start_index`` and ``sum``; ask again with ``{"start_index": n}``;
* a strip's outlet is reached only through ``control_child {"device_id", "requestData"}``
  (``requestData`` may itself be a ``multipleRequest``); the answer is wrapped in
  ``{"responseData": {...}}``. The strip parent has no relay: ``set_device_info
  {"device_on"}`` on it is accepted and changes nothing (what real strips do is unknown);
* ``nickname`` and ``ssid`` are base64 of UTF-8;
* energy: ``get_energy_usage`` (``current_power`` in mW, energies in Wh, runtimes in
  minutes), ``get_current_power`` (whole watts), ``get_emeter_data`` (mW, mV, mA, Wh; only
  firmware that has it), ``get_energy_data`` (Wh per hour, day or month: the history);
* errors: -1002 unknown method, -1003 a request that is not a JSON object, -1008 bad params.

The energy comes from the simulator's own meters (``energy``), so a ``bogus_power`` fault shows
~28 kW here as on an old plug.
"""

from __future__ import annotations

import base64
import binascii
import json
import zoneinfo
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from kshell.simulator import everyday
from kshell.simulator.smart_energy import (
    INVALID_PARAMS,
    JSON_FORMAT,
    UNKNOWN_METHOD,
    EnergyMethods,
    Result,
    SmartError,
)
from kshell.simulator.smart_models import GETTER_COMPONENT, REGIONS, STATIC_GETTERS, SmartModel

if TYPE_CHECKING:
    from kshell.simulator.parts import Socket
    from kshell.simulator.plug import SimPlug

MAX_BATCH = 32
CHILD_PAGE = 10


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(value: Any) -> str:
    if not isinstance(value, str):
        raise SmartError(INVALID_PARAMS)
    try:
        text = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):
        raise SmartError(INVALID_PARAMS) from None
    if not text or len(text) > 64:
        raise SmartError(INVALID_PARAMS)
    return text


def _dashed(mac: str) -> str:
    return mac.replace(":", "-")


class SmartApi(EnergyMethods):
    """Answers SMART requests for one ``SimPlug`` (its sockets, meters, faults, outages)."""

    def __init__(self, plug: SimPlug, model: SmartModel, child_page: int = CHILD_PAGE) -> None:
        self.plug = plug
        self.model = model
        self.child_page = max(1, child_page)
        self.led_rule = "never" if plug.led_off else "always"
        self.brightness = 100 if model.is_dimmer else None
        self.auto_off = {"delay_min": 120, "enable": False}
        self.zone_name = REGIONS.get(plug.kind.region, "Europe/Amsterdam")
        self.zone = zoneinfo.ZoneInfo(self.zone_name)

    # -- entry points ----------------------------------------------------------------------
    def handle_bytes(self, body: bytes) -> bytes:
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            request = None
        return json.dumps(self.handle(request), separators=(",", ":")).encode()

    def handle(self, request: Any) -> Result:
        """One top-level request (a ``multipleRequest`` included)."""
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return {"error_code": JSON_FORMAT}
        everyday.catch_up(self.plug, self.plug.clock())
        return self._call(request["method"], request.get("params"), None)

    def _call(self, method: str, params: Any, child: Socket | None) -> Result:
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return {"error_code": INVALID_PARAMS}
        try:
            result = self._dispatch(method, params, child)
        except SmartError as exc:
            return {"error_code": exc.code}
        except (TypeError, ValueError, KeyError, OverflowError):
            return {"error_code": INVALID_PARAMS}
        return {"error_code": 0} if result is None else {"error_code": 0, "result": result}

    def _dispatch(self, method: str, params: Result, child: Socket | None) -> Result | None:
        if method == "multipleRequest":
            return self._multiple(params, child)
        if child is None and method == "control_child" and self.model.is_strip:
            return self._control_child(params)
        if child is not None:
            fn = _CHILD_METHODS.get(method)
        else:
            fn = _METHODS.get(method)
            need = _NEEDS.get(method)
            if need is not None and not self.model.has(need):
                fn = None
        if fn is None:
            static = STATIC_GETTERS.get(method)
            comps = self.model.child_components if child is not None else self.model.components
            comp = GETTER_COMPONENT.get(method)
            if static is not None and any(c == comp for c, _ in comps):
                return dict(static)
            raise SmartError(UNKNOWN_METHOD)
        result: Result | None = fn(self, params, child)
        return result

    def _multiple(self, params: Result, child: Socket | None) -> Result:
        requests = params.get("requests")
        if not isinstance(requests, list) or len(requests) > MAX_BATCH:
            raise SmartError(INVALID_PARAMS)
        responses = []
        for entry in requests:
            if not isinstance(entry, dict) or not isinstance(entry.get("method"), str):
                responses.append({"method": "", "error_code": JSON_FORMAT})
                break
            method = entry["method"]
            if method == "multipleRequest":
                answer: Result = {"error_code": INVALID_PARAMS}
            else:
                answer = self._call(method, entry.get("params"), child)
            responses.append({"method": method, **answer})
            if answer["error_code"] != 0:
                break  # the device stops at the first failing entry
        return {"responses": responses}

    def _control_child(self, params: Result) -> Result:
        socket = self._child(params.get("device_id"))
        data = params.get("requestData")
        if not isinstance(data, dict) or not isinstance(data.get("method"), str):
            raise SmartError(INVALID_PARAMS)
        return {"responseData": self._call(data["method"], data.get("params"), socket)}

    def _child(self, device_id: Any) -> Socket:
        for s in self.plug.children:
            if s.id == device_id:
                return s
        raise SmartError(INVALID_PARAMS)

    # -- device ----------------------------------------------------------------------------
    def _time_diff(self, now: float) -> int:
        offset = datetime.fromtimestamp(now, self.zone).utcoffset() or timedelta()
        return int(offset.total_seconds() // 60)

    def _common(self, now: float) -> Result:
        p = self.plug
        return {
            "fw_id": p.fw_id,
            "fw_ver": p.sw_ver,
            "has_set_location_info": True,
            "hw_id": p.hw_id,
            "hw_ver": p.hw_ver,
            "latitude": int(p.latitude * 10000),
            "longitude": int(p.longitude * 10000),
            "model": p.model.split("(")[0],
            "oem_id": p.oem_id,
            "region": self.zone_name,
            "type": p.kind.device_type,
        }

    def get_device_info(self, params: Result, child: Socket | None) -> Result:
        now = self._now()
        p = self.plug
        if child is not None:
            return self._child_info(child, now)
        info: Result = {
            "avatar": self.model.avatar,
            "device_id": p.device_id,
            **self._common(now),
            "ip": p.host,
            "lang": "en_US",
            "mac": _dashed(p.mac),
            "nickname": b64(p.alias),
            "overheat_status": "normal",
            "rssi": p.rssi,
            "signal_level": 3 if p.rssi > -50 else 2 if p.rssi > -70 else 1,
            "specs": "",
            "ssid": b64("KasaSimNet"),
            "time_diff": self._time_diff(now),
        }
        if not self.model.is_strip:
            main = p.main
            info.update(
                device_on=bool(main.state),
                on_time=main.on_time(now),
                default_states={"state": {}, "type": "last_states"},
            )
            if self.model.has("auto_off"):
                info.update(auto_off_remain_time=0, auto_off_status="off")
            if self.model.has("energy_monitoring"):
                info.update(overcurrent_status="normal", power_protection_status="normal")
            if self.brightness is not None:
                info["brightness"] = self.brightness
        return dict(sorted(info.items()))

    def _child_info(self, s: Socket, now: float) -> Result:
        p = self.plug
        position = p.children.index(s) + 1
        return dict(
            sorted(
                {
                    "avatar": "plug",
                    "bind_count": 1,
                    "category": "plug.powerstrip.sub-plug",
                    "default_states": {"type": "last_states"},
                    "device_id": s.id,
                    "device_on": bool(s.state),
                    **self._common(now),
                    "is_usb": False,
                    "mac": p.mac.replace(":", ""),
                    "nickname": b64(s.alias),
                    "on_time": s.on_time(now),
                    "original_device_id": p.device_id,
                    "overheat_status": "normal",
                    "position": position,
                    "slot_number": len(p.children),
                    "status_follow_edge": True,
                }.items()
            )
        )

    def set_device_info(self, params: Result, child: Socket | None) -> None:
        now = self._now()
        p = self.plug
        if "nickname" in params:
            name = _unb64(params["nickname"])
            if child is not None:
                child.alias = name
            else:
                p.alias = name
        if "brightness" in params:
            value = params["brightness"]
            if self.brightness is None or child is not None:
                raise SmartError(INVALID_PARAMS)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
                raise SmartError(INVALID_PARAMS)
            self.brightness = value
        if "device_on" in params:
            on = params["device_on"]
            if not isinstance(on, bool):
                raise SmartError(INVALID_PARAMS)
            target = child if child is not None else None if self.model.is_strip else p.main
            if target is not None:  # a strip parent has no relay of its own
                target.set_state(now, int(on))

    def get_device_time(self, params: Result, child: Socket | None) -> Result:
        now = self._now()
        return {"region": self.zone_name, "time_diff": self._time_diff(now), "timestamp": int(now)}

    def component_nego(self, params: Result, child: Socket | None) -> Result:
        comps = self.model.child_components if child is not None else self.model.components
        return {"component_list": [{"id": c, "ver_code": v} for c, v in comps]}

    def device_reboot(self, params: Result, child: Socket | None) -> None:
        delay = params.get("delay", 1)
        if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 3600:
            raise SmartError(INVALID_PARAMS)
        self.plug.schedule_reboot(delay)

    def get_latest_fw(self, params: Result, child: Socket | None) -> Result:
        return {
            "fw_size": 0,
            "fw_ver": self.plug.sw_ver,
            "hw_id": "",
            "need_to_upgrade": False,
            "oem_id": "",
            "release_date": "",
            "release_note": "",
            "type": 0,
        }

    def get_led_info(self, params: Result, child: Socket | None) -> Result:
        return {
            "bri_config": {"bri_type": "overall", "overall_bri": 50},
            "led_rule": self.led_rule,
            "led_status": self.led_rule != "never",
            "night_mode": {"end_time": 420, "night_mode_type": "custom", "start_time": 1320},
        }

    def set_led_info(self, params: Result, child: Socket | None) -> None:
        rule = params.get("led_rule")
        if rule not in ("always", "never", "night_mode"):
            raise SmartError(INVALID_PARAMS)
        self.led_rule = rule
        self.plug.led_off = 1 if rule == "never" else 0

    def get_auto_off_config(self, params: Result, child: Socket | None) -> Result:
        return dict(self.auto_off)

    def get_max_power(self, params: Result, child: Socket | None) -> Result:
        return {"max_power": int(self.plug.kind.rated_power_w)}

    # -- children --------------------------------------------------------------------------
    def _page(self, items: list[Result], key: str, params: Result) -> Result:
        start = params.get("start_index", 0)
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise SmartError(INVALID_PARAMS)
        page = items[start : start + self.child_page]
        return {key: page, "start_index": start, "sum": len(items)}

    def get_child_device_list(self, params: Result, child: Socket | None) -> Result:
        now = self._now()
        items = [self._child_info(s, now) for s in self.plug.children]
        return self._page(items, "child_device_list", params)

    def get_child_device_component_list(self, params: Result, child: Socket | None) -> Result:
        comps = [{"id": c, "ver_code": v} for c, v in self.model.child_components]
        items = [{"component_list": comps, "device_id": s.id} for s in self.plug.children]
        return self._page(items, "child_component_list", params)


_Method = Any  # SmartApi method: (self, params, child) -> Result | None
_METHODS: dict[str, _Method] = {
    name: getattr(SmartApi, name)
    for name in (
        "get_device_info",
        "set_device_info",
        "get_device_time",
        "get_device_usage",
        "component_nego",
        "device_reboot",
        "get_latest_fw",
        "get_led_info",
        "set_led_info",
        "get_auto_off_config",
        "get_max_power",
        "get_child_device_list",
        "get_child_device_component_list",
        "get_energy_usage",
        "get_current_power",
        "get_emeter_data",
        "get_emeter_vgain_igain",
        "get_energy_data",
    )
}
_METHODS["get_device_time"] = everyday.smart_device_time  # the plug's drifting clock
_METHODS["set_device_time"] = everyday.smart_set_device_time
_METHODS["set_auto_off_config"] = everyday.smart_set_auto_off
_METHODS["get_wireless_scan_info"] = everyday.smart_scan
_METHODS["get_schedule_rules"] = everyday.smart_schedule
_METHODS["set_qs_info"] = everyday.smart_join
_NEEDS = {  # the component a method needs on the device itself
    "get_led_info": "led",
    "set_led_info": "led",
    "get_auto_off_config": "auto_off",
    "set_auto_off_config": "auto_off",
    "get_wireless_scan_info": "wireless",
    "get_schedule_rules": "schedule",
    "get_max_power": "power_protection",
    "get_child_device_list": "child_device",
    "get_child_device_component_list": "child_device",
    "get_energy_usage": "energy_monitoring",
    "get_current_power": "energy_monitoring",
    "get_emeter_data": "energy_monitoring",
    "get_emeter_vgain_igain": "energy_monitoring",
    "get_energy_data": "energy_monitoring",
}
_CHILD_METHODS: dict[str, _Method] = {
    name: _METHODS[name]
    for name in ("get_device_info", "set_device_info", "get_device_time", "get_device_usage",
                 "component_nego", "get_latest_fw")
}  # fmt: skip
