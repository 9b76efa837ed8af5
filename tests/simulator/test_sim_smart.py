"""The simulator's SMART JSON-RPC, asked directly (no network): errors, batches, paging,
strips' control_child, base64 names, energy units and the 28 kW meter."""

from __future__ import annotations

import base64
import time
from datetime import date, datetime
from typing import Any

import pytest

from kshell.simulator import PlugSpec, SimPlug
from kshell.simulator.smart import SmartApi
from kshell.simulator.smart_models import SMART_MODELS


def api(model: str, **kw: Any) -> SmartApi:
    plug = SimPlug(PlugSpec(host="127.11.9.1", model=model, seed=3, **kw))
    return SmartApi(plug, SMART_MODELS[plug.kind.key], kw.get("child_page", 10))


def call(smart: SmartApi, method: str, params: Any = None) -> dict[str, Any]:
    request: dict[str, Any] = {"method": method}
    if params is not None:
        request["params"] = params
    return smart.handle(request)


def result(smart: SmartApi, method: str, params: Any = None) -> dict[str, Any]:
    answer = call(smart, method, params)
    assert answer["error_code"] == 0, answer
    return answer.get("result", {})


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_errors_unknown_method_bad_json_bad_params() -> None:
    smart = api("P110(AU) 1.0")
    assert call(smart, "get_wobble") == {"error_code": -1002}
    assert smart.handle(["get_device_info"]) == {"error_code": -1003}
    assert smart.handle({"method": 7}) == {"error_code": -1003}
    assert call(smart, "get_device_info", "not a dict") == {"error_code": -1008}
    assert call(smart, "set_device_info", {"device_on": "yes"}) == {"error_code": -1008}
    assert call(smart, "set_device_info", {"nickname": "not base64!"}) == {"error_code": -1008}
    assert call(smart, "set_device_info", {"brightness": 50}) == {"error_code": -1008}  # no dimmer
    # a method of a component the model lacks is unknown there
    assert call(api("HS220(US) 3.26"), "get_energy_usage") == {"error_code": -1002}
    assert call(api("P110(EU) 1.0"), "get_emeter_data") == {"error_code": -1002}  # fw 1.2.3


def test_device_info_base64_nickname_and_set_device_info() -> None:
    smart = api("P110(AU) 1.0", alias="Kaffee ☕")
    info = result(smart, "get_device_info")
    assert base64.b64decode(info["nickname"]).decode() == "Kaffee ☕"
    assert base64.b64decode(info["ssid"]).decode() == "KasaSimNet"
    assert info["mac"].count("-") == 5 and info["model"] == "P110" and info["device_on"] is True
    assert call(smart, "set_device_info", {"device_on": False, "nickname": b64("Tee")}) == {
        "error_code": 0
    }  # a set_* answers no result
    assert smart.plug.relay_state == 0 and smart.plug.alias == "Tee"
    assert result(smart, "get_device_info")["device_on"] is False


def test_multiple_request_stops_at_the_first_failing_entry() -> None:
    smart = api("P110(AU) 1.0")
    requests = [
        {"method": "get_device_info"},
        {"method": "get_nonsense"},
        {"method": "set_device_info", "params": {"device_on": False}},
    ]
    responses = result(smart, "multipleRequest", {"requests": requests})["responses"]
    assert [(r["method"], r["error_code"]) for r in responses] == [
        ("get_device_info", 0),
        ("get_nonsense", -1002),
    ]
    assert smart.plug.relay_state == 1  # the entry after the failure was never run


def test_strip_paging_and_control_child() -> None:
    smart = api("P300(EU) 1.0", child_page=2, outlet_aliases=("A", "B", "C"))
    first = result(smart, "get_child_device_list")
    assert (len(first["child_device_list"]), first["start_index"], first["sum"]) == (2, 0, 3)
    rest = result(smart, "get_child_device_list", {"start_index": 2})["child_device_list"]
    children = first["child_device_list"] + rest
    assert [c["position"] for c in children] == [1, 2, 3]
    assert [base64.b64decode(c["nickname"]).decode() for c in children] == ["A", "B", "C"]
    assert "device_on" not in result(smart, "get_device_info")  # the parent has no relay
    third = children[2]["device_id"]
    batch = {
        "method": "multipleRequest",
        "params": {
            "requests": [
                {"method": "set_device_info", "params": {"device_on": True}},
                {"method": "get_device_info"},
            ]
        },
    }
    wrapped = result(smart, "control_child", {"device_id": third, "requestData": batch})
    inner = wrapped["responseData"]["result"]["responses"]
    assert inner[1]["result"]["device_on"] is True and smart.plug.sockets[2].state == 1
    assert call(smart, "control_child", {"device_id": "nope", "requestData": batch}) == {
        "error_code": -1008
    }
    before = [s.state for s in smart.plug.sockets]
    assert call(smart, "set_device_info", {"device_on": False})["error_code"] == 0
    assert [s.state for s in smart.plug.sockets] == before  # accepted, changes nothing


def test_dimmer_brightness_bounds() -> None:
    smart = api("HS220(US) 3.26")
    assert call(smart, "set_device_info", {"brightness": 40})["error_code"] == 0
    assert result(smart, "get_device_info")["brightness"] == 40
    for bad in (0, 101, True, "50"):
        assert call(smart, "set_device_info", {"brightness": bad})["error_code"] == -1008


def test_energy_units_agree_across_methods() -> None:
    smart = api("KP125M(US) 1.0", profile="computer")
    usage = result(smart, "get_energy_usage")
    watts = result(smart, "get_current_power")["current_power"]
    data = result(smart, "get_emeter_data")
    assert 40 < usage["current_power"] / 1000 < 300  # mW
    assert abs(watts - usage["current_power"] / 1000) < 120  # whole watts, a moment later
    assert 110_000 < data["voltage_mv"] < 130_000 and data["current_ma"] > 100
    assert usage["month_energy"] >= usage["today_energy"] >= 0  # Wh
    assert data["energy_wh"] == usage["month_energy"]
    device = result(smart, "get_device_usage")
    assert device["time_usage"]["past30"] >= device["time_usage"]["past7"]
    assert device["power_usage"]["today"] == usage["today_energy"]


def test_energy_data_per_hour_day_and_month() -> None:
    smart = api("P110(AU) 1.0", profile="fridge")
    now = int(time.time())
    today = date.fromtimestamp(now)
    quarter = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    start = int(datetime.combine(quarter, datetime.min.time()).timestamp())
    days = result(
        smart,
        "get_energy_data",
        {"start_timestamp": start, "end_timestamp": start, "interval": 1440},
    )
    assert 90 <= len(days["data"]) <= 92  # every day of the quarter, the future ones 0
    assert all(isinstance(v, int) and v >= 0 for v in days["data"])
    assert days["data"][today.toordinal() - quarter.toordinal()] >= 0
    assert sum(days["data"]) > 0  # a fridge used energy
    year = int(datetime(today.year, 1, 1).timestamp())
    months = result(
        smart,
        "get_energy_data",
        {"start_timestamp": year, "end_timestamp": year, "interval": 43200},
    )["data"]
    assert len(months) == 12 and sum(months) >= sum(days["data"])
    hours = result(
        smart,
        "get_energy_data",
        {"start_timestamp": now - 86400, "end_timestamp": now, "interval": 60},
    )["data"]
    assert len(hours) in (24, 25) and sum(hours) > 0
    too_long = {"start_timestamp": now - 10 * 86400, "end_timestamp": now, "interval": 60}
    assert call(smart, "get_energy_data", too_long) == {"error_code": -1008}
    backwards = {"start_timestamp": now, "end_timestamp": 0, "interval": 1440}
    assert call(smart, "get_energy_data", backwards) == {"error_code": -1008}


@pytest.mark.parametrize("model", ["P110(AU) 1.0", "P110(EU) 1.0"])
def test_a_bogus_meter_reads_about_28_kw(model: str) -> None:
    smart = api(model, faults=(("bogus_power", True),))
    assert result(smart, "get_energy_usage")["current_power"] > 20_000_000  # mW
    assert result(smart, "get_current_power")["current_power"] > 20_000
