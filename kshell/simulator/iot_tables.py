"""Which handler answers each module and method of the IOT protocol, per kind of device.

A plug answers ``system``, ``schedule``, ``anti_theft``, ``count_down``, ``time``, ``cnCloud``
and ``netif``; one with a meter adds ``emeter``; a dimmer ``smartlife.iot.dimmer``; a bulb
speaks the ``smartlife.iot.*`` names instead. Every handler is ``(plug, args, context, now)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kshell.simulator import everyday, iot_meter, iot_system
from kshell.simulator.parts import Answer, DeviceError, RuleTable, int_arg

if TYPE_CHECKING:
    from kshell.simulator.state import PlugState

Handler = Callable[["PlugState", Answer, Any, float], Answer]
Table = dict[str, dict[str, Handler]]


def _rules_module(attr: str) -> dict[str, Handler]:
    """get_rules / add_rule / edit_rule / delete_rule / ... over one RuleTable."""

    def table(plug: PlugState) -> RuleTable:
        found: RuleTable = getattr(plug, attr)
        return found

    def get_rules(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
        t = table(plug)
        answer: Answer = {"rule_list": [dict(r) for r in t.rules]}
        if attr != "count_down":
            answer.update(enable=t.enable, version=2)
        return {**answer, "err_code": 0}

    def add_rule(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
        return table(plug).add(args)

    def edit_rule(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
        return table(plug).edit(args)

    def delete_rule(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
        if "id" not in args:
            raise DeviceError({"err_code": -10002, "err_msg": "Missing neccesary argument"})
        return table(plug).delete(args["id"])

    def delete_all_rules(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
        table(plug).rules.clear()
        return {"err_code": 0}

    def set_overall_enable(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
        table(plug).enable = int_arg(args, "enable", range(2))
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
    "get_sysinfo": iot_system.get_sysinfo,
    "set_relay_state": iot_system.set_relay_state,
    "set_led_off": iot_system.set_led_off,
    "set_dev_alias": iot_system.set_dev_alias,
    "set_dev_location": iot_system.set_dev_location,
    "get_dev_icon": iot_system.get_dev_icon,
    "reboot": iot_system.reboot,
    "reset": iot_system.reset,
    "download_firmware": iot_system.download_firmware,
    "get_download_state": iot_system.get_download_state,
    "flash_firmware": iot_system.flash_firmware,
}
_EMETER: dict[str, Handler] = {
    "get_realtime": iot_meter.get_realtime,
    "get_daystat": iot_meter.get_daystat,
    "get_monthstat": iot_meter.get_monthstat,
    "get_vgain_igain": iot_meter.get_vgain_igain,
    "set_vgain_igain": iot_meter.set_vgain_igain,
    "erase_emeter_stat": iot_meter.erase_emeter_stat,
}
_SCHEDULE: dict[str, Handler] = {
    **_rules_module("schedule"),
    "get_next_action": iot_meter.get_next_action,
    "get_daystat": iot_meter.runtime_daystat,
    "get_monthstat": iot_meter.runtime_monthstat,
    "erase_runtime_stat": iot_meter.erase_runtime_stat,
}
_TIME: dict[str, Handler] = {
    "get_time": iot_system.get_time,
    "get_timezone": iot_system.get_timezone,
    "set_timezone": iot_system.set_timezone,
    **everyday.IOT_TIME,  # the plug's own drifting clock, settable
}
_CLOUD: dict[str, Handler] = {
    "get_info": iot_system.cloud_info,
    "get_intl_fw_list": iot_system.cloud_fw_list,
    "set_server_url": iot_system.cloud_set_server,
    "unbind": iot_system.cloud_unbind,
}
PLUG_TABLE: Table = {
    "system": _SYSTEM,
    "schedule": _SCHEDULE,
    "anti_theft": _rules_module("anti_theft"),
    "count_down": {**_rules_module("count_down"), **everyday.IOT_COUNTDOWN},
    "time": _TIME,
    "cnCloud": _CLOUD,
    "netif": {"get_scaninfo": everyday.scaninfo, "set_stainfo": everyday.set_stainfo},
}
METER_TABLE: Table = {**PLUG_TABLE, "emeter": _EMETER}
DIMMER_TABLE: Table = {
    **PLUG_TABLE,
    "smartlife.iot.dimmer": everyday.IOT_DIMMER,
}
BULB_TABLE: Table = {
    "system": {
        "get_sysinfo": iot_system.get_sysinfo,
        **{k: _SYSTEM[k] for k in ("download_firmware", "get_download_state", "flash_firmware")},
    },
    "smartlife.iot.common.system": {
        "set_dev_alias": iot_system.set_dev_alias,
        "reboot": iot_system.reboot,
    },
    "smartlife.iot.smartbulb.lightingservice": {
        "get_light_state": iot_system.get_light_state,
        "transition_light_state": iot_system.transition_light_state,
    },
    "smartlife.iot.common.emeter": {
        k: _EMETER[k] for k in ("get_realtime", "get_daystat", "get_monthstat")
    },
    "smartlife.iot.common.schedule": _SCHEDULE,
    "smartlife.iot.common.timesetting": _TIME,
    "smartlife.iot.common.cloud": _CLOUD,
}
