"""The plug simulator, spoken to with plain sockets and python-kasa (a real third-party client).

Every plug lives on 127.10.x.y (this file's range) and UDP uses a port the simulator picks, so
the tests can run beside other test files. Nothing leaves 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kasa
import pytest
from helpers.waiting import holds, wait_until

from kshell.device.codec import (
    HEADER_SIZE,
    decode_datagram,
    encode,
    encode_datagram,
    frame_length,
)
from kshell.errors import ProtocolError
from kshell.simulator import (
    BROADCAST,
    FAULTS,
    MODELS,
    FirmwareConfig,
    PlugSpec,
    SimPlug,
    SimulatorThread,
    addresses,
    bulk_specs,
    demo_specs,
    make_image,
    parse_image,
)

SYSINFO = {"system": {"get_sysinfo": {}}}
REALTIME = {"emeter": {"get_realtime": {}}}
FAST_FW = FirmwareConfig(flash_time=0.3, reboot_time=0.3, download_rate=None)


# -- a plain client -----------------------------------------------------------------------
def read_frame(sock: socket.socket) -> bytes:
    header = _read_exactly(sock, HEADER_SIZE)
    return _read_exactly(sock, frame_length(header))


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def ask(plug: SimPlug, request: dict, *, sock: socket.socket | None = None, timeout: float = 3):
    """One request on a new connection (or on ``sock``); the decoded answer."""
    own = sock is None
    s = sock or socket.create_connection((plug.host, plug.port), timeout=timeout)
    try:
        s.sendall(encode(request))
        return decode_datagram(read_frame(s))
    finally:
        if own:
            s.close()


def broadcast(udp_port: int, request: dict = SYSINFO, wait: float = 0.5) -> list[tuple]:
    """Send to 127.255.255.255 and collect (address, answer) until quiet."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.bind(("127.0.0.1", 0))
        s.settimeout(wait)
        s.sendto(encode_datagram(request), (BROADCAST, udp_port))
        got = []
        with contextlib.suppress(TimeoutError):
            while True:
                data, addr = s.recvfrom(65535)
                got.append((addr, decode_datagram(data)))
        return got


def unicast(plug: SimPlug, request: dict = SYSINFO, wait: float = 0.5) -> dict | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(wait)
        s.sendto(encode_datagram(request), (plug.host, plug.udp_port))
        try:
            data, addr = s.recvfrom(65535)
        except TimeoutError:
            return None
        assert addr == (plug.host, plug.udp_port)  # from the plug's own address and port
        return decode_datagram(data)


def refused(plug: SimPlug) -> bool:
    """Does the plug turn connections away? A reset counts: the listener closing under a
    connection in flight is the moment it goes down."""
    try:
        socket.create_connection((plug.host, plug.port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


def spec(host: str, model: str, **kw: Any) -> PlugSpec:
    return PlugSpec(host=host, model=model, udp_port=0, **kw)


# -- one fleet for the read-mostly tests ---------------------------------------------------
@pytest.fixture(scope="module")
def fleet() -> Iterator[SimulatorThread]:
    specs = [
        spec(host, model, seed=i, port=0, profile=None if MODELS[model].is_strip else "computer")
        for i, (host, model) in enumerate(zip(addresses("127.10.1.1", len(MODELS)), MODELS))
    ]
    with SimulatorThread(specs, firmware=FAST_FW) as sim:
        yield sim


def by_model(sim: SimulatorThread, key: str) -> SimPlug:
    return next(p for p in sim.plugs if p.kind.key == key)


@pytest.mark.parametrize("key", list(MODELS))
def test_sysinfo_matches_the_real_models_key_sets(fleet: SimulatorThread, key: str) -> None:
    plug = by_model(fleet, key)
    info = ask(plug, SYSINFO)["system"]["get_sysinfo"]
    model = MODELS[key]
    assert info["model"] == model.model and info["hw_ver"] == model.hw_ver
    assert info["err_code"] == 0 and info["sw_ver"] == model.sw_ver
    assert info["deviceId"].startswith("8006") and len(info["deviceId"]) == 40
    if model.is_bulb:  # bulbs: mic_type, mic_mac, no relay, no feature
        assert info["mic_type"] == "IOT.SMARTBULB" and len(info["mic_mac"]) == 12
        assert "mac" not in info and "feature" not in info and "relay_state" not in info
        return
    assert info["mac"].count(":") == 5
    assert ("mic_type" in info) == (model.type_key == "mic_type")
    assert ("type" in info) == (model.type_key == "type")
    assert info.get("mic_type", info.get("type")) == "IOT.SMARTPLUGSWITCH"
    assert info["feature"] == ("TIM:ENE" if model.has_emeter else "TIM")
    if key == "HS110(EU) 1.0":  # old firmware: float location, no next_action
        assert "latitude" in info and "latitude_i" not in info and "next_action" not in info
    else:
        assert isinstance(info["latitude_i"], int) and "latitude" not in info
    assert ("fwId" in info) == (not model.is_strip and key != "KP115(EU) 1.0")
    if model.is_strip:
        assert "relay_state" not in info and "dev_name" not in info
        assert info["child_num"] == 6 and len(info["children"]) == 6
        ids = [c["id"] for c in info["children"]]
        assert ids == [info["deviceId"] + f"{i:02d}" for i in range(6)]
        assert set(info["children"][0]) == {"id", "state", "alias", "on_time", "next_action"}
    else:
        assert info["relay_state"] in (0, 1) and "on_time" in info and "led_off" in info
    if key == "KP115(EU) 1.0":
        assert {"ntc_state", "obd_src", "status"} <= set(info)


def test_identities_are_unique_per_plug() -> None:
    plugs = [SimPlug(PlugSpec(host=h, model="HS110(EU) 2.0")) for h in addresses("127.10.2.1", 50)]
    assert len({p.mac for p in plugs}) == 50 and len({p.device_id for p in plugs}) == 50
    assert len({p.hw_id for p in plugs}) == 1  # hwId names the hardware model, as on real plugs


def test_one_connection_serves_many_requests_and_several_modules(fleet: SimulatorThread) -> None:
    plug = by_model(fleet, "HS110(EU) 2.0")
    with socket.create_connection((plug.host, plug.port), timeout=3) as s:
        for _ in range(5):
            answer = ask(plug, {**SYSINFO, **REALTIME, "time": {"get_time": {}}}, sock=s)
            assert set(answer) == {"system", "emeter", "time"}
            assert answer["emeter"]["get_realtime"]["err_code"] == 0


def test_unknown_module_method_and_bad_arguments_answer_like_firmware(
    fleet: SimulatorThread,
) -> None:
    plug = by_model(fleet, "HS100(US) 2.0")
    answer = ask(
        plug,
        {
            "nosuch": {"x": {}},
            "system": {"nosuch": {}, "set_relay_state": {"state": "on"}},
            "emeter": {"get_realtime": {}},  # a plug without ENE has no meter module
            "smartlife.iot.common.emeter": {"get_realtime": {}},
        },
    )
    assert answer["nosuch"] == {"err_code": -1, "err_msg": "module not support"}
    assert answer["system"]["nosuch"] == {"err_code": -2, "err_msg": "member not support"}
    assert answer["system"]["set_relay_state"] == {"err_code": -3, "err_msg": "invalid argument"}
    assert answer["emeter"] == {"err_code": -1, "err_msg": "module not support"}
    assert answer["smartlife.iot.common.emeter"]["err_code"] == -1


def test_relay_led_and_alias_persist_and_on_time_grows() -> None:
    with SimulatorThread([spec("127.10.3.1", "HS105(US) 1.0")]) as sim:
        plug = sim.plugs[0]
        off = {"set_relay_state": {"state": 0}, "set_led_off": {"off": 1}}
        assert ask(plug, {"system": {**off, "set_dev_alias": {"alias": "Desk"}}})["system"] == {
            "set_relay_state": {"err_code": 0},
            "set_led_off": {"err_code": 0},
            "set_dev_alias": {"err_code": 0},
        }
        info = ask(plug, SYSINFO)["system"]["get_sysinfo"]
        assert (info["relay_state"], info["on_time"], info["led_off"]) == (0, 0, 1)
        assert info["alias"] == "Desk" and sim.plugs[0].alias == "Desk"
        ask(plug, {"system": {"set_relay_state": {"state": 1}}})
        wait_until(lambda: ask(plug, SYSINFO)["system"]["get_sysinfo"]["on_time"] >= 1, 3)
        info = ask(plug, SYSINFO)["system"]["get_sysinfo"]
        assert info["relay_state"] == 1 and info["on_time"] >= 1


def test_emeter_schemas_old_and_new(fleet: SimulatorThread) -> None:
    old = ask(by_model(fleet, "HS110(EU) 1.0"), REALTIME)["emeter"]["get_realtime"]
    assert set(old) == {"current", "voltage", "power", "total", "err_code"}
    assert 220 < old["voltage"] < 242 and old["power"] > 30  # a computer, in W
    assert old["power"] * 0.99 <= old["current"] * old["voltage"] <= old["power"] * 2.5
    for key in ("HS110(EU) 2.0", "KP115(EU) 1.0", "HS300(US) 1.0", "HS300(US) 2.0"):
        new = ask(by_model(fleet, key), REALTIME)["emeter"]["get_realtime"]
        slot = {"slot_id"} if key == "HS300(US) 2.0" else set()  # strips of hardware 2
        assert set(new) == {"voltage_mv", "current_ma", "power_mw", "total_wh", "err_code"} | slot
        assert all(isinstance(v, int) for v in new.values())
        nominal = 120_000 if "(US)" in key else 230_000
        assert abs(new["voltage_mv"] - nominal) < nominal * 0.05
        if new["power_mw"] > 20_000:  # current consistent with power (power factor <= 1)
            volt_amps_mw = new["current_ma"] * new["voltage_mv"] / 1000
            assert new["power_mw"] * 0.99 <= volt_amps_mw <= new["power_mw"] * 2.5
    bulb = ask(
        by_model(fleet, "KL110(US) 1.0"), {"smartlife.iot.common.emeter": {"get_realtime": {}}}
    )
    assert set(bulb["smartlife.iot.common.emeter"]["get_realtime"]) == {"power_mw", "err_code"}


def test_total_accumulates_and_history_is_consistent(fleet: SimulatorThread) -> None:
    plug = by_model(fleet, "HS110(EU) 2.0")
    ask(plug, REALTIME)
    first = fleet.call(lambda: plug.sockets[0].meter.total_wh)

    def grew() -> bool:
        ask(plug, REALTIME)
        return fleet.call(lambda: plug.sockets[0].meter.total_wh) > first

    wait_until(grew, 3)
    now = time.localtime()
    stats = ask(
        plug,
        {
            "emeter": {
                "get_daystat": {"year": now.tm_year, "month": now.tm_mon},
                "get_monthstat": {"year": now.tm_year},
            }
        },
    )["emeter"]
    days = stats["get_daystat"]["day_list"]
    assert days and days[-1]["day"] == now.tm_mday
    assert set(days[0]) == {"year", "month", "day", "energy_wh"}
    month = next(m for m in stats["get_monthstat"]["month_list"] if m["month"] == now.tm_mon)
    assert month["energy_wh"] == pytest.approx(sum(d["energy_wh"] for d in days), abs=len(days))
    old = ask(by_model(fleet, "HS110(EU) 1.0"), {"emeter": {"get_monthstat": {"year": 2001}}})
    assert old["emeter"]["get_monthstat"] == {"month_list": [], "err_code": 0}


def test_strip_outlets_are_addressed_by_context() -> None:
    with SimulatorThread([spec("127.10.4.1", "HS300(US) 1.0", outlet_states=(1,) * 6)]) as sim:
        strip = sim.plugs[0]
        ids = [s.id for s in strip.sockets]
        ctx = {"context": {"child_ids": [ids[1], ids[3]]}}
        assert ask(strip, {**ctx, "system": {"set_relay_state": {"state": 0}}}) == {
            "system": {"set_relay_state": {"err_code": 0}}
        }
        ask(
            strip,
            {"context": {"child_ids": [ids[2]]}, "system": {"set_dev_alias": {"alias": "TV"}}},
        )
        children = ask(strip, SYSINFO)["system"]["get_sysinfo"]["children"]
        assert [c["state"] for c in children] == [1, 0, 1, 0, 1, 1]
        assert children[2]["alias"] == "TV" and children[1]["on_time"] == 0
        per_outlet = [
            ask(strip, {"context": {"child_ids": [i]}, **REALTIME})["emeter"]["get_realtime"]
            for i in ids
        ]
        assert per_outlet[1]["power_mw"] == 0 and per_outlet[3]["current_ma"] == 0
        bad = ask(strip, {"context": {"child_ids": ["nope"]}, **REALTIME})
        assert bad["emeter"]["get_realtime"] == {"err_code": -14, "err_msg": "entry not exist"}
        ask(strip, {"system": {"set_relay_state": {"state": 0}}})  # no context: every outlet
        assert [c.state for c in strip.sockets] == [0] * 6


def test_udp_broadcast_is_answered_by_every_plug_from_its_own_address() -> None:
    first = [spec(h, "HS110(EU) 2.0") for h in addresses("127.10.5.1", 4)]
    with SimulatorThread(first) as a:
        port = a.udp_port
        assert port and all(p.udp_port == port for p in a.plugs)
        # a second simulator in the same process, same UDP port: both get the broadcast
        second = [PlugSpec(host=h, udp_port=port) for h in addresses("127.10.6.1", 2)]
        with SimulatorThread(second) as b:
            got = broadcast(port)
            aliases = {p.host: p.alias for p in a.plugs + b.plugs}
            assert sorted(addr[0] for addr, _ in got) == sorted(aliases)  # each answers once
            assert all(addr[1] == port for addr, _ in got)  # from its own UDP port
            for (host, _), answer in got:
                assert answer["system"]["get_sysinfo"]["alias"] == aliases[host]
        assert unicast(a.plugs[0])["system"]["get_sysinfo"]["model"] == "HS110(EU)"
        assert len(broadcast(port)) == 4  # the second simulator has gone quietly


def test_stop_frees_every_port() -> None:
    plugs = [spec(h, "KP115(EU) 1.0") for h in addresses("127.10.7.1", 3)]
    with SimulatorThread(plugs) as sim:
        bound = [(p.host, p.port, p.udp_port) for p in sim.plugs]
        ask(sim.plugs[0], SYSINFO)
    for host, port, udp in bound:
        with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind((host, port))
            u.bind((host, udp))
    with SimulatorThread(plugs) as again:  # and the same fleet can start again at once
        assert ask(again.plugs[0], SYSINFO)["system"]["get_sysinfo"]["model"] == "KP115(EU)"


def test_fleets_stay_on_distinct_loopback_addresses() -> None:
    bulk = bulk_specs(250)
    hosts = [s.host for s in bulk]
    assert len(set(hosts)) == 250
    assert all(h.startswith("127.") and h.rsplit(".", 1)[1] not in ("0", "255") for h in hosts)
    assert {s.model for s in bulk} == {k for k, m in MODELS.items() if not m.is_bulb}
    demo = demo_specs()
    assert [s.alias for s in demo] == [
        "Living Room Lamp",
        "Kitchen Kettle",
        "Office Heater",
        "Media Strip",
        "Garage",
    ]
    assert demo[0].host == "127.0.0.2" and demo[0].port == 9999
    with pytest.raises(ValueError):
        addresses("198.51.100.1", 1)  # not loopback: refused
    with pytest.raises(ValueError):
        SimulatorThread([PlugSpec(host="203.0.113.2")])


# -- faults --------------------------------------------------------------------------------
@pytest.fixture
def faulty() -> Iterator[SimulatorThread]:
    with SimulatorThread([spec("127.10.8.1", "HS110(EU) 2.0", profile="heater")]) as sim:
        yield sim


def test_fault_delay_drop_and_close(faulty: SimulatorThread) -> None:
    plug = faulty.plugs[0]
    faulty.set_fault(plug.host, "delay", 0.4)
    start = time.monotonic()
    ask(plug, SYSINFO)
    assert time.monotonic() - start >= 0.4
    faulty.set_fault(plug.host, "drop")
    with pytest.raises(TimeoutError):
        ask(plug, SYSINFO, timeout=0.5)
    faulty.clear_faults(plug.host)
    faulty.set_fault(plug.host, "close")
    with pytest.raises(ConnectionError):
        ask(plug, SYSINFO)
    faulty.clear_faults(plug.host)
    assert ask(plug, SYSINFO)["system"]["get_sysinfo"]["err_code"] == 0


def test_fault_garbage_and_bad_length(faulty: SimulatorThread) -> None:
    plug = faulty.plugs[0]
    faulty.set_fault(plug.host, "garbage")
    with pytest.raises(ProtocolError):
        ask(plug, SYSINFO)
    faulty.clear_faults(plug.host, "garbage")
    faulty.set_fault(plug.host, "bad_length")  # huge
    with socket.create_connection((plug.host, plug.port), timeout=2) as s:
        s.sendall(encode(SYSINFO))
        with pytest.raises(ProtocolError, match="more than"):
            frame_length(_read_exactly(s, HEADER_SIZE))
    faulty.set_fault(plug.host, "bad_length", "short")
    with pytest.raises(TimeoutError):
        ask(plug, SYSINFO, timeout=0.5)
    faulty.clear_faults(plug.host)
    assert ask(plug, SYSINFO)["system"]["get_sysinfo"]["alias"] == plug.alias


def test_fault_bogus_power_then_normal(faulty: SimulatorThread) -> None:
    plug = faulty.plugs[0]
    faulty.set_fault(plug.host, "bogus_power", 2)
    readings = [ask(plug, REALTIME)["emeter"]["get_realtime"]["power_mw"] for _ in range(3)]
    assert readings[0] > 28_000_000 and readings[1] > 28_000_000
    assert readings[2] < 3_000_000


def test_fault_tcp_dead_offline_and_klap(faulty: SimulatorThread) -> None:
    plug = faulty.plugs[0]
    faulty.set_fault(plug.host, "tcp_dead")
    assert refused(plug) and unicast(plug) is not None  # discovery works, TCP does not
    faulty.set_fault(plug.host, "offline")
    assert refused(plug) and unicast(plug, wait=0.3) is None
    faulty.clear_faults(plug.host)
    assert unicast(plug) is not None and ask(plug, SYSINFO)
    with socket.socket() as probe:  # a free port stands in for port 80
        probe.bind((plug.host, 0))
        http_port = probe.getsockname()[1]
    faulty.set_fault(plug.host, "klap", http_port)
    assert refused(plug)
    with socket.create_connection((plug.host, http_port), timeout=2) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 200")
    faulty.clear_faults(plug.host)
    assert ask(plug, SYSINFO)


def test_erase_emeter_stat_and_the_noop_firmware(faulty: SimulatorThread) -> None:
    plug = faulty.plugs[0]
    past = time.localtime(time.time() - 20 * 86400)  # always inside the synthesised history

    def has_past_day() -> bool:
        query = {"emeter": {"get_daystat": {"year": past.tm_year, "month": past.tm_mon}}}
        days = ask(plug, query)["emeter"]["get_daystat"]["day_list"]
        return any(d["day"] == past.tm_mday for d in days)

    erase = {"emeter": {"erase_emeter_stat": {}}}
    faulty.set_fault(plug.host, "erase_noop")
    assert has_past_day()
    assert ask(plug, erase)["emeter"]["erase_emeter_stat"] == {"err_code": 0}
    assert has_past_day()  # said 0, erased nothing
    faulty.clear_faults(plug.host)
    assert ask(plug, erase)["emeter"]["erase_emeter_stat"] == {"err_code": 0}
    assert not has_past_day()
    assert ask(plug, REALTIME)["emeter"]["get_realtime"]["total_wh"] < 5


def test_reboot_goes_away_and_comes_back_with_total_restarted() -> None:
    fw = FirmwareConfig(flash_time=0.3, reboot_time=0.5)
    with SimulatorThread([spec("127.10.9.1", "HS110(EU) 1.0")], firmware=fw) as sim:
        plug = sim.plugs[0]
        assert ask(plug, REALTIME)["emeter"]["get_realtime"]["total"] > 0.01
        with socket.create_connection((plug.host, plug.port), timeout=2) as s:
            assert ask(plug, {"system": {"reboot": {"delay": 0}}}, sock=s)["system"] == {
                "reboot": {"err_code": 0}
            }
            wait_until(lambda: refused(plug))
            with pytest.raises(OSError):  # the kept-open connection was dropped
                ask(plug, SYSINFO, sock=s)
        wait_until(lambda: not refused(plug))
        assert ask(plug, REALTIME)["emeter"]["get_realtime"]["total"] < 0.01
        info = ask(plug, SYSINFO)["system"]["get_sysinfo"]
        assert info["on_time"] < 3
        sim.power_cut(plug.host)
        assert ask(plug, REALTIME)["emeter"]["get_realtime"]["total"] < 0.01


def test_every_fault_name_is_documented_and_validated(faulty: SimulatorThread) -> None:
    assert {
        "delay",
        "drop",
        "close",
        "garbage",
        "bad_length",
        "bogus_power",
        "tcp_dead",
        "offline",
        "erase_noop",
    } <= set(FAULTS)
    with pytest.raises(ValueError):
        faulty.set_fault(faulty.plugs[0].host, "gremlins")
    with pytest.raises(KeyError):
        faulty.set_fault("127.10.99.99", "offline")


# -- firmware --------------------------------------------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A tiny http.server on loopback serving ``tmp_path``: (base URL, folder)."""
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.10.10.250", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.10.10.250:{server.server_address[1]}", tmp_path
    server.shutdown()
    server.server_close()


def test_firmware_image_header_round_trip() -> None:
    image = make_image("HS110(EU)", "2.0", "1.5.10", size=2048, build="230615", rel="101530")
    assert len(image) == 2048
    header = parse_image(image)
    assert header and header.sw_ver == "1.5.10 Build 230615 Rel.101530"
    assert parse_image(b"\x00" * 100) is None
    assert parse_image(b"KSHELL-SIM-FW model=X hw=1.0 version=banana\n") is None


def test_firmware_download_flash_reboot_new_version(image_server: tuple[str, Path]) -> None:
    base, folder = image_server
    (folder / "good.bin").write_bytes(make_image("HS110(EU)", "2.0", "1.5.10", size=200_000))
    (folder / "other.bin").write_bytes(make_image("HS100(US)", "2.0", "1.6.0"))
    (folder / "junk.bin").write_bytes(b"\x7fELF" + bytes(5000))
    with SimulatorThread([spec("127.10.10.1", "HS110(EU) 2.0")], firmware=FAST_FW) as sim:
        plug = sim.plugs[0]

        def system(method: str, **args: Any) -> dict:
            return ask(plug, {"system": {method: args}})["system"][method]

        idle = system("get_download_state")
        assert idle["err_code"] == 0 and idle["ratio"] == 0 and "flash_time" in idle
        assert system("flash_firmware")["err_code"] == -5  # nothing downloaded
        for name in ("junk.bin", "other.bin"):
            assert system("download_firmware", url=f"{base}/{name}") == {"err_code": 0}
            wait_until(lambda: system("get_download_state")["ratio"] == 100)
            assert system("flash_firmware")["err_code"] == -5  # not an image for this plug
        assert system("download_firmware", url=f"{base}/good.bin") == {"err_code": 0}
        wait_until(lambda: system("get_download_state")["ratio"] == 100)
        state = system("get_download_state")
        assert state == {
            "status": 2,
            "ratio": 100,
            "reboot_time": 1,
            "flash_time": 1,
            "err_code": 0,
        }
        assert system("flash_firmware") == {"err_code": 0}
        wait_until(lambda: refused(plug))
        wait_until(lambda: not refused(plug))
        info = ask(plug, SYSINFO)["system"]["get_sysinfo"]
        assert info["sw_ver"].startswith("1.5.10 Build ")


def test_firmware_https_missing_file_and_faults(image_server: tuple[str, Path]) -> None:
    base, folder = image_server
    (folder / "good.bin").write_bytes(make_image("KP115(EU)", "1.0", "1.0.20"))
    with SimulatorThread([spec("127.10.11.1", "KP115(EU) 1.0")], firmware=FAST_FW) as sim:
        plug = sim.plugs[0]

        def system(method: str, **args: Any) -> dict:
            return ask(plug, {"system": {method: args}})["system"][method]

        unknown = {"err_code": -7, "err_msg": "unknown error"}
        assert system("download_firmware", url="https://127.10.10.250/good.bin")["err_code"] == 0
        assert system("get_download_state") == unknown  # plugs cannot fetch over TLS
        system("download_firmware", url=f"{base}/missing.bin")
        wait_until(lambda: system("get_download_state") == unknown)
        sim.set_fault(plug.host, "fw_download_fail")
        system("download_firmware", url=f"{base}/good.bin")
        assert system("get_download_state") == unknown
        sim.clear_faults(plug.host)
        sim.set_fault(plug.host, "fw_stall")
        system("download_firmware", url=f"{base}/good.bin")
        holds(lambda: system("get_download_state")["status"] == 1, 0.3)  # stuck downloading
        sim.clear_faults(plug.host)
        wait_until(lambda: system("get_download_state")["ratio"] == 100)
        sim.set_fault(plug.host, "fw_flash_fail")
        assert system("flash_firmware")["err_code"] == -5
        sim.clear_faults(plug.host)
        sim.set_fault(plug.host, "fw_never_back")
        system("download_firmware", url=f"{base}/good.bin")
        wait_until(lambda: system("get_download_state")["ratio"] == 100)
        assert system("flash_firmware") == {"err_code": 0}
        wait_until(lambda: refused(plug))
        holds(lambda: refused(plug), FAST_FW.flash_time + FAST_FW.reboot_time + 0.3)
        assert unicast(plug, wait=0.2) is None  # never came back...
        sim.clear_faults(plug.host, "fw_never_back")  # ...until someone unplugs it
        assert ask(plug, SYSINFO)["system"]["get_sysinfo"]["sw_ver"].startswith("1.0.20 ")


# -- a real third-party client ---------------------------------------------------------------
def test_python_kasa_reads_and_switches_our_plugs() -> None:
    from kasa import DeviceConfig, Discover, Module
    from kasa.iot import IotPlug, IotStrip

    specs = [
        spec("127.10.12.1", "HS110(EU) 1.0", profile="media"),  # never idle: power > 10 W
        spec("127.10.12.2", "KP115(EU) 1.0", profile="computer"),
        spec("127.10.12.3", "HS300(US) 1.0"),
        spec("127.10.12.4", "HS105(US) 1.0"),
    ]

    async def session(sim: SimulatorThread) -> None:
        old, new, strip, mini = sim.plugs
        for plug in (old, new):
            dev = IotPlug(plug.host, config=DeviceConfig(host=plug.host, timeout=5))
            await dev.update()
            assert dev.alias == plug.alias and dev.has_emeter
            status = dev.modules[Module.Energy].status
            assert status.power > 10 and 200 < status.voltage < 250 and status.total > 0
            await dev.turn_off()
            assert sim.call(lambda p=plug: p.relay_state) == 0  # switched, as we see it
            await dev.update()
            assert not dev.is_on
            await dev.protocol.close()
        dev = IotStrip(strip.host, config=DeviceConfig(host=strip.host, timeout=5))
        await dev.update()
        assert len(dev.children) == 6
        await dev.children[2].turn_off()
        assert sim.call(lambda: [s.state for s in strip.sockets])[2] == 0
        assert dev.children[0].modules[Module.Energy].status.voltage > 100
        await dev.protocol.close()
        dev = IotPlug(mini.host, config=DeviceConfig(host=mini.host, timeout=5))
        await dev.update()
        assert not dev.has_emeter and dev.model == "HS105"
        await dev.protocol.close()
        found = await Discover.discover(target=BROADCAST, port=sim.udp_port, discovery_timeout=1)
        assert sorted(found) == sorted(sim.hosts)
        for d in found.values():
            await d.protocol.close()

    assert kasa
    with SimulatorThread(specs) as sim:
        asyncio.run(session(sim))
