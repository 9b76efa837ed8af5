"""The simulator's everyday control: a plug clock with drift, rules that fire, countdowns,
dimmers and time setting, for both families.

The plug's clock is the simulator's clock run ``clock_speed`` times as fast from the start,
plus ``clock_drift`` seconds; tests also run it on at once (``PlugClock.advance``) so a rule
minutes away fires without waiting and without racing a busy machine. Rules fire when the plug is next asked anything (``catch_up``, before every
request): every rule whose moment passed since the last look switches the relay at that
moment, in order, which is all an observer over the network can tell apart from a timer.
Sunrise and sunset are 06:00 and 18:00 plug time (the simulator knows no astronomy). Away
mode switches on at its window's start and off at its end (one on/off, not random).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING, Any

from kshell.device.capabilities import iot_zones
from kshell.simulator.wall import PlugClock

if TYPE_CHECKING:
    from kshell.simulator.state import PlugState

Answer = dict[str, Any]
SUN_MINUTE = {1: 6 * 60, 2: 18 * 60}
INVALID = {"err_code": -3, "err_msg": "invalid argument"}


def zone_of(plug: PlugState) -> dt.tzinfo:
    return iot_zones.zone_of(plug.tz_index) or dt.UTC


# -- rules firing ---------------------------------------------------------------------------
def catch_up(plug: PlugState, real: float) -> None:
    """Fire every schedule rule and countdown whose moment passed since the last look."""
    clock: PlugClock = plug.wall
    now = clock.now(real)
    since = clock.last_look if clock.last_look is not None else now
    clock.last_look = now
    if now <= since:
        return
    due: list[tuple[float, int]] = []
    if plug.schedule.enable:
        for rule in plug.schedule.rules:
            due.extend((at, rule["sact"]) for at in _moments(rule, since, now, zone_of(plug)))
            if not rule.get("repeat", 1) and any(_moments(rule, since, now, zone_of(plug))):
                rule["enable"] = 0  # a one-off rule is spent
    for rule in plug.anti_theft.rules:  # away: on at the window's start, off at its end
        for start, act in (("s", 1), ("e", 0)):
            edge = {**rule, "sact": act, "stime_opt": rule.get(f"{start}time_opt")}
            edge["smin"] = rule.get(f"{start}min", 0)
            edge["soffset"] = rule.get(f"{start}offset", 0)
            due.extend((at, act) for at in _moments(edge, since, now, zone_of(plug)))
    for rule in plug.count_down.rules:
        armed = clock.countdowns.get(str(rule.get("id", "")))
        if armed is None or not rule.get("enable"):
            continue
        at = armed + rule.get("delay", 0)
        if since < at <= now:
            due.append((at, rule.get("act", 0)))
            rule["enable"] = 0
    for _at, action in sorted(due):  # in order: the last one due decides the relay
        for socket in plug.sockets:
            socket.set_state(real, int(action == 1))


def _moments(rule: Answer, since: float, now: float, zone: dt.tzinfo) -> list[float]:
    if not rule.get("enable") or rule.get("sact") not in (0, 1):
        return []
    # a clock rule fires at smin; a sun rule at sunrise/sunset + soffset (smin unused)
    option, wday = rule.get("stime_opt"), rule.get("wday")
    minute = rule.get("smin" if option == 0 else "soffset", 0)
    if not isinstance(wday, list) or len(wday) != 7 or not isinstance(minute, int):
        return []
    at_minute = minute if option == 0 else SUN_MINUTE.get(int(option or 0), -9999) + minute
    out = []
    day = dt.datetime.fromtimestamp(since, zone).date()
    last = dt.datetime.fromtimestamp(now, zone).date()
    while day <= last:
        if wday[(day.weekday() + 1) % 7]:
            local = dt.datetime.combine(day, dt.time(), zone) + dt.timedelta(minutes=at_minute)
            stamp = local.timestamp()
            if since < stamp <= now:
                out.append(stamp)
        day += dt.timedelta(days=1)
    return out


# -- IOT handlers ---------------------------------------------------------------------------
def get_time(plug: PlugState, args: Answer, ctx: Any, real: float) -> Answer:
    t = dt.datetime.fromtimestamp(plug.wall.now(real), zone_of(plug))
    fields = {"year": t.year, "month": t.month, "mday": t.day, "hour": t.hour}
    return {**fields, "min": t.minute, "sec": t.second, "err_code": 0}


def get_timezone(plug: PlugState, args: Answer, ctx: Any, real: float) -> Answer:
    return {"index": plug.tz_index, "err_code": 0}


def set_time(plug: PlugState, args: Answer, ctx: Any, real: float) -> Answer:
    keys = ("year", "month", "mday", "hour", "min", "sec")
    if not all(isinstance(args.get(k), int) and not isinstance(args.get(k), bool) for k in keys):
        return dict(INVALID)
    if "index" in args:
        index = args["index"]
        if not isinstance(index, int) or iot_zones.zone_of(index) is None:
            return dict(INVALID)
        plug.tz_index = index
    try:
        y, mo, d, h, mi, s = (int(args[k]) for k in keys)
        local = dt.datetime(y, mo, d, h, mi, s, tzinfo=zone_of(plug))
    except ValueError:
        return dict(INVALID)
    plug.wall.set(real, local.timestamp())
    return {"err_code": 0}


def set_brightness(plug: PlugState, args: Answer, ctx: Any, real: float) -> Answer:
    value = args.get("brightness")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        return dict(INVALID)
    plug.light["brightness"] = value
    return {"err_code": 0}


def countdown_rules(plug: PlugState, args: Answer, ctx: Any, real: float) -> Answer:
    now = plug.wall.now(real)
    listed = []
    for rule in plug.count_down.rules:
        armed = plug.wall.countdowns.get(rule.get("id", ""), now)
        remain = max(0, int(armed + rule.get("delay", 0) - now)) if rule.get("enable") else 0
        listed.append({**rule, "remain": remain})
    return {"rule_list": listed, "err_code": 0}


def countdown_add(plug: PlugState, args: Answer, ctx: Any, real: float) -> Answer:
    delay, act = args.get("delay"), args.get("act")
    if not isinstance(delay, int) or not 1 <= delay <= 86400 or act not in (0, 1):
        return dict(INVALID)
    answer = plug.count_down.add(args)
    plug.wall.countdowns[answer["id"]] = plug.wall.now(real)
    return answer


def countdown_edit(plug: PlugState, args: Answer, ctx: Any, real: float) -> Answer:
    answer = plug.count_down.edit(args)
    plug.wall.countdowns[args["id"]] = plug.wall.now(real)
    return answer


IOT_TIME: dict[str, Any] = {
    "get_time": get_time,
    "get_timezone": get_timezone,
    "set_timezone": set_time,
}
IOT_TIME["set_time"] = set_time
IOT_DIMMER: dict[str, Any] = {"set_brightness": set_brightness}
IOT_COUNTDOWN: dict[str, Any] = {"get_rules": countdown_rules, "add_rule": countdown_add}
IOT_COUNTDOWN["edit_rule"] = countdown_edit


# -- SMART handlers (SmartApi methods: self, params, child) ---------------------------------
def smart_device_time(api: Any, params: Answer, child: Any) -> Answer:
    plug = api.plug
    now = plug.wall.now(plug.clock())
    offset = dt.datetime.fromtimestamp(now, api.zone).utcoffset() or dt.timedelta()
    minutes = int(offset.total_seconds() // 60)
    return {"region": api.zone_name, "time_diff": minutes, "timestamp": int(now)}


def smart_set_device_time(api: Any, params: Answer, child: Any) -> None:
    from kshell.simulator.smart_energy import INVALID_PARAMS, SmartError

    stamp, region = params.get("timestamp"), params.get("region")
    if isinstance(stamp, bool) or not isinstance(stamp, int):
        raise SmartError(INVALID_PARAMS)
    if region is not None:
        try:
            api.zone = zoneinfo.ZoneInfo(str(region))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise SmartError(INVALID_PARAMS) from None
        api.zone_name = str(region)
    api.plug.wall.set(api.plug.clock(), float(stamp))


def smart_set_auto_off(api: Any, params: Answer, child: Any) -> None:
    from kshell.simulator.smart_energy import INVALID_PARAMS, SmartError

    enable, delay = params.get("enable", api.auto_off["enable"]), params.get("delay_min", 0)
    if not isinstance(enable, bool) or isinstance(delay, bool) or not isinstance(delay, int):
        raise SmartError(INVALID_PARAMS)
    if "delay_min" in params and not 1 <= delay <= 1440:
        raise SmartError(INVALID_PARAMS)
    api.auto_off["enable"] = enable
    if "delay_min" in params:
        api.auto_off["delay_min"] = delay


# -- the networks a plug sees (both families) -----------------------------------------------
NETWORKS = (("KasaSimNet", -48, 3), ("Neighbours", -71, 3), ("Cafe Guest", -80, 0))


def scaninfo(plug: PlugState, args: Answer, ctx: Any, real: float) -> Answer:
    aps = [{"ssid": ssid, "key_type": key, "rssi": rssi} for ssid, rssi, key in NETWORKS]
    return {"ap_list": aps, "err_code": 0}


def set_stainfo(plug: PlugState, args: Answer, ctx: Any, real: float) -> Answer:
    ssid, password, key = args.get("ssid"), args.get("password"), args.get("key_type")
    if not isinstance(ssid, str) or not 1 <= len(ssid.encode()) <= 32:
        return dict(INVALID)
    if not isinstance(password, str) or key not in (0, 1, 2, 3):
        return dict(INVALID)
    plug.wall.joined = (ssid, password)  # what a test checks arrived, byte for byte
    return {"err_code": 0}


def smart_join(api: Any, params: Answer, child: Any) -> None:
    import base64

    from kshell.simulator.smart_energy import INVALID_PARAMS, SmartError

    wireless = params.get("wireless")
    if not isinstance(wireless, dict) or not isinstance(params.get("account"), dict):
        raise SmartError(INVALID_PARAMS)
    try:
        ssid = base64.b64decode(str(wireless.get("ssid")), validate=True).decode()
        password = base64.b64decode(str(wireless.get("password")), validate=True).decode()
    except ValueError:
        raise SmartError(INVALID_PARAMS) from None
    api.plug.wall.joined = (ssid, password)


def smart_schedule(api: Any, params: Answer, child: Any) -> Answer:
    """``get_schedule_rules`` in its recorded shape (``s_type``, ``s_min``, ``week_day`` with
    Sunday as bit 0, ``desired_states``); listed only: its writes are not on record."""
    rules = [dict(r) for r in api.plug.wall.smart_rules]
    return {
        "enable": bool(rules),
        "rule_list": rules,
        "schedule_rule_max_count": 32,
        "start_index": 0,
        "sum": len(rules),
    }


def smart_scan(api: Any, params: Answer, child: Any) -> Answer:
    import base64

    aps = [
        {
            "ssid": base64.b64encode(ssid.encode()).decode(),
            "signal_level": 3 if rssi > -50 else 2 if rssi > -70 else 1,
            "auth": 0 if key == 0 else 3,
            "encryption": 0 if key == 0 else 2,
            "bssid": f"00-00-5E-00-53-{i:02X}",  # documentation MAC range (RFC 7042)
        }
        for i, (ssid, rssi, key) in enumerate(NETWORKS)
    ]
    return {"ap_list": aps, "start_index": 0, "sum": len(aps), "wep_supported": False}
