"""``state`` as an owner reads it: a strip's outlets under it, an outlet asked by name, and a
plug that failed said as what happened (offline, login failed, needs login), exit status 1.

Plugs live on 127.66.0.x (this file's range): old ones on 9999, current ones on HTTP port 80
with their announcement on UDP 20002, as real ones do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import json_lines, run_shell, write_config

from kshell.simulator import PlugSpec, SimulatorThread
from kshell.simulator.accounts import DEMO_ACCOUNT

MEDIA, GARAGE, KETTLE, DESK, GONE = (f"127.66.0.{n}" for n in range(2, 7))
CREDS = {"KSHELL_USERNAME": DEMO_ACCOUNT.username, "KSHELL_PASSWORD": DEMO_ACCOUNT.password}
WRONG = {"KSHELL_USERNAME": DEMO_ACCOUNT.username, "KSHELL_PASSWORD": "not-the-password"}
NONE = {"KSHELL_USERNAME": "", "KSHELL_PASSWORD": ""}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(
            host=MEDIA,
            model="HS300(US) 1.0",
            alias="Media Strip",
            outlet_aliases=("TV", "Soundbar", "Game Console", "Router", "Desk Lamp", "Charger"),
            outlet_states=(1, 1, 0, 1, 1, 0),
        ),
        PlugSpec(host=GARAGE, model="KP115(EU) 1.0", alias="Garage"),
        PlugSpec(host=KETTLE, model="P110(EU) 1.0", alias="Tea Kettle"),
        PlugSpec(
            host=DESK,
            model="EP40M(US) 1.0",
            alias="Desk Strip",
            outlet_aliases=("Monitor", "Speakers"),
            outlet_states=(1, 0),
        ),
        PlugSpec(host=GONE, model="HS105(US) 1.0", alias="Porch"),
    ]
    with SimulatorThread(specs, account=DEMO_ACCOUNT) as running:
        yield running


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread) -> Path:
    home = tmp_path_factory.mktemp("state") / "home"
    write_config(home)
    for host in (MEDIA, GARAGE, KETTLE, DESK, GONE):
        result = run_shell(home, "-c", f"add {host}", env=CREDS)
        assert result.returncode == 0, result.stderr
    return home


def rows_of(text: str) -> dict[str, str]:
    """alias -> the rest of its table row, from the plain table."""
    out = {}
    for line in text.splitlines()[2:]:
        head, _, rest = line.partition("  ")
        out[head.strip()] = rest
    return out


def test_an_outlet_is_asked_through_its_strip_and_shown_under_it(house: Path) -> None:
    result = run_shell(house, "-c", "state 'Media Strip/3'", env=CREDS)
    assert result.returncode == 0, result.stderr
    assert "Media Strip" in result.stdout and "4 of 6 on" in result.stdout
    assert "└ Game Console" in result.stdout and "off" in rows_of(result.stdout)["└ Game Console"]
    assert "Soundbar" not in result.stdout  # only the outlet named
    both = run_shell(house, "-c", "state 'Media Strip/3' Garage", env=CREDS)
    assert both.returncode == 0, both.stderr
    assert "Garage" in both.stdout and "└ Game Console" in both.stdout
    assert "2 answered, 0 did not" in both.stdout


def test_a_strip_shows_how_many_outlets_are_on_and_each_outlet(house: Path) -> None:
    for verb in ("state", "devices"):
        result = run_shell(house, "-c", verb, env=CREDS)
        rows = rows_of(result.stdout)
        assert "4 of 6 on" in rows["Media Strip"] and "1 of 2 on" in rows["Desk Strip"], verb
        assert "127.66.0.2/4" in rows["└ Router"] and " on" in rows["└ Router"], verb
        assert "off" in rows["└ Speakers"], verb


def test_a_wrong_login_is_login_failed_not_offline_and_exits_1(
    house: Path, sim: SimulatorThread
) -> None:
    result = run_shell(house, "-c", "state 'Tea Kettle' Garage", env=WRONG)
    assert result.returncode == 1, result.stdout
    rows = rows_of(result.stdout)
    assert "login failed" in rows["Tea Kettle"] and "offline" not in rows["Tea Kettle"]
    assert "1 answered, 1 did not" in result.stdout
    assert "Tea Kettle" in result.stderr and result.stderr.count("\n") == 1
    # it answered: the store does not call it offline either
    listed = json.loads(run_shell(house, "--json", "-c", "devices", env=CREDS).stdout)
    kettle = next(d for d in listed["devices"] if d["alias"] == "Tea Kettle")
    assert kettle["online"] is True
    missing = run_shell(house, "-c", "state 'Tea Kettle'", env=NONE)
    assert missing.returncode == 1 and "needs login" in rows_of(missing.stdout)["Tea Kettle"]


def test_a_plug_that_does_not_answer_is_offline_and_an_error(
    house: Path, sim: SimulatorThread
) -> None:
    sim.set_fault(GONE, "offline")
    try:
        result = run_shell(house, "--json", "-c", "state Porch Garage", env=CREDS)
    finally:
        sim.clear_faults(GONE)
    assert result.returncode == 1
    error = json_lines(result.stderr)[0]["error"]
    assert error["kind"] == "transport" and "Porch" in error["target"]
    assert len(json_lines(result.stdout)[0]["failed"]) == 1


def test_an_alias_typed_unquoted_is_told_to_be_quoted(house: Path) -> None:
    result = run_shell(house, "-c", "state Tea Kettle", env=CREDS)
    assert result.returncode == 1
    assert "'Tea Kettle' is one name: quote it: \"Tea Kettle\"" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    strip = run_shell(house, "-c", "state Garage Media Strip/3", env=CREDS)
    assert 'quote it: "Media Strip/3"' in strip.stderr or 'quote it: "Media Strip"' in strip.stderr
