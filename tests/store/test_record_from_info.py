"""The store takes the device layer's typed reading: a record made from an ``Info`` of each
family equals what the old path (the reading turned back into a sysinfo dict) stored."""

from __future__ import annotations

import dataclasses

import pytest

from kshell.device.capabilities import info as iot
from kshell.device.capabilities import smart_info
from kshell.device.state import Child, Info
from kshell.store.records import DeviceRecord

HOST, PORT = "127.64.0.2", 9999


def _iot_plug() -> Info:
    return iot.info_of(
        {
            "alias": "Kettle",
            "model": "HS110(EU)",
            "mac": "50:C7:BF:00:00:01",
            "hw_ver": "2.0",
            "sw_ver": "1.5.4 Build 180815 Rel.121440",
            "type": "IOT.SMARTPLUGSWITCH",
            "feature": "TIM:ENE",
            "relay_state": 1,
            "on_time": 12,
            "led_off": 0,
        }
    )


def _iot_strip() -> Info:
    return iot.info_of(
        {
            "alias": "Desk",
            "model": "HS300(US)",
            "mac": "50-C7-BF-00-00-02",
            "hw_ver": "1.0",
            "sw_ver": "1.0.6",
            "mic_type": "IOT.SMARTPLUGSWITCH",
            "feature": "TIM:ENE",
            "deviceId": "8006ABCD",
            "children": [
                {"id": "00", "alias": "Lamp", "state": 1, "on_time": 5},
                {"id": "01", "alias": "Fan", "state": 0, "on_time": 0},
            ],
        }
    )


def _smart(model: str, comps: list[str], kids: tuple[Child, ...] = ()) -> Info:
    device = {
        "nickname": smart_info.b64("Heater"),
        "model": model,
        "mac": "A8-42-A1-00-00-03",
        "hw_ver": "1.0",
        "fw_ver": "1.1.0 Build 230721",
        "type": "SMART.KASAPLUG",
        "device_on": False,
        "on_time": 0,
        "device_id": "80AA",
    }
    return smart_info.info_of(device, {c: 1 for c in comps}, {"led_status": True}, kids)


def _smart_klap() -> Info:
    return _smart("KP125M(US)", ["device", "energy_monitoring", "led"])


def _smart_strip() -> Info:
    kids = smart_info.children_of(
        [
            {
                "device_id": "80AA01",
                "position": 2,
                "nickname": smart_info.b64("B"),
                "device_on": True,
            },
            {
                "device_id": "80AA00",
                "position": 1,
                "nickname": smart_info.b64("A"),
                "device_on": False,
            },
        ]
    )
    return _smart("EP40M(US)", ["device", "child_device", "led"], kids)


def _smart_aes() -> Info:
    return _smart("HS200(US)", ["device", "led"])  # an older AES switch: no meter


EXPECTED = {
    "iot plug": (
        _iot_plug,
        DeviceRecord(
            HOST,
            PORT,
            alias="Kettle",
            mac="50:C7:BF:00:00:01",
            model="HS110(EU)",
            hw_ver="2.0",
            sw_ver="1.5.4 Build 180815 Rel.121440",
            kind="plug",
            state="on",
            emeter=True,
            heard_by="direct",
        ),
    ),
    "iot strip": (
        _iot_strip,
        DeviceRecord(
            HOST,
            PORT,
            alias="Desk",
            mac="50:C7:BF:00:00:02",
            model="HS300(US)",
            hw_ver="1.0",
            sw_ver="1.0.6",
            kind="strip",
            state="on",
            emeter=True,
            heard_by="direct",
            children=[
                {"number": 1, "id": "8006ABCD00", "alias": "Lamp", "state": "on"},
                {"number": 2, "id": "8006ABCD01", "alias": "Fan", "state": "off"},
            ],
        ),
    ),
    "smart klap": (
        _smart_klap,
        DeviceRecord(
            HOST,
            PORT,
            alias="Heater",
            mac="A8:42:A1:00:00:03",
            model="KP125M(US)",
            hw_ver="1.0",
            sw_ver="1.1.0 Build 230721",
            kind="plug",
            state="off",
            emeter=True,
            heard_by="direct",
        ),
    ),
    "smart strip": (
        _smart_strip,
        DeviceRecord(
            HOST,
            PORT,
            alias="Heater",
            mac="A8:42:A1:00:00:03",
            model="EP40M(US)",
            hw_ver="1.0",
            sw_ver="1.1.0 Build 230721",
            kind="strip",
            state="off",
            heard_by="direct",
            children=[
                {"number": 1, "id": "80AA00", "alias": "A", "state": "off"},
                {"number": 2, "id": "80AA01", "alias": "B", "state": "on"},
            ],
        ),
    ),
    "smart aes": (
        _smart_aes,
        DeviceRecord(
            HOST,
            PORT,
            alias="Heater",
            mac="A8:42:A1:00:00:03",
            model="HS200(US)",
            hw_ver="1.0",
            sw_ver="1.1.0 Build 230721",
            kind="plug",
            state="off",
            heard_by="direct",
        ),
    ),
}


def _stored(info: Info) -> DeviceRecord:
    record = DeviceRecord.from_info(HOST, PORT, info)
    assert record.last_heard > 0  # heard just now
    return dataclasses.replace(record, last_heard=0.0)


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_a_typed_reading_makes_the_record_the_old_path_stored(family: str) -> None:
    reading, expected = EXPECTED[family]
    assert _stored(reading()) == expected
