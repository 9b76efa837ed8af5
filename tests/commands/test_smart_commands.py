"""Every command on plugs of the current generation, over real sockets: SMART over KLAP and AES,
and IOT over KLAP, as an operator uses them (``python shell.py -c ...``).

Plugs live on 127.41.0.x (this file's range), HTTP on port 80 and their announcement on UDP
20002, as real ones do (each test run has its own network namespace).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import json_lines, run_shell, write_config

from kshell.simulator import PlugSpec, SimulatorThread
from kshell.simulator.accounts import DEMO_ACCOUNT

KETTLE, HEATER, STRIP, DIMMER, GARDEN, FREEZER, OLD, SPARE, COMPUTER, UNBOXED = (
    f"127.41.0.{n}" for n in range(2, 12)
)
CREDS = {"KSHELL_USERNAME": DEMO_ACCOUNT.username, "KSHELL_PASSWORD": DEMO_ACCOUNT.password}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(host=KETTLE, model="P110(AU) 1.0", alias="Kettle ☕", profile="kettle"),
        PlugSpec(host=HEATER, model="KP125M(US) 1.0", alias="Heater", profile="heater"),
        PlugSpec(
            host=STRIP,
            model="EP40M(US) 1.0",
            alias="Desk Strip",
            outlet_aliases=("Monitor", "Speakers"),
            outlet_states=(1, 0),
        ),
        PlugSpec(host=DIMMER, model="HS220(US) 3.26", alias="Dimmer", profile="lamp"),
        PlugSpec(host=GARDEN, model="HS100(UK) 4.1", alias="Garden", profile="lamp"),
        PlugSpec(host=FREEZER, model="P110(EU) 1.0", alias="Freezer", profile="freezer"),
        PlugSpec(host=OLD, model="HS110(EU) 2.0", alias="Old Lamp", udp_port=None),
        PlugSpec(host=SPARE, model="P110(EU) 1.0", alias="Spare"),
        PlugSpec(  # IOT over KLAP with a meter: a KP115 on recent firmware
            host=COMPUTER,
            model="KP115(EU) 1.0",
            alias="Computer",
            transport="klap",
            sw_ver="1.0.21 Build 231129 Rel.171238",
            profile="computer",
            udp_port=None,
        ),
        PlugSpec(host=UNBOXED, model="P110(EU) 1.0", alias="Unboxed", factory_default=True),
    ]
    with SimulatorThread(specs, account=DEMO_ACCOUNT) as running:
        yield running


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread) -> Path:
    """A state folder that knows every plug, added by address (`add` finds out the family)."""
    home = tmp_path_factory.mktemp("smart") / "home"
    write_config(home)  # loopback-only discovery whatever a test runs here
    for host in (KETTLE, HEATER, STRIP, DIMMER, GARDEN, FREEZER, OLD, SPARE, COMPUTER):
        trust = " --yes" if host == DIMMER else ""  # AES: the owner says to send the login
        result = run_shell(home, "-c", f"add {host}{trust}", env=CREDS)
        assert result.returncode == 0, result.stderr
    return home


def sh(home: Path, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return run_shell(home, *args, env={**CREDS, **(env or {})})


def test_add_finds_out_what_each_plug_speaks_and_devices_lists_both_generations(
    house: Path,
) -> None:
    result = sh(house, "--json", "-c", "devices")
    assert result.returncode == 0, result.stderr
    rows = {d["alias"]: d for d in json.loads(result.stdout)["devices"]}
    assert set(rows) == {"Kettle ☕", "Heater", "Desk Strip", "Dimmer", "Garden", "Freezer"} | {
        "Old Lamp",
        "Spare",
        "Computer",
    }
    assert rows["Kettle ☕"]["model"] == "P110" and rows["Garden"]["model"] == "HS100(UK)"
    assert rows["Desk Strip"]["kind"] == "strip" and rows["Old Lamp"]["host"] == OLD
    speaks = {
        a: (r["family"], r["transport"], r["login_version"], r["port"]) for a, r in rows.items()
    }
    assert speaks["Kettle ☕"] == ("smart", "klap", 2, 80)
    assert speaks["Dimmer"] == ("smart", "aes", 2, 80)
    assert speaks["Garden"] == ("iot", "klap", 1, 80)
    assert speaks["Old Lamp"] == ("iot", "xor", None, 9999)


def test_info_and_hw_info_map_smart_fields_onto_the_shared_keys(house: Path) -> None:
    result = sh(house, "--json", "-c", "hw_info 'Kettle ☕' Dimmer")
    assert result.returncode == 0, result.stderr
    for record in json_lines(result.stdout):
        assert {"sw_ver", "hw_ver", "mac", "type", "hwId", "fwId", "oemId", "dev_name"} <= set(
            record
        )
    info = json_lines(sh(house, "--json", "-c", "info 'Kettle ☕'").stdout)[0]
    assert info["nickname"] == "Kettle ☕" and info["ssid"] == "KasaSimNet"  # base64 decoded
    assert info["type"] == "SMART.TAPOPLUG" and info["model"] == "P110"


def test_on_off_toggle_across_families_and_strip_outlets(house: Path, sim: SimulatorThread) -> None:
    strip = sim.plug(STRIP)
    result = sh(house, "-c", "off 'Desk Strip'/1 Dimmer Garden 'Old Lamp'")
    assert result.returncode == 0, result.stderr
    assert "Desk Strip/1: off" in result.stdout and "Garden: off" in result.stdout
    assert sim.call(lambda: [s.state for s in strip.sockets]) == [0, 0]
    assert sim.call(lambda: sim.plug(DIMMER).relay_state) == 0
    assert sim.call(lambda: sim.plug(GARDEN).relay_state) == 0
    result = sh(house, "-c", "toggle 'Desk Strip/2' Garden")
    assert result.returncode == 0, result.stderr
    assert "Desk Strip/2: on" in result.stdout and "Garden: on" in result.stdout
    result = sh(house, "-c", "on 'Desk Strip'")  # every outlet, through control_child
    assert result.returncode == 0, result.stderr
    assert sim.call(lambda: [s.state for s in strip.sockets]) == [1, 1]


def test_led_alias_and_reboot(house: Path, sim: SimulatorThread) -> None:
    result = sh(house, "-c", "led Heater off")
    assert result.returncode == 0 and "Heater: led off" in result.stdout, result.stderr
    assert sim.call(lambda: sim.plug(HEATER).led_off) == 1
    result = sh(house, "-c", "alias 'Desk Strip/2' Radio")
    assert result.returncode == 0, result.stderr
    assert sim.call(lambda: sim.plug(STRIP).sockets[1].alias) == "Radio"
    result = sh(house, "-c", "alias Heater 'Space Heater'")
    assert result.returncode == 0, result.stderr
    assert sim.call(lambda: sim.plug(HEATER).alias) == "Space Heater"
    assert "Space Heater" in sh(house, "-c", "devices").stdout
    assert sh(house, "-c", "alias 'Space Heater' Heater").returncode == 0


def test_reboot_restarts_a_smart_plug(house: Path, sim: SimulatorThread) -> None:
    result = sh(house, "-c", "reboot Spare --delay 1 --yes")
    assert result.returncode == 0 and "Spare: rebooting in 1 s" in result.stdout, result.stderr
    _wait_for_reboot(sim, SPARE)  # the later tests ask Spare again: not in its outage


def _wait_for_reboot(sim: SimulatorThread, host: str, timeout: float = 30.0) -> None:
    """Deadline polling: the plug goes down after its delay, then answers again."""
    import time

    deadline = time.monotonic() + timeout
    went_down = False
    while time.monotonic() < deadline:
        down = sim.call(lambda: sim.plug(host).down)
        went_down = went_down or down
        if went_down and not down:
            return
        time.sleep(0.02)
    raise AssertionError(f"{host} did not reboot and come back within {timeout:g} s")


def test_emeter_reads_watts_volts_amps_by_the_best_method(house: Path) -> None:
    result = sh(house, "--json", "-c", "emeter 'Kettle ☕' Freezer Computer")
    assert result.returncode == 0, result.stderr
    rows = {r["target"]: r for r in json_lines(result.stdout)}
    kettle, freezer, computer = rows["Kettle ☕"], rows["Freezer"], rows["Computer"]
    assert kettle["power_w"] >= 0 and 200 < kettle["voltage_v"] < 260  # get_emeter_data
    assert kettle["current_a"] is not None and kettle["plausible"]
    assert freezer["power_w"] >= 0 and freezer["voltage_v"] is None  # get_energy_usage only
    assert computer["schema"] == "v2" and computer["power_w"] > 30  # IOT over KLAP
    result = sh(house, "-c", "emeter 'Desk Strip' Garden")
    assert result.returncode == 1 and result.stderr.count("has no energy meter") == 2


def test_implausible_smart_readings_are_flagged(house: Path, sim: SimulatorThread) -> None:
    sim.set_fault(KETTLE, "bogus_power", 1)
    result = sh(house, "--json", "-c", "emeter 'Kettle ☕'")
    assert result.returncode == 0, result.stderr
    reading = json_lines(result.stdout)[0]
    assert not reading["plausible"] and any("rating" in f for f in reading["flags"])


def test_emeter_day_and_month_from_the_plugs_statistics(house: Path) -> None:
    result = sh(house, "--json", "-c", "emeter day 'Kettle ☕'")
    assert result.returncode == 0, result.stderr
    days = json_lines(result.stdout)[0]["days"]
    assert days and all(d["energy_kwh"] > 0 for d in days)
    result = sh(house, "--json", "-c", "emeter month Heater")
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stdout)[0]["total_kwh"] > 0


def test_emeter_watch_streams_smart_and_old_plugs_together(house: Path) -> None:
    result = sh(
        house, "--json", "-c", "emeter watch 'Kettle ☕' Heater 'Old Lamp' --count 3 --interval 0"
    )
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    samples = [line for line in lines[:-1] if line.get("status") == "ok"]
    assert {s["target"] for s in samples} == {"Kettle ☕", "Heater", "Old Lamp"}
    assert lines[-1]["summary"]["samples"] == 9


def test_uptime_ping_and_firmware_state(house: Path) -> None:
    result = sh(house, "-c", "uptime 'Desk Strip' Dimmer")
    assert result.returncode == 0, result.stderr
    assert "Desk Strip/1" in result.stdout and "Dimmer" in result.stdout
    result = sh(house, "-c", "ping Dimmer Garden --count 2 --interval 0")
    assert result.returncode == 0 and result.stdout.count("0% loss") == 2, result.stderr
    result = sh(house, "--json", "-c", "firmware state Heater")
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stdout)[0]["status"]


def test_firmware_stage_refuses_smart_plugs_in_one_line(house: Path) -> None:
    result = sh(house, "-c", "firmware stage Heater demo-sim-HS110EU-hw2.0-1.5.99.bin --yes")
    assert result.returncode == 1
    assert "vendor's servers" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_raw_on_a_smart_plug_takes_method_and_params(house: Path) -> None:
    result = sh(house, "--json", "-c", """raw Heater '{"method":"get_device_time"}'""")
    assert result.returncode == 0, result.stderr
    answer = json_lines(result.stdout)[0]
    assert answer["error_code"] == 0 and isinstance(answer["result"]["timestamp"], int)
    result = sh(house, "--json", "-c", """raw 'Desk Strip/1' '{"method":"get_device_info"}'""")
    inner = json_lines(result.stdout)[0]["result"]["responseData"]
    assert inner["result"]["position"] == 1
    result = sh(house, "-c", """raw Heater '{"system":{"get_sysinfo":{}}}'""")
    assert result.returncode == 1 and '{"method"' in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_password_is_one_line_naming_the_plug_and_what_to_set(house: Path) -> None:
    wrong = {"KSHELL_USERNAME": DEMO_ACCOUNT.username, "KSHELL_PASSWORD": "not-the-password"}
    result = sh(house, "-c", "info Heater", env=wrong)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Heater" in lines[0] and "KSHELL_PASSWORD" in lines[0]
    assert "not-the-password" not in result.stdout + result.stderr
    result = sh(house, "--debug", "-c", "info Heater", env=wrong)
    assert "not-the-password" not in result.stdout + result.stderr


def test_without_credentials_a_klap_plug_says_what_to_set(house: Path) -> None:
    result = run_shell(house, "-c", "on Heater", env={"KSHELL_USERNAME": "", "KSHELL_PASSWORD": ""})
    assert result.returncode == 1
    assert "Heater" in result.stderr and "KSHELL_USERNAME" in result.stderr


def test_a_factory_default_plug_takes_the_setup_credentials_and_is_flagged_unclaimed(
    tmp_path: Path, sim: SimulatorThread
) -> None:
    home = tmp_path / "home"
    write_config(home)
    none = {"KSHELL_USERNAME": "", "KSHELL_PASSWORD": ""}
    result = run_shell(home, "-c", f"add {UNBOXED}", env=none)
    assert result.returncode == 0 and "Unboxed" in result.stdout, result.stderr
    result = run_shell(home, "--json", "-c", "info Unboxed", env=none)
    assert result.returncode == 0, result.stderr
    assert json_lines(result.stdout)[0]["unclaimed"].startswith("yes")
    result = run_shell(home, "-c", f"add {HEATER}", env=none)  # a claimed plug: not so
    assert result.returncode == 1 and "KSHELL_USERNAME" in result.stderr


def test_info_says_how_a_plug_is_reached_and_that_aes_proves_nothing(house: Path) -> None:
    result = sh(house, "--json", "-c", "info Dimmer 'Kettle ☕' Garden 'Old Lamp'")
    assert result.returncode == 0, result.stderr
    rows = {r["target"]: r for r in json_lines(result.stdout)}
    assert (
        rows["Dimmer"]["protocol"] == "SMART over AES" and "AES cannot" in rows["Dimmer"]["caution"]
    )
    assert rows["Kettle ☕"]["protocol"] == "SMART over KLAP" and "caution" not in rows["Kettle ☕"]
    assert rows["Garden"]["protocol"] == "IOT over KLAP" and rows["Garden"]["login_version"] == 1
    assert rows["Old Lamp"]["protocol"] == "IOT over XOR" and "unclaimed" not in rows["Old Lamp"]


@pytest.mark.parametrize(
    "fault, value",
    [("bad_body", True), ("oversized", 3_000_000), ("impostor", True)],
)
def test_hostile_answers_are_one_line_naming_the_plug(
    house: Path, sim: SimulatorThread, fault: str, value: object
) -> None:
    sim.set_fault(KETTLE, fault, value)
    try:
        result = sh(house, "--timeout", "3", "-c", "on 'Kettle ☕'")
    finally:
        sim.clear_fault(KETTLE, fault)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Kettle" in lines[0] and "Traceback" not in result.stderr


def test_erase_on_a_smart_plug_says_the_statistics_are_kept_vendor_side(house: Path) -> None:
    result = sh(house, "-c", "emeter erase Freezer --yes")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "vendor" in lines[0] and "cannot erase" in lines[0], lines
    # refused before any question (without --yes, nobody is asked to confirm a refusal), and
    # named as the owner typed it, with the address in brackets
    asked = sh(house, "-c", "emeter erase Freezer")
    assert asked.returncode == 1 and "--yes" not in asked.stderr
    assert asked.stderr.startswith(f"error: Freezer ({FREEZER}"), asked.stderr


def test_emeter_all_skips_plugs_without_a_meter_in_one_line(house: Path) -> None:
    result = sh(house, "-c", "emeter all")
    assert result.returncode == 0, result.stderr
    assert "has no energy meter" not in result.stderr
    skipped = [line for line in result.stdout.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "3 plugs without an energy meter" in skipped[0], skipped
    data = json_lines(sh(house, "--json", "-c", "emeter all").stdout)
    assert sorted(next(d for d in data if "skipped" in d)["skipped"]) == [
        "Desk Strip",
        "Dimmer",
        "Garden",
    ]
    house_table = next(d for d in data if "meters" in d)
    assert {"Kettle ☕", "Freezer", "Computer"} <= {m["target"] for m in house_table["meters"]}
    # one table for the house: today's and this month's energy, and a total row
    total = house_table["total"]
    plausible = [m for m in house_table["meters"] if m["plausible"]]
    assert total["power_w"] == round(sum(m["power_w"] for m in plausible), 4)
    assert all("today_kwh" in m and "month_kwh" in m for m in house_table["meters"])
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "target",
        "W",
        "V",
        "A",
        "today",
        "kWh",
        "month",
        "kWh",
        "total",
        "kWh",
        "flags",
    ]
    total_line = next(line for line in lines if line.startswith("total ("))
    assert "meters)" in total_line
    # figures right-aligned: the W column's values end where its header ends
    w_end = lines[0].index(" W ") + 2
    for line in lines[2:]:
        if line.startswith("total (") or "skipped" in line or not line.isascii():
            continue  # (a wide character shifts what follows it on screen)
        assert line[w_end - 1].isdigit(), (line, w_end)
    # named explicitly, a plug without a meter is still an error
    named = sh(house, "-c", "emeter Garden")
    assert named.returncode == 1 and "has no energy meter" in named.stderr


def test_a_bare_address_reaches_the_plug_known_there_on_its_own_port(house: Path) -> None:
    """An owner types the address `devices` shows; the store knows the plug speaks on port 80."""
    once = sh(house, "--json", "-c", f"emeter {KETTLE}")
    assert once.returncode == 0, once.stderr
    watch = sh(house, "--json", "-c", f"emeter watch {KETTLE} --count 1 --interval 0")
    assert watch.returncode == 0, watch.stderr
    samples = [line for line in json_lines(watch.stdout) if "summary" not in line]
    assert len(samples) == 1 and samples[0]["power_w"] >= 0


def test_emeter_watch_all_says_in_one_line_which_plugs_it_skipped(house: Path) -> None:
    """`emeter all` said which plugs it skipped; `emeter watch all` skipped them silently."""
    result = sh(house, "--json", "-c", "emeter watch all --count 1 --interval 0")
    assert result.returncode == 0, result.stderr
    data = json_lines(result.stdout)
    notes = [d for d in data if "skipped" in d]
    assert len(notes) == 1 and sorted(notes[0]["skipped"]) == ["Desk Strip", "Dimmer", "Garden"]
    assert {"Kettle ☕", "Freezer"} <= {d.get("plug") or d.get("target") for d in data}
    shown = sh(house, "-c", "emeter watch all --count 1 --interval 0").stdout
    assert len([line for line in shown.splitlines() if "skipped 3 plugs" in line]) == 1, shown


@pytest.mark.parametrize(
    "line",
    [f"emeter watch {FREEZER} --count 1 --interval 0", f"emeter {FREEZER}", f"info {FREEZER}"],
)
def test_a_current_plug_never_seen_before_is_reached_by_its_address(
    tmp_path: Path, sim: SimulatorThread, line: str
) -> None:
    """`info ADDRESS` of a KLAP plug in a new home found its way (9999 refused, port 80
    answers, the plug announces itself on 20002); `emeter watch ADDRESS` stopped at 'did not
    announce itself' because the watch read the plug without that step."""
    home = tmp_path / "home"
    write_config(home)
    result = sh(home, "--json", "-c", line)
    assert result.returncode == 0, result.stderr
    assert "did not announce" not in result.stderr
    assert "Freezer" in result.stdout


def test_cloud_says_the_link_and_the_set_up_account_as_two_facts(house: Path) -> None:
    result = sh(house, "-c", "cloud Garden")
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    # the link may be off while the plug keeps the account it was set up with: never
    # "not bound ... its owner is the configured account" in one breath
    assert line.startswith("Garden: cloud o") and "set up with the configured account" in line
    assert "not bound" not in line and "owner is" not in line
