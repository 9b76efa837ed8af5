"""Our client against a third-party plug simulator (npm tplink-smarthome-simulator)."""

from helpers.shell import json_lines, run_shell, write_config

DEVICES = [
    {
        "address": "127.62.0.2",
        "port": 9999,
        "model": "hs100",
        "data": {"alias": "Peer Lamp", "mac": "50:c7:bf:62:00:02", "deviceId": "P100"},
    },
    {
        "address": "127.62.0.3",
        "port": 9999,
        "model": "hs110",
        "data": {"alias": "Peer Meter", "mac": "50:c7:bf:62:00:03", "deviceId": "P110"},
    },
    {
        "address": "127.62.0.4",
        "port": 9999,
        "model": "hs300",
        "data": {"alias": "Peer Strip", "mac": "50:c7:bf:62:00:04", "deviceId": "P300"},
    },
]
UDP_PORT = 19962


def test_discover_read_and_switch_third_party_plugs(npm_peer, tmp_path):
    npm_peer(DEVICES, UDP_PORT)
    home = tmp_path / "home"
    write_config(home, udp_port=UDP_PORT)

    found = run_shell(home, "--json", "-c", "discover")
    assert found.returncode == 0, found.stderr
    report = json_lines(found.stdout)[0]
    assert report["sent_to"] == [{"interface": "target", "address": "127.255.255.255"}]
    assert {d["alias"] for d in report["devices"]} >= {"Peer Lamp", "Peer Meter", "Peer Strip"}
    strip = next(d for d in report["devices"] if d["alias"] == "Peer Strip")
    assert strip["kind"] == "strip" and len(strip["children"]) == 6

    hw = json_lines(run_shell(home, "--json", "-c", "hw_info 'Peer Lamp'").stdout)[0]
    assert hw["mac"].lower() == "50:c7:bf:62:00:02" and hw["type"] == "IOT.SMARTPLUGSWITCH"
    assert "sw_ver" in hw and "hwId" in hw

    switched = run_shell(
        home, "--json", "-c", "on 'Peer Lamp'; off 'Peer Strip/2'; info 'Peer Lamp'"
    )
    assert switched.returncode == 0, switched.stderr
    lines = json_lines(switched.stdout)
    assert lines[0]["state"] == "on" and lines[1]["state"] == "off"
    assert lines[2]["relay_state"] == 1

    toggled = json_lines(run_shell(home, "--json", "-c", "toggle 'Peer Lamp'").stdout)[0]
    assert toggled["state"] == "off"
