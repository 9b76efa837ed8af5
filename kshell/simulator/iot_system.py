"""The IOT firmware's answers for sysinfo, system, time, cloud and a bulb's light: one
handler per method, ``(plug, args, context, now) -> answer``, over a ``PlugState``'s state."""

from __future__ import annotations

import functools
import math
import zoneinfo
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from kshell.simulator.firmware import STATUS_IDLE, DownloadJob, parse_image
from kshell.simulator.parts import INVALID_ARGUMENT, Answer, DeviceError, int_arg

if TYPE_CHECKING:
    from kshell.simulator.state import PlugState

_TZ_NAMES = {41: "Europe/Amsterdam", 39: "Europe/London", 18: "America/New_York"}


def sysinfo(plug: PlugState, now: float) -> Answer:
    """get_sysinfo's answer: the model's keys in its order."""
    k = plug.kind
    main = plug.sockets[0]
    values: Answer = {
        "err_code": 0,
        "sw_ver": plug.sw_ver,
        "hw_ver": k.hw_ver,
        "type": k.device_type,
        "mic_type": k.device_type,
        "model": k.model,
        "mac": plug.mac,
        "mic_mac": plug.mac.replace(":", ""),
        "deviceId": plug.device_id,
        "hwId": plug.hw_id,
        "fwId": plug.fw_id,
        "oemId": plug.oem_id,
        "alias": plug.alias,
        "dev_name": k.dev_name,
        "description": k.dev_name,
        "icon_hash": "",
        "relay_state": main.state,
        "on_time": main.on_time(now),
        "active_mode": active_mode(plug),
        "feature": k.feature,
        "updating": 0,
        "rssi": plug.rssi,
        "led_off": plug.led_off,
        "latitude": plug.latitude,
        "longitude": plug.longitude,
        "latitude_i": int(plug.latitude * 10000),
        "longitude_i": int(plug.longitude * 10000),
        "next_action": {"type": -1},
        "brightness": plug.light["brightness"],
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
            for s in plug.sockets
        ]
        values["child_num"] = len(plug.sockets)
    if k.is_bulb:
        values.update(bulb_sysinfo(plug))
    return {key: values[key] for key in k.key_order if key in values}


def active_mode(plug: PlugState) -> str:
    if plug.count_down.rules and plug.count_down.enable:
        return "count_down"
    if plug.schedule.rules and plug.schedule.enable:
        return "schedule"
    return "none"


def bulb_sysinfo(plug: PlugState) -> Answer:
    return {
        "dev_state": "normal",
        "is_factory": False,
        "disco_ver": "1.0",
        "ctrl_protocols": {"name": "Linkie", "version": "1.0"},
        "light_state": light_state(plug),
        "is_dimmable": 1,
        "is_color": 0,
        "is_variable_color_temp": 0,
        "preferred_state": [
            {"index": i, "hue": 0, "saturation": 0, "color_temp": 2700, "brightness": b}
            for i, b in enumerate((100, 75, 25, 1))
        ],
        "heapsize": 291620,
    }


def light_state(plug: PlugState) -> Answer:
    if plug.sockets[0].state:
        return {"on_off": 1, **plug.light}
    return {"on_off": 0, "dft_on_state": dict(plug.light)}


# -- system ------------------------------------------------------------------------
def get_sysinfo(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    return sysinfo(plug, now)


def set_relay_state(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    state = int_arg(args, "state", range(2))
    targets = plug.outlets_named(ctx)
    if targets is None:
        targets = plug.sockets
    for s in targets:
        s.set_state(now, state)
    return {"err_code": 0}


def set_led_off(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    plug.led_off = int_arg(args, "off", range(2))
    return {"err_code": 0}


def set_dev_alias(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    alias = args.get("alias")
    if not isinstance(alias, str) or not alias or len(alias) > 64:
        raise DeviceError(INVALID_ARGUMENT)
    targets = plug.outlets_named(ctx)
    if targets:
        targets[0].alias = alias
    else:
        plug.alias = alias  # a plug's alias is its one outlet's too
    return {"err_code": 0}


def set_dev_location(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    if "latitude_i" in args or "longitude_i" in args:
        plug.latitude = int_arg(args, "latitude_i", range(-900000, 900001)) / 10000
        plug.longitude = int_arg(args, "longitude_i", range(-1800000, 1800001)) / 10000
    else:
        plug.latitude = float(args["latitude"])
        plug.longitude = float(args["longitude"])
    return {"err_code": 0}


def get_dev_icon(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    return {"icon": "", "hash": "", "err_code": 0}


def reboot(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    delay = int_arg(args, "delay", range(3601)) if "delay" in args else 1
    plug.schedule_outage(delay, plug.firmware.reboot_time)
    return {"err_code": 0}


def reset(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    delay = int_arg(args, "delay", range(3601)) if "delay" in args else 1

    def factory_defaults() -> None:
        plug.alias = f"{plug.kind.model[:5]} {plug.host.rsplit('.', 1)[-1]}"
        plug.cloud.update(username="", binded=0)
        for table in (plug.schedule, plug.anti_theft, plug.count_down):
            table.rules.clear()

    plug.schedule_outage(delay, plug.firmware.reboot_time, factory_defaults)
    return {"err_code": 0}


def download_firmware(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    url = args.get("url")
    if not isinstance(url, str) or not url:
        raise DeviceError(INVALID_ARGUMENT)
    if plug.download_job is not None:
        plug.download_job.cancel()
    plug.download_job = DownloadJob(url, plug.firmware, plug.faults, source=plug.host)
    plug.download_job.start()
    return {"err_code": 0}


def get_download_state(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    if plug.download_job is None:
        return {
            "status": STATUS_IDLE,
            "ratio": 0,
            "reboot_time": math.ceil(plug.firmware.reboot_time),
            "flash_time": math.ceil(plug.firmware.flash_time),
            "err_code": 0,
        }
    return plug.download_job.answer()


def flash_firmware(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    job = plug.download_job
    if job is None or job.data is None or job.failed:
        raise DeviceError({"err_code": -5, "err_msg": "firmware not downloaded"})
    if "fw_flash_fail" in plug.faults:
        raise DeviceError({"err_code": -5, "err_msg": "flash failed"})
    header = parse_image(job.data)
    if header is None or header.model != plug.kind.model or header.hw != plug.kind.hw_ver:
        raise DeviceError({"err_code": -5, "err_msg": "firmware verify failed"})

    def install() -> None:
        plug.sw_ver = header.sw_ver

    fw = plug.firmware
    plug.schedule_outage(0.1, fw.flash_time + fw.reboot_time, install)
    return {"err_code": 0}


# -- time, cloud, netif ----------------------------------------------------------------
def get_time(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    t = datetime.fromtimestamp(now, _zone(plug.tz_index))  # the plug keeps its own zone
    return {
        "year": t.year,
        "month": t.month,
        "mday": t.day,
        "hour": t.hour,
        "min": t.minute,
        "sec": t.second,
        "err_code": 0,
    }


def get_timezone(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    return {"index": plug.tz_index, "err_code": 0}


def set_timezone(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    if "index" in args:
        plug.tz_index = int_arg(args, "index", range(110))
    return {"err_code": 0}


def cloud_info(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    bound = plug.cloud["binded"]
    return {
        "username": plug.cloud["username"],
        "server": plug.cloud["server"],
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


def cloud_fw_list(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    return {"fw_list": [], "err_code": 0}


def cloud_set_server(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    server = args.get("server")
    if not isinstance(server, str) or not server:
        raise DeviceError(INVALID_ARGUMENT)
    plug.cloud["server"] = server
    return {"err_code": 0}


def cloud_unbind(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    if not plug.cloud["binded"]:
        raise DeviceError({"err_code": -4002, "err_msg": "Device hasn't bound to any account yet"})
    plug.cloud.update(username="", binded=0)
    return {"err_code": 0}


def scaninfo(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    return {"ap_list": [{"ssid": "KasaSimNet", "key_type": 3}], "err_code": 0}


# -- bulbs ---------------------------------------------------------------------------
def get_light_state(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    return {**light_state(plug), "err_code": 0}


def transition_light_state(plug: PlugState, args: Answer, ctx: Any, now: float) -> Answer:
    if "brightness" in args:
        plug.light["brightness"] = int_arg(args, "brightness", range(101))
        load = plug.sockets[0].meter.profile
        load.on_w = load.mean_w = 10.0 * plug.light["brightness"] / 100
    if "on_off" in args:
        plug.sockets[0].set_state(now, int_arg(args, "on_off", range(2)))
    return {**light_state(plug), "err_code": 0}


@functools.lru_cache(maxsize=8)
def _zone(index: int) -> tzinfo | None:
    """The zone of a timezone index we know; None (host local time) otherwise."""
    try:
        return zoneinfo.ZoneInfo(_TZ_NAMES[index])
    except (KeyError, zoneinfo.ZoneInfoNotFoundError):
        return None
