"""Every core command and every fault, through the real CLI, against our simulator."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers.shell import ROOT, json_lines, run_shell

from kshell.device.sysinfo import check_answer
from kshell.errors import DeviceError
from kshell.simulator import PlugSpec, demo_specs
from kshell.store.devices import DeviceStore

BASE = "127.60.0.2"


@pytest.fixture
def house(fleet):
    sim, home = fleet(demo_specs(5, BASE, udp_port=0))
    assert run_shell(home, "-c", "discover").returncode == 0
    return sim, home


def test_discover_by_loopback_broadcast_finds_every_plug(fleet):
    sim, home = fleet(demo_specs(7, BASE, udp_port=0))  # includes a bulb
    out = run_shell(home, "--json", "-c", "discover")
    assert out.returncode == 0, out.stderr
    report = json_lines(out.stdout)[0]
    assert report["sent_to"] == [{"interface": "target", "address": "127.255.255.255"}]
    assert report["answered"] == 7
    kinds = {d["alias"]: d["kind"] for d in report["devices"]}
    assert kinds["Media Strip"] == "strip" and kinds["Porch Light"] == "bulb"
    text = run_shell(home, "-c", "devices").stdout
    assert "unsupported (bulb)" in text and "7 known, 7 online" in text
    stored = DeviceStore(home / "devices.db").all()  # the store other processes read
    assert {r.host for r in stored} == set(sim.hosts)
    assert all(r.mac and r.model and r.heard_by == "broadcast" for r in stored)


def test_discovery_reports_plugs_that_answer_udp_but_refuse_tcp(fleet):
    sim, home = fleet(demo_specs(3, BASE, udp_port=0))
    sim.set_fault(sim.hosts[1], "tcp_dead")
    out = run_shell(home, "-c", "discover --verbose")
    assert f"1 answered UDP but refused TCP: {sim.hosts[1]}" in out.stdout
    assert "offline" in out.stdout


def test_a_plug_is_offline_only_after_a_request_to_it_failed_and_is_never_forgotten(house):
    sim, home = house
    sim.set_fault(sim.hosts[0], "offline")
    run_shell(home, "-c", "discover")  # silence on a broadcast proves nothing
    devices = json_lines(run_shell(home, "--json", "-c", "devices").stdout)[0]["devices"]
    lamp = next(d for d in devices if d["host"] == sim.hosts[0])
    assert lamp["online"] is True and lamp["heard_by"] == "broadcast" and len(devices) == 5
    assert run_shell(home, "-c", f"info {sim.hosts[0]}").returncode == 1  # asked, no answer
    devices = json_lines(run_shell(home, "--json", "-c", "devices").stdout)[0]["devices"]
    lamp = next(d for d in devices if d["host"] == sim.hosts[0])
    assert lamp["online"] is False and len(devices) == 5


def test_cidr_sweep_finds_plugs_broadcast_cannot_reach(fleet):
    _sim, home = fleet(
        [
            PlugSpec(host="127.60.9.7", model="HS105(US) 1.0", alias="Far", udp_port=None),
            PlugSpec(host="127.60.9.200", model="HS100(US) 2.0", alias="Farther", udp_port=None),
        ]
    )
    out = run_shell(home, "--json", "-c", "discover 127.60.9.0/24")
    report = json_lines(out.stdout)[0]
    assert sorted(d["alias"] for d in report["devices"]) == ["Far", "Farther"]
    assert report["sent_to"] == [{"interface": "sweep", "address": "127.60.9.0/24"}]
    assert "swept 254 addresses" in run_shell(home, "-c", "discover 127.60.9.0/24").stdout


def test_add_info_hw_info_and_outlets(house):
    sim, home = house
    out = run_shell(
        home, "--json", "-c", f"add {sim.hosts[2]}; hw_info 'Office Heater'; info 'Media Strip/3'"
    )
    assert out.returncode == 0, out.stderr
    added, hw, outlet = json_lines(out.stdout)
    assert added["alias"] == "Office Heater"
    assert set(hw) - {"target"} <= {
        "sw_ver",
        "hw_ver",
        "mac",
        "type",
        "hwId",
        "fwId",
        "oemId",
        "dev_name",
    }
    assert hw["hw_ver"] == "1.0" and hw["type"] == "IOT.SMARTPLUGSWITCH"
    strip = sim.plug(sim.hosts[3])
    assert outlet["id"] == strip.children[2].id if hasattr(strip.children[2], "id") else True
    assert outlet["number"] == 3 and outlet["parent"] == "Media Strip"


def test_switching_is_real_and_read_back(house):
    sim, home = house
    out = run_shell(
        home,
        "--json",
        "-c",
        "off all; on 'Kitchen Kettle'; toggle 'Living Room Lamp'; off 'Media Strip/2'",
    )
    assert out.returncode == 0, out.stderr
    states = {(d["target"]): d["state"] for d in json_lines(out.stdout)}
    assert states["Kitchen Kettle"] == "on" and states["Living Room Lamp"] == "on"
    assert sim.plug(sim.hosts[1]).relay_state == 1 and sim.plug(sim.hosts[4]).relay_state == 0
    strip = sim.plug(sim.hosts[3])
    assert [s.state for s in strip.children][:3] == [0, 0, 0]
    run_shell(home, "-c", "on 'Media Strip/2'")
    assert [s.state for s in strip.children][:3] == [0, 1, 0]


def test_led_alias_and_forget(house):
    sim, home = house
    out = run_shell(
        home,
        "--json",
        "-c",
        "led Garage off; alias Garage 'Back Shed'; info 'Back Shed'; forget 'Back Shed'; devices",
    )
    assert out.returncode == 0, out.stderr
    led, _renamed, info, _forgot, devices = json_lines(out.stdout)
    assert led["led"] == "off" and info["led_off"] == 1 and info["alias"] == "Back Shed"
    assert sim.plug(sim.hosts[4]).alias == "Back Shed"
    assert len(devices["devices"]) == 4


def test_raw_and_reboot(house):
    _sim, home = house
    out = run_shell(
        home,
        "--json",
        "-c",
        """raw Garage '{"system":{"get_sysinfo":{}},"time":{"get_time":{}}}'""",
    )
    answer = json_lines(out.stdout)[0]
    assert answer["system"]["get_sysinfo"]["alias"] == "Garage" and "time" in answer
    bad = run_shell(home, "--json", "-c", """raw Garage '{"nosuch":{"x":{}}}'""")
    assert json_lines(bad.stdout)[0]["nosuch"]["err_code"] == -1  # raw shows the answer as it is
    assert run_shell(home, "-c", "reboot Garage").returncode == 1  # asks; nobody to answer
    rebooted = run_shell(home, "-c", "reboot Garage --yes --delay 0")
    assert rebooted.returncode == 0 and "rebooting" in rebooted.stdout


def test_device_errors_carry_module_method_and_code(house):
    _sim, home = house
    out = run_shell(home, "--json", "-c", "emeter 'Living Room Lamp'")
    assert out.returncode == 1
    assert "no energy meter" in json.loads(out.stderr.splitlines()[0])["error"]["message"]
    with pytest.raises(DeviceError) as info:
        check_answer(
            {"emeter": {"err_code": -1, "err_msg": "module not support"}},
            "emeter",
            "get_realtime",
            "x",
        )
    assert (info.value.module, info.value.method, info.value.code, info.value.msg) == (
        "emeter",
        "get_realtime",
        -1,
        "module not support",
    )
    with pytest.raises(DeviceError, match="err_code -3"):
        check_answer(
            {"system": {"set_dev_alias": {"err_code": -3}}}, "system", "set_dev_alias", "x"
        )


@pytest.mark.parametrize(
    "fault, value, words",
    [
        ("delay", 5, "no answer within 1 s"),
        ("drop", True, "no answer within 1 s"),
        ("close", True, "closed without an answer"),
        ("garbage", True, "not valid JSON"),
        ("bad_length", "huge", "more than"),
        ("bad_length", "short", "no answer within 1 s"),
        ("offline", True, "refused"),
        ("klap", 80, "KLAP"),
    ],
)
def test_every_fault_is_one_clear_line_within_the_deadline(house, fault, value, words):
    sim, home = house
    host = sim.hosts[4]
    sim.set_fault(host, fault, value)
    out = run_shell(home, "--json", "--timeout", "1", "-c", f"info {host}; info 'Kitchen Kettle'")
    assert out.returncode == 1
    errors = [json.loads(line) for line in out.stderr.splitlines()]
    assert len(errors) == 1 and words in errors[0]["error"]["message"], errors
    assert host in str(errors[0]["error"]["target"])
    assert json_lines(out.stdout)[0]["alias"] == "Kitchen Kettle"  # the others go on
    assert "Traceback" not in out.stderr


def test_hostile_strings_never_reach_the_terminal_raw(house):
    sim, home = house
    run_shell(home, "-c", "alias Garage 'ok'")
    sim.call(lambda: setattr(sim.plug(sim.hosts[4]), "_alias", "evil\x1b]0;pwned\x07\x1b[2J"))
    out = run_shell(home, "-c", f"info {sim.hosts[4]}; devices")
    assert "\x1b" not in out.stdout and "\\x1b]0;pwned" in out.stdout


@pytest.mark.skipif(
    shutil.which("unshare") is None or shutil.which("ip") is None, reason="needs unshare and ip"
)
def test_default_discovery_broadcasts_on_every_interface_inside_a_private_namespace(tmp_path):
    """The shell's own default (no test config) inside a network namespace nothing can leave."""
    home = tmp_path / "h"
    script = (
        "ip link set lo up && ip link add kd0 type veth peer name kd1 "
        "&& ip addr add 198.18.7.1/24 brd + dev kd0 && ip link set kd0 up "
        f"&& ip link set kd1 up && exec {sys.executable} {ROOT / 'shell.py'} --home {home} --json "
        "-c 'discover --timeout 0.3'"
    )
    # inside the namespace nothing can leave, so this one process runs without the test guard
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KSHELL_GUARD_LOG")}
    out = subprocess.run(
        ["unshare", "-n", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
    )
    if "Operation not permitted" in out.stderr:
        pytest.skip("no permission to create a network namespace here")
    report = json_lines(out.stdout)[0]
    sent = {(s["interface"], s["address"]) for s in report["sent_to"]}
    assert ("all", "255.255.255.255") in sent and ("kd0", "198.18.7.255") in sent
    assert not any(addr.startswith("127.") for _, addr in sent)  # loopback skipped unless targeted


def test_forget_refuses_an_outlet_and_keeps_the_strip(house):
    _sim, home = house
    out = run_shell(home, "-c", "forget 'Media Strip/2'")
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "outlets cannot be forgotten alone" in lines[0], lines
    assert "forget 'Media Strip'" in lines[0] or "forget the strip" in lines[0]
    devices = json_lines(run_shell(home, "--json", "-c", "devices").stdout)[0]["devices"]
    assert "Media Strip" in {d["alias"] for d in devices} and len(devices) == 5
