"""ifaces, ping and uptime, through ``shell.py -c`` against simulated plugs on 127.20.2.x."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import run_shell

from kshell.simulator import PlugSpec, SimulatorThread

ROOT = Path(__file__).resolve().parents[2]
LAMP, STRIP, DEAD = "127.20.2.2", "127.20.2.3", "127.20.2.4"


def shell(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_shell(home, *args)


def lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def plugs() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(host=LAMP, alias="Lamp", model="HS105(US) 1.0", udp_port=None),
        PlugSpec(
            host=STRIP,
            alias="Strip",
            model="HS300(US) 1.0",
            udp_port=None,
            outlet_states=(1, 0, 1, 0, 0, 0),
        ),
        PlugSpec(host=DEAD, alias="Dead", model="HS100(US) 2.0", udp_port=None),
    ]
    with SimulatorThread(specs) as sim:
        yield sim


@pytest.fixture()
def home(tmp_path: Path, plugs: SimulatorThread) -> Path:
    result = shell(tmp_path, "-c", f"add {LAMP}; add {STRIP}; add {DEAD}")
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_ifaces_lists_loopback_with_its_network_and_says_what_discovery_uses(
    tmp_path: Path,
) -> None:
    (tmp_path / "kshell.ini").write_text("[discovery]\nbroadcast = 127.255.255.255\n")
    result = shell(tmp_path, "--json", "-c", "ifaces")
    assert result.returncode == 0, result.stderr
    (data,) = lines(result)
    lo = next(i for i in data["interfaces"] if i["address"] == "127.0.0.1")  # type: ignore[union-attr]
    assert lo["netmask"] == "255.0.0.0" and lo["network"] == "127.0.0.0/8"
    assert lo["discovery"] == "yes (config)"
    human = shell(tmp_path, "-c", "ifaces").stdout
    assert "another subnet is not found" in human and "discover CIDR" in human


def test_ping_reports_round_trips_and_no_loss(home: Path) -> None:
    result = shell(home, "--json", "-c", "ping Lamp Strip --count 3 --interval 0")
    assert result.returncode == 0, result.stderr
    by_target = {r["target"]: r for r in lines(result)}
    assert set(by_target) == {"Lamp", "Strip"}
    for row in by_target.values():
        assert row["sent"] == 3 and row["answered"] == 3 and row["loss_pct"] == 0
        assert 0 < row["min_ms"] <= row["avg_ms"] <= row["max_ms"]  # type: ignore[operator]
    human = shell(home, "-c", "ping Lamp --count 2 --interval 0").stdout
    assert "Lamp (127.20.2.2): 2 sent, 2 answered, 0% loss, rtt min/avg/max" in human


def test_ping_counts_lost_requests_and_fails_when_none_answer(
    home: Path, plugs: SimulatorThread
) -> None:
    plugs.set_fault(DEAD, "drop")
    try:
        result = shell(home, "--timeout", "0.3", "-c", "ping Dead Lamp --count 2 --interval 0")
    finally:
        plugs.clear_faults(DEAD)
    assert result.returncode == 1
    assert "Dead (127.20.2.4): 2 sent, 0 answered, 100% loss" in result.stderr
    assert "Lamp (127.20.2.2): 2 sent, 2 answered" in result.stdout


def test_ping_all_and_a_bad_count(home: Path) -> None:
    result = shell(home, "--json", "-c", "ping all --count 1")
    assert {r["target"] for r in lines(result)} == {"Lamp", "Strip", "Dead"}
    bad = shell(home, "-c", "ping Lamp --count 0")
    assert bad.returncode == 1 and "--count must be 1-10000" in bad.stderr


def test_uptime_shows_the_shell_and_each_relay_on_time(home: Path) -> None:
    result = shell(home, "--json", "-c", "uptime")
    assert result.returncode == 0, result.stderr
    (data,) = lines(result)
    assert data["shell_uptime_s"] >= 0  # type: ignore[operator]
    rows = {d["target"]: d for d in data["devices"]}  # type: ignore[union-attr]
    assert rows["Lamp"]["state"] == "on" and rows["Lamp"]["on_time_s"] > 0
    assert rows["Strip/1"]["state"] == "on" and rows["Strip/1"]["on_time_s"] > 0
    assert rows["Strip/2"]["state"] == "off" and rows["Strip/2"]["on_time_s"] is None
    human = shell(home, "-c", "uptime Strip/1").stdout
    assert human.startswith("kshell up ")
    assert "Strip/1" in human and "Strip/2" not in human


def test_uptime_with_no_plugs_known_is_the_shell_alone(tmp_path: Path) -> None:
    result = shell(tmp_path, "-c", "uptime")
    assert result.returncode == 0
    assert result.stdout.startswith("kshell up ")
