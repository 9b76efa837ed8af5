"""Online means answered: silence on a broadcast proves nothing; a plug is offline only after
a request made to it failed. When and how each plug was last heard is shown; broadcast send
errors are reported; `state` asks every plug now."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.shell import ROOT, json_lines, run_shell, write_config

from kshell.simulator import PlugSpec, SimulatorThread, demo_specs


def _devices(home: Path) -> dict[str, dict]:
    out = run_shell(home, "--json", "-c", "devices")
    return {d["host"]: d for d in json_lines(out.stdout)[0]["devices"]}


def test_devices_says_when_and_how_each_plug_was_last_heard(fleet):
    _sim, home = fleet(
        [
            PlugSpec(host="127.64.0.2", alias="Lamp", udp_port=0),
            PlugSpec(host="127.64.0.3", alias="Kettle", udp_port=0),
            PlugSpec(host="127.64.1.7", alias="Far", udp_port=None),  # a sweep finds it
        ]
    )
    assert run_shell(home, "-c", "discover; discover 127.64.1.0/28").returncode == 0
    assert run_shell(home, "-c", "info Kettle").returncode == 0
    heard = {h: d["heard_by"] for h, d in _devices(home).items()}
    assert heard == {"127.64.0.2": "broadcast", "127.64.0.3": "direct", "127.64.1.7": "sweep"}
    table = run_shell(home, "-c", "devices").stdout
    assert "last heard" in table and "s ago (sweep)" in table and "s ago (direct)" in table


def test_silence_on_a_broadcast_leaves_plugs_found_by_a_sweep_online(fleet):
    sim, home = fleet(  # the fleet's UDP port is its first plug's
        [PlugSpec(host="127.64.3.2", alias="Near", udp_port=0)]
        + [PlugSpec(host=f"127.64.2.{n}", alias=f"Far {n}", udp_port=None) for n in (2, 3, 4)]
    )
    assert run_shell(home, "-c", "discover 127.64.2.0/29; discover").returncode == 0
    assert run_shell(home, "-c", "discover").returncode == 0  # the far ones stay silent
    text = run_shell(home, "-c", "devices").stdout
    assert "4 known, 4 online" in text
    sim.set_fault("127.64.2.3", "offline")
    assert run_shell(home, "-c", '"on" "Far 3"').returncode == 1  # asked, no answer
    devices = _devices(home)
    assert devices["127.64.2.3"]["online"] is False and devices["127.64.2.2"]["online"] is True
    sim.clear_faults("127.64.2.3")
    assert run_shell(home, "-c", '"on" "Far 3"').returncode == 0  # answered again
    assert _devices(home)["127.64.2.3"]["online"] is True


def test_the_open_shell_keeps_answered_plugs_online_after_its_background_discovery(
    tmp_path: Path,
) -> None:
    from helpers.terminal import Terminal

    specs = [PlugSpec(host=f"127.64.4.{n}", alias=f"Far {n}", udp_port=None) for n in (2, 3, 4)]
    specs.insert(0, PlugSpec(host="127.64.5.2", alias="Near", udp_port=0))
    with SimulatorThread(specs) as sim:
        write_config(tmp_path, udp_port=sim.udp_port or 9999)
        config = tmp_path / "kshell.ini"
        config.write_text(config.read_text().replace("refresh_on_start = no", ""))
        assert run_shell(tmp_path, "-c", "discover 127.64.4.0/29").returncode == 0
        terminal = Terminal(tmp_path)
        try:
            terminal.expect(r"4 known, 4 online \(1 answered discovery\)")  # was: 1 online
            terminal.send("use 'Far 2'")
            terminal.key("Enter")
            terminal.expect(r"Far 2: on, heard \d+s ago \(sweep\)")
            terminal.leave()
        finally:
            terminal.close()


def test_discover_target_returns_when_the_plug_answers(fleet):
    _sim, home = fleet(demo_specs(2, "127.64.6.2", udp_port=0))
    started = time.monotonic()
    out = run_shell(home, "--json", "-c", "discover --target 127.64.6.3 --timeout 8")
    took = time.monotonic() - started
    report = json_lines(out.stdout)[0]
    assert report["answered"] == 1 and report["elapsed_s"] < 2.0
    assert took < 5.0


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_broadcast_send_errors_are_reported_per_interface(home: Path) -> None:
    """In a network namespace whose loopback is down, sendto fails with ENETUNREACH: the
    datagram protocol hands that to error_received, where it used to vanish."""
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("cannot make a network namespace here")
    out = subprocess.run(
        ["unshare", "-n", sys.executable, str(ROOT / "shell.py"), "--home", str(home), "-c"]
        + ["discover --verbose --target 127.255.255.255 --timeout 0.3"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert "could not send to 127.255.255.255 (target): Network is unreachable" in out.stdout
    quiet = subprocess.run(
        ["unshare", "-n", sys.executable, str(ROOT / "shell.py"), "--home", str(home), "-c"]
        + ["discover --target 127.255.255.255 --timeout 0.3"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert "could not send to 1 address(es) (--verbose lists them)" in quiet.stdout


def test_state_asks_every_plug_now(fleet):
    sim, home = fleet(demo_specs(3, "127.64.7.2", udp_port=0))
    assert run_shell(home, "-c", "discover").returncode == 0
    lamp, kettle, heater = sim.hosts
    switched = '{"system":{"set_relay_state":{"state":0}}}'  # by another app
    assert run_shell(home, "-c", f"raw {kettle} '{switched}'").returncode == 0
    sim.set_fault(heater, "offline")
    out = run_shell(home, "--json", "-c", "state")
    # a plug that did not answer is a failed result: exit 1, as on, info and emeter do
    assert out.returncode == 1, out.stderr
    assert json_lines(out.stderr)[0]["error"]["kind"] == "transport"
    report = json_lines(out.stdout)[0]
    fresh = {d["host"]: d for d in report["devices"]}
    assert fresh[kettle]["state"] == "off" and fresh[lamp]["state"] == "on"
    assert fresh[heater]["online"] is False and len(report["failed"]) == 1
    text = run_shell(home, "-c", "state").stdout
    assert "2 answered, 1 did not" in text and "offline" in text
