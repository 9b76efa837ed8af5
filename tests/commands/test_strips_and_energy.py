"""Strips in full (each outlet named, and the strip's total) and implausible energy statistics
flagged against the model's rating (issue 10), through the CLI against our simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import json_lines, run_shell, write_config

from kshell.simulator import PlugSpec, SimulatorThread

STRIP, KETTLE = "127.21.3.2", "127.21.3.3"
NAMES = ("TV", "Console", "Amp", "Lamp", "Router", "Fan")


@pytest.fixture(scope="module")
def plugs() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(host=STRIP, alias="Media", model="HS300(US) 1.0", udp_port=None),
        PlugSpec(host=KETTLE, alias="Kettle", model="HS110(EU) 2.0", udp_port=None),
    ]
    with SimulatorThread(specs) as sim:
        yield sim


@pytest.fixture()
def home(tmp_path: Path, plugs: SimulatorThread) -> Path:
    path = tmp_path / "home"
    write_config(path)
    named = "; ".join(f"alias Media/{n} {name}" for n, name in enumerate(NAMES, start=1))
    done = run_shell(path, "-c", f"add {STRIP}; add {KETTLE}; {named}")
    assert done.returncode == 0, done.stderr
    return path


def test_emeter_on_a_strip_names_each_outlet_and_gives_the_total(home: Path) -> None:
    out = run_shell(home, "--json", "-c", "emeter Media")
    assert out.returncode == 0, out.stderr
    (strip,) = json_lines(out.stdout)
    assert [o["alias"] for o in strip["outlets"]] == list(NAMES)
    power = sum(o["power_w"] for o in strip["outlets"])
    assert strip["total"]["power_w"] == pytest.approx(power)
    assert strip["total"]["plausible"] is True
    human = run_shell(home, "-c", "emeter Media").stdout
    assert "Media/1 'TV' (127.21.3.2, HS300(US))" in human
    assert "Media (127.21.3.2, HS300(US)), 6 outlets: total" in human


@pytest.mark.parametrize(
    "line, key", [("emeter day Media", "day"), ("emeter month Media", "month")]
)
def test_statistics_of_a_strip_are_per_outlet_with_the_strips_sum(
    home: Path, line: str, key: str
) -> None:
    out = run_shell(home, "--json", "-c", line)
    assert out.returncode == 0, out.stderr
    (stats,) = json_lines(out.stdout)
    assert [o["alias"] for o in stats["outlets"]] == list(NAMES)
    assert [o["outlet"] for o in stats["outlets"]] == [1, 2, 3, 4, 5, 6]
    outlet_sum = sum(o["total_kwh"] for o in stats["outlets"])
    assert stats["total_kwh"] == pytest.approx(outlet_sum, abs=0.001) and outlet_sum > 0
    assert stats[f"{key}s"] and stats["plausible"] is True
    human = run_shell(home, "-c", line).stdout
    assert "1 TV" in human and "6 Fan" in human and "strip" in human
    assert human.splitlines()[-1].startswith("total")
    one = run_shell(home, "--json", "-c", line.replace("Media", "Media/2"))
    assert json_lines(one.stdout)[0]["total_kwh"] == stats["outlets"][1]["total_kwh"]


def test_info_on_a_strip_shows_every_outlet_in_full(home: Path) -> None:
    machine = json_lines(run_shell(home, "--json", "-c", "info Media").stdout)[0]
    assert len(machine["children"]) == 6  # the JSON is the sysinfo as the strip sent it
    human = run_shell(home, "-c", "info Media").stdout
    for number, child in enumerate(machine["children"], start=1):
        assert f"Media/{number}: {NAMES[number - 1]}" in human
        assert child["id"] in human  # nothing cut short, the last outlet's id included


def test_an_implausible_day_or_month_is_flagged(home: Path, plugs: SimulatorThread) -> None:
    plugs.set_fault(KETTLE, "bogus_energy")  # today counts 29,380 kWh
    try:
        day = run_shell(home, "--json", "-c", "emeter day Kettle; emeter month Kettle")
        human = run_shell(home, "-c", "emeter day Kettle")
    finally:
        plugs.clear_faults(KETTLE)
    assert day.returncode == 0, day.stderr
    days, months = json_lines(day.stdout)
    assert days["plausible"] is False and months["plausible"] is False
    assert "29,380.000 kWh is more than the 88.3 kWh" in days["flags"][0]
    assert [d["plausible"] for d in days["days"]].count(False) == 1
    assert "IMPLAUSIBLE (marked !): 1 day(s) above 88.3 kWh" in human.stdout
    assert " ! " in human.stdout
    calm = json_lines(run_shell(home, "--json", "-c", "emeter day Kettle").stdout)[0]
    assert calm["plausible"] is True and calm["flags"] == []
