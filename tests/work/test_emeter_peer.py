"""The energy meter against a third-party plug simulator (npm tplink-smarthome-simulator).

Its HS110 hardware 1 answers the old schema (W, V, A, kWh), its HS110 hardware 2 and HS300
the new one (mW, mV, mA, Wh), from the same underlying figures: both must read the same.
The peer is started by conftest's npm_peer (from tests/peer); plugs on 127.30.20.x.
"""

from __future__ import annotations

import pytest
from helpers.shell import json_lines, run_shell

HW1, HW2, STRIP, PLAIN = (f"127.30.20.{n}" for n in range(2, 6))
DEVICES = [
    {
        "address": HW1,
        "port": 9999,
        "model": "hs110",
        "data": {"alias": "Old Meter", "mac": "50:c7:bf:30:20:02", "deviceId": "E110A"},
    },
    {
        "address": HW2,
        "port": 9999,
        "model": "hs110v2",
        "data": {"alias": "New Meter", "mac": "50:c7:bf:30:20:03", "deviceId": "E110B"},
    },
    {
        "address": STRIP,
        "port": 9999,
        "model": "hs300",
        "data": {"alias": "Peer Strip", "mac": "50:c7:bf:30:20:04", "deviceId": "E300"},
    },
    {
        "address": PLAIN,
        "port": 9999,
        "model": "hs100",
        "data": {"alias": "No Meter", "mac": "50:c7:bf:30:20:05", "deviceId": "E100"},
    },
]
UDP_PORT = 19930


@pytest.fixture
def peer(npm_peer):
    return npm_peer(DEVICES, UDP_PORT)


def test_hardware_1_and_2_schemas_read_the_same(peer, home):
    result = run_shell(home, "--json", "-c", f"emeter {HW1}; emeter {HW2}")
    assert result.returncode == 0, result.stderr
    old, new = json_lines(result.stdout)
    assert old["schema"] == "v1" and set(old["raw"]) >= {"power", "voltage", "current", "total"}
    assert new["schema"] == "v2" and set(new["raw"]) >= {
        "power_mw",
        "voltage_mv",
        "current_ma",
        "total_wh",
    }
    # the peer derives its new-schema answer from the old figures (truncated to integers)
    assert new["power_w"] == pytest.approx(old["power_w"], abs=0.001)
    assert new["voltage_v"] == pytest.approx(old["voltage_v"], abs=0.001)
    assert new["current_a"] == pytest.approx(old["current_a"], abs=0.001)
    assert new["total_kwh"] == pytest.approx(old["total_kwh"], abs=0.001)
    assert old["plausible"] and new["plausible"]


def test_strip_outlets_and_a_plug_without_a_meter(peer, home):
    result = run_shell(
        home, "--json", "-c", f"emeter {STRIP}; emeter 'Peer Strip/3'; emeter {PLAIN}"
    )
    assert result.returncode == 1  # the plain plug has no meter
    strip, outlet = json_lines(result.stdout)
    assert len(strip["outlets"]) == 6 and all(o["schema"] == "v2" for o in strip["outlets"])
    assert outlet["target"] == "Peer Strip/3" and outlet["plausible"] is True
    assert "no energy meter" in json_lines(result.stderr)[0]["error"]["message"]


def test_watch_streams_from_third_party_plugs(peer, home):
    result = run_shell(
        home, "--json", "-c", f"emeter watch {HW1} {HW2} {STRIP} --count 3 --interval 0"
    )
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    samples, summary = lines[:-1], lines[-1]["summary"]
    assert len(samples) == 3 * (1 + 1 + 6)
    assert all(s["status"] == "ok" and s["plausible"] for s in samples)
    assert summary["rounds"] == 3 and summary["flagged"] == 0
    by_target = {t["target"]: t for t in summary["targets"]}
    assert by_target["Old Meter"]["samples"] == 3 and by_target["Peer Strip/6"]["samples"] == 3
