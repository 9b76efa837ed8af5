"""Well-formed JSON with the wrong types or sizes: a plug's answer is untrusted."""

import pytest
from helpers.scripted_plug import scripted_plug
from helpers.shell import json_lines, run_shell

from kshell.store.devices import DeviceStore

HOST = "127.63.0.2"

HOSTILE = {
    "alias": 5,
    "relay_state": "on",
    "children": "not a list",
    "mac": None,
    "model": ["HS110"],
    "feature": {"ENE": True},
    "sw_ver": "x" * 100_000,
    "led_off": "no",
    "hw_ver": "\x1b[31mred\x1b[0m",
    "err_code": 0,
}


def _hostile_answer(request: dict) -> dict:
    module = next(iter(request))
    method = next(iter(request[module]))
    if module == "system" and method == "get_sysinfo":
        return {"system": {"get_sysinfo": HOSTILE}}
    return {module: {method: {"err_code": 0}}}


@pytest.fixture
def hostile_plug():
    with scripted_plug(HOST, _hostile_answer):
        yield


def test_wrong_types_are_checked_not_trusted(home, hostile_plug):
    out = run_shell(
        home, "--json", "-c", f"add {HOST}; devices; hw_info {HOST}; on {HOST}; emeter {HOST}"
    )
    assert "Traceback" not in out.stderr
    added, _devices, hw, switched = json_lines(out.stdout)[:4]
    assert added["alias"] == "" and added["state"] is None and added["children"] == []
    assert added["model"] == "?" and added["emeter"] is False
    assert len(added["sw_ver"]) <= 128  # bounded
    assert "mac" not in hw and "alias" not in hw
    assert switched["state"] == "?"  # a relay_state that is not a number says nothing
    assert "no energy meter" in out.stderr  # "feature" not a string: no meter claimed
    text = run_shell(home, "-c", f"info {HOST}; devices")
    assert "\x1b" not in text.stdout and "Traceback" not in text.stderr
    assert len(max(text.stdout.splitlines(), key=len)) < 1000  # a 100 kB string is cut
    assert DeviceStore(home / "devices.db").all()[0].host == HOST
