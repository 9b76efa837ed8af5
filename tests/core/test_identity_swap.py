"""Identity before action (issue 18, item 2): two plugs trade addresses (DHCP) and a command
that names one of them must act on that plug or on none, never on whoever holds its old address.

Real sockets throughout: simulated plugs on 127.78.0.x (this file's range) are started, stored
by ``add``, stopped, and started again with their identities (MAC, deviceId) exchanged, the way
DHCP hands two plugs each other's leases. The shell runs as a user runs it (``-c``, a
subprocess), and its broadcast search is pointed at 127.255.255.255 on the fleet's own UDP port.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import json_lines, run_shell, write_config

from kshell.simulator import PlugSpec, SimulatorThread

A, B, C = "127.78.0.2", "127.78.0.3", "127.78.0.4"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Fleet:
    """Plugs that can be restarted with their identities moved to other addresses."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.sim: SimulatorThread | None = None
        self.tdp_port = _free_udp_port()  # nobody announces there: the 20002 side is asked

    def start(self, specs: list[PlugSpec]) -> SimulatorThread:
        self.stop()
        self.sim = SimulatorThread(specs).start()
        write_config(
            self.home, udp_port=self.sim.udp_port or 9999, extra=f"tdp_port = {self.tdp_port}\n"
        )
        return self.sim

    def stop(self) -> None:
        if self.sim is not None:
            self.sim.stop()
            self.sim = None


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    running = Fleet(tmp_path / "home")
    yield running
    running.stop()


def sh(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_shell(home, *args)


def stored(home: Path) -> dict[str, dict]:
    result = sh(home, "--json", "-c", "devices")
    assert result.returncode == 0, result.stderr
    return {r["alias"]: r for r in json_lines(result.stdout)[0]["devices"]}


def lamp_and_heater(*, swapped: bool, lamp: str = A, heater: str = B) -> list[PlugSpec]:
    """Lamp (HS100) at ``lamp`` and Space Heater (HS110) at ``heater``, both off; swapped:
    each at the other's address with its own MAC."""
    if not swapped:
        return [
            PlugSpec(host=lamp, model="HS100(US) 2.0", alias="Lamp", udp_port=0, relay_state=0),
            PlugSpec(host=heater, model="HS110(EU) 2.0", alias="Space Heater", udp_port=0,
                     relay_state=0),
        ]  # fmt: skip
    return [
        PlugSpec(host=heater, model="HS100(US) 2.0", alias="Lamp", udp_port=0, relay_state=0,
                 identity=lamp),
        PlugSpec(host=lamp, model="HS110(EU) 2.0", alias="Space Heater", udp_port=0,
                 relay_state=0, identity=heater),
    ]  # fmt: skip


def setup_swapped(fleet: Fleet) -> tuple[SimulatorThread, dict[str, dict]]:
    fleet.start(lamp_and_heater(swapped=False))
    for host in (A, B):
        assert sh(fleet.home, "-c", f"add {host}").returncode == 0
    before = stored(fleet.home)
    assert before["Lamp"]["host"] == A and before["Space Heater"]["host"] == B
    return fleet.start(lamp_and_heater(swapped=True)), before


def test_swapped_plugs_keep_their_macs_in_the_simulator(fleet: Fleet) -> None:
    """The simulator facility the tests rest on: a plug keeps its MAC at another address."""
    first = fleet.start(lamp_and_heater(swapped=False))
    macs = {p.alias: p.mac for p in first.plugs}
    moved = fleet.start(lamp_and_heater(swapped=True))
    assert {p.alias: p.mac for p in moved.plugs} == macs
    assert moved.plug("Lamp").host == B and moved.plug("Space Heater").host == A


def test_on_finds_the_named_plug_at_its_new_address_and_leaves_the_other_alone(
    fleet: Fleet,
) -> None:
    sim, before = setup_swapped(fleet)
    result = sh(fleet.home, "-c", "on Lamp")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sim.plug("Space Heater").sockets[0].state == 0, "the heater at Lamp's old address"
    assert sim.plug("Lamp").sockets[0].state == 1
    assert "Lamp: on" in result.stdout and B in result.stdout  # says where it was found
    after = stored(fleet.home)
    assert after["Lamp"]["host"] == B and after["Lamp"]["mac"] == before["Lamp"]["mac"]
    assert after["Space Heater"]["host"] == A
    assert after["Space Heater"]["mac"] == before["Space Heater"]["mac"]


def test_a_plug_gone_entirely_is_refused_naming_both_and_nothing_changes(
    fleet: Fleet,
) -> None:
    fleet.start(lamp_and_heater(swapped=False))
    for host in (A, B):
        assert sh(fleet.home, "-c", f"add {host}").returncode == 0
    before = stored(fleet.home)
    # Lamp is unplugged for good; the heater got its address
    sim = fleet.start(
        [PlugSpec(host=A, model="HS110(EU) 2.0", alias="Space Heater", udp_port=0,
                  relay_state=0, identity=B)]
    )  # fmt: skip
    result = sh(fleet.home, "-c", "on Lamp")
    assert result.returncode == 1, result.stdout + result.stderr
    assert sim.plug("Space Heater").sockets[0].state == 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    line = lines[0]
    assert "Lamp" in line and before["Lamp"]["mac"] in line
    assert "Space Heater" in line and before["Space Heater"]["mac"] in line
    assert A in line and "on" not in result.stdout.split()
    after = stored(fleet.home)
    assert after["Lamp"]["host"] == A and after["Lamp"]["mac"] == before["Lamp"]["mac"]
    assert after["Space Heater"]["mac"] == before["Space Heater"]["mac"]


def test_json_refusal_is_an_identity_error(fleet: Fleet) -> None:
    fleet.start(lamp_and_heater(swapped=False))
    for host in (A, B):
        assert sh(fleet.home, "-c", f"add {host}").returncode == 0
    sim = fleet.start(
        [PlugSpec(host=A, model="HS110(EU) 2.0", alias="Space Heater", udp_port=0,
                  relay_state=0, identity=B)]
    )  # fmt: skip
    result = sh(fleet.home, "--json", "-c", "toggle Lamp")
    assert result.returncode == 1
    assert sim.plug("Space Heater").sockets[0].state == 0
    error = json.loads(result.stderr.strip().splitlines()[-1])["error"]
    assert error["kind"] == "identity" and "Lamp" in error["target"]


def test_a_read_reports_the_plug_that_answered_as_a_different_plug(fleet: Fleet) -> None:
    sim, before = setup_swapped(fleet)
    result = sh(fleet.home, "--json", "-c", "info Lamp")
    assert result.returncode == 0, result.stderr
    shown = json_lines(result.stdout)[0]
    assert shown["alias"] == "Space Heater"  # what the address answered, under its own name
    note = shown["different_plug"]
    assert "Lamp" in note and before["Lamp"]["mac"] in note and A in note
    assert "Space Heater" in note
    plain = sh(fleet.home, "-c", "info Lamp")
    assert "different plug" in plain.stdout.lower() or "not lamp" in plain.stdout.lower()
    after = stored(fleet.home)  # a read drops nobody from the store
    assert after["Lamp"]["mac"] == before["Lamp"]["mac"]
    assert sim.plug("Space Heater").sockets[0].state == 0


def test_every_changing_command_checks_first(fleet: Fleet) -> None:
    """Not only on: a rename and a status light go to the named plug or to none."""
    sim, _ = setup_swapped(fleet)
    result = sh(fleet.home, "-c", "led Lamp off")
    assert result.returncode == 0, result.stderr
    assert sim.plug("Lamp").led_off == 1 and sim.plug("Space Heater").led_off == 0
    result = sh(fleet.home, "-c", "alias 'Space Heater' Radiator")
    assert result.returncode == 0, result.stderr
    assert sim.plug(A).alias == "Radiator" and sim.plug(B).alias == "Lamp"


def test_a_named_address_is_the_address(fleet: Fleet) -> None:
    """An address names whoever answers there: nothing to check, the plug there switches."""
    sim, _ = setup_swapped(fleet)
    result = sh(fleet.home, "-c", f"on {A}")
    assert result.returncode == 0, result.stderr
    assert sim.plug("Space Heater").sockets[0].state == 1


# -- strips ----------------------------------------------------------------------------------
def two_strips(*, swapped: bool) -> list[PlugSpec]:
    off = (0, 0, 0, 0, 0, 0)

    def strip(host: str, alias: str, outlets: tuple[str, ...], born: str | None) -> PlugSpec:
        return PlugSpec(host=host, model="HS300(US) 1.0", alias=alias, udp_port=0,
                        outlet_states=off, outlet_aliases=outlets, identity=born)  # fmt: skip

    desk = ("Monitor", "Radio", "Fan", "D4", "D5", "D6")
    shop = ("Saw", "Grinder", "Welder", "W4", "W5", "W6")
    if not swapped:
        return [strip(A, "Desk", desk, None), strip(B, "Workshop", shop, None)]
    return [strip(B, "Desk", desk, A), strip(A, "Workshop", shop, B)]


def test_a_strip_outlet_is_checked_by_the_strip_and_the_outlet_id(fleet: Fleet) -> None:
    first = fleet.start(two_strips(swapped=False))
    ids = {p.alias: [s.id for s in p.sockets] for p in first.plugs}
    assert set(ids["Desk"]).isdisjoint(ids["Workshop"])  # outlet ids differ
    for host in (A, B):
        assert sh(fleet.home, "-c", f"add {host}").returncode == 0
    sim = fleet.start(two_strips(swapped=True))
    result = sh(fleet.home, "-c", "on Desk/2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [s.state for s in sim.plug("Workshop").sockets] == [0] * 6, "the grinder"
    assert [s.state for s in sim.plug("Desk").sockets] == [0, 1, 0, 0, 0, 0]
    assert stored(fleet.home)["Desk"]["host"] == B
    # by the outlet's own name, after the strip moved
    result = sh(fleet.home, "-c", "on Fan")
    assert result.returncode == 0, result.stderr
    assert sim.plug("Desk").sockets[2].state == 1
    assert [s.state for s in sim.plug("Workshop").sockets] == [0] * 6


def test_a_strip_gone_refuses_its_outlet(fleet: Fleet) -> None:
    fleet.start(two_strips(swapped=False))
    for host in (A, B):
        assert sh(fleet.home, "-c", f"add {host}").returncode == 0
    shop = two_strips(swapped=True)[1]
    sim = fleet.start([shop])
    result = sh(fleet.home, "-c", "off Desk/2; on Radio")
    assert result.returncode == 1
    assert [s.state for s in sim.plug("Workshop").sockets] == [0] * 6
    assert "Workshop" in result.stderr and result.stderr.count("Desk") >= 2


# -- what the plugs do with a read in front of a write ---------------------------------------
def _xor_query(host: str, port: int, request: dict) -> dict:
    from kshell.device import codec as protocol

    with socket.create_connection((host, port), timeout=3) as conn:
        conn.sendall(protocol.encode(request))
        head = conn.recv(4, socket.MSG_WAITALL)
        body = conn.recv(struct.unpack(">I", head)[0], socket.MSG_WAITALL)
    return protocol.decode(head + body)


COMBINED = {"system": {"get_sysinfo": {}, "set_relay_state": {"state": 1}}}


def test_ours_applies_a_write_sent_behind_a_sysinfo_read(fleet: Fleet) -> None:
    """Why the check is a request of its own: a plug applies every module of a request, so a
    sysinfo read in front of a write cannot stop the write (the answer comes with it done)."""
    sim = fleet.start(lamp_and_heater(swapped=False))
    answer = _xor_query(A, 9999, COMBINED)
    assert answer["system"]["get_sysinfo"]["relay_state"] == 0  # read first, in order...
    assert answer["system"]["set_relay_state"]["err_code"] == 0
    assert sim.plug("Lamp").sockets[0].state == 1  # ...and the write was applied all the same


def test_the_npm_simulator_applies_it_too(npm_peer) -> None:
    port = _free_udp_port()
    npm_peer([{"model": "hs100", "address": C, "port": 9999, "data": {"alias": "Npm"}}], port)
    assert _xor_query(C, 9999, {"system": {"set_relay_state": {"state": 0}}})
    answer = _xor_query(C, 9999, COMBINED)
    assert answer["system"]["set_relay_state"]["err_code"] == 0
    after = _xor_query(C, 9999, {"system": {"get_sysinfo": {}}})
    assert after["system"]["get_sysinfo"]["relay_state"] == 1
