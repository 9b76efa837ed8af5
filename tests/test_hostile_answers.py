"""Well-formed JSON with the wrong types or sizes: a plug's answer is untrusted."""

import socket
import struct
import threading

import pytest
from conftest import json_lines, run_shell

from kshell import protocol
from kshell.cache import DeviceCache

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


@pytest.fixture
def hostile_plug():
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((HOST, 9999))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    while True:
                        header = conn.recv(4)
                        if len(header) < 4:
                            break
                        body = b""
                        while len(body) < struct.unpack(">I", header)[0]:
                            body += conn.recv(65536)
                        request = protocol.decode(header + body)
                        module, method = (
                            next(iter(request.items()))[0],
                            next(iter(next(iter(request.values())))),
                        )
                        if module == "system" and method == "get_sysinfo":
                            answer = {"system": {"get_sysinfo": HOSTILE}}
                        else:
                            answer = {module: {method: {"err_code": 0}}}
                        conn.sendall(protocol.encode(answer))
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(2)
    server.close()


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
    assert DeviceCache(home / "devices.db").all()[0].host == HOST
