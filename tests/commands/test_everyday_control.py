"""Everyday control (issue 12): clock, schedules, brightness and settings, on both families,
over real sockets, as an owner runs them (``python shell.py -c ...``).

Plugs live on 127.61.0.x (this file's range). python-kasa reads back what kshell wrote on
the old generation; rules fire on a plug whose clock the simulator runs fast.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.shell import run_shell, write_config

from kshell.simulator import PlugSpec, SimulatorThread
from kshell.simulator.accounts import DEMO_ACCOUNT

LAMP, FAST, DIM, SWITCH, KETTLE, SDIM, NOWHERE = (f"127.61.0.{n}" for n in range(2, 9))
CREDS = {"KSHELL_USERNAME": DEMO_ACCOUNT.username, "KSHELL_PASSWORD": DEMO_ACCOUNT.password}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(host=LAMP, model="HS110(EU) 2.0", alias="Lamp", udp_port=None, clock_drift=300),
        PlugSpec(host=FAST, model="HS100(US) 2.0", alias="Fast", udp_port=None),
        PlugSpec(host=DIM, model="HS220(US) 1.0", alias="Dimmer", udp_port=None),
        PlugSpec(host=SWITCH, model="HS200(US) 2.0", alias="Switch", udp_port=None),
        PlugSpec(host=KETTLE, model="P110(EU) 1.0", alias="Kettle", clock_drift=-200),
        PlugSpec(host=SDIM, model="HS220(US) 3.26", alias="Hall"),
        PlugSpec(host=NOWHERE, model="HS105(US) 1.0", alias="Nowhere", udp_port=None),
    ]
    with SimulatorThread(specs, account=DEMO_ACCOUNT) as running:
        running.plug(NOWHERE).latitude = running.plug(NOWHERE).longitude = 0.0
        yield running


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread) -> Path:
    home = tmp_path_factory.mktemp("everyday") / "home"
    write_config(home)  # loopback-only discovery: a test opens the prompt here
    for host in (LAMP, FAST, DIM, SWITCH, KETTLE, SDIM, NOWHERE):
        trust = " --yes" if host == SDIM else ""  # AES: the owner says to send the login
        result = run_shell(home, "-c", f"add {host}{trust}", env=CREDS)
        assert result.returncode == 0, result.stderr
    return home


def sh(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_shell(home, *args, env=CREDS)


def js(home: Path, line: str) -> dict[str, Any]:
    result = sh(home, "--json", "-c", line)
    assert result.returncode == 0, result.stdout + result.stderr
    answer: dict[str, Any] = json.loads(result.stdout.splitlines()[0])
    return answer


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return str(lines[0])


# -- clock ------------------------------------------------------------------------------------
def test_time_shows_drift_in_utc_and_flags_over_a_minute(house: Path) -> None:
    lamp = js(house, "time Lamp")
    assert lamp["zone"] == "Europe/Amsterdam" and 290 < lamp["drift_s"] < 310
    assert lamp["drifting"] is True
    kettle = js(house, "time Kettle")
    assert -210 < kettle["drift_s"] < -190 and kettle["drifting"]
    dimmer = js(house, "time Dimmer")  # New York's zone, no drift: a zone is never drift
    assert dimmer["zone"] == "America/New_York" and abs(dimmer["drift_s"]) < 5
    assert not dimmer["drifting"]
    text = sh(house, "-c", "time Lamp").stdout
    assert "ahead" in text and "more than a minute" in text
    assert "s ahead: run `time sync`" in js(house, "info Lamp")["clock_drift"]
    assert "clock_drift" not in js(house, "info Dimmer")


def test_time_sync_sets_clock_and_zone_on_both_families(house: Path, sim: SimulatorThread) -> None:
    for name in ("Lamp", "Kettle"):
        result = sh(house, "--json", "-c", f"time sync {name} --zone Asia/Tokyo")
        assert result.returncode == 0, result.stderr
        after = js(house, f"time {name}")
        assert after["zone"] == "Asia/Tokyo" and abs(after["drift_s"]) < 5, after
    assert sim.plug(LAMP).tz_index == 90  # the IOT family's index for Tokyo
    bad = sh(house, "-c", "time sync Lamp --zone Mars/Olympus")
    assert "unknown time zone" in one_line_error(bad)


def test_time_sync_keeps_each_plugs_zone_unless_told_and_utc_has_one_name(house: Path) -> None:
    assert sh(house, "-c", "time sync Lamp --zone Australia/Sydney").returncode == 0
    zones = {name: js(house, f"time {name}")["zone"] for name in ("Lamp", "Dimmer")}
    # the old plugs' table keeps Sydney's offsets under another city's name
    assert zones == {"Lamp": "Australia/Canberra", "Dimmer": "America/New_York"}
    result = sh(house, "--json", "-c", "time sync Lamp Dimmer")  # no --zone: each keeps its own
    assert result.returncode == 0, result.stderr
    assert {name: js(house, f"time {name}")["zone"] for name in zones} == zones
    for name, zone in (("Lamp", "UTC"), ("Kettle", "Etc/UTC")):  # old table: UCT; SMART: Etc/UTC
        assert sh(house, "-c", f"time sync {name} --zone {zone}").returncode == 0
        assert js(house, f"time {name}")["zone"] == "UTC", name
    sh(house, "-c", "time sync Dimmer --zone America/New_York")


# -- schedules --------------------------------------------------------------------------------
def _plug_minute(house: Path, name: str) -> tuple[int, int]:
    local = js(house, f"time {name}")["local"]
    hour, minute = local[11:16].split(":")
    return int(hour), int(minute)


def test_a_rule_added_is_listed_in_words_fires_and_python_kasa_sees_it(
    house: Path, sim: SimulatorThread
) -> None:
    sh(house, "-c", "off Fast")
    hour, minute = _plug_minute(house, "Fast")
    minute += 2  # due in one to two minutes of plug time
    at = f"{(hour + minute // 60) % 24:02d}:{minute % 60:02d}"
    added = js(house, f"schedule add Fast on {at} daily")
    assert added["rule"]["text"] == f"every day {at} on"
    listed = js(house, "schedule Fast")
    assert [r["text"] for r in listed["rules"]] == [f"every day {at} on"]
    assert listed["next"].startswith("on ")
    assert js(house, "info Fast")["relay_state"] == 0  # not due yet
    sim.plug(FAST).wall.advance(180)  # the test runs the plug's clock three minutes on
    assert js(house, "info Fast")["relay_state"] == 1  # the rule fired at its time

    from kasa.iot import IotPlug

    async def kasa_rules() -> list[tuple[int, int]]:
        dev = IotPlug(FAST)
        await dev.update()
        rules = dev.modules["schedule"].rules
        await dev.disconnect()
        return [(r.smin, r.sact.value) for r in rules]

    assert asyncio.run(kasa_rules()) == [(int(at[:2]) * 60 + int(at[3:]), 1)]


def test_schedule_words_enable_disable_and_delete(house: Path, sim: SimulatorThread) -> None:
    js(house, "schedule add Lamp off 23:00 sat,sun")
    rid = js(house, "schedule add Lamp on 07:30 mon-fri")["rule"]["id"]
    texts = {r["text"] for r in js(house, "schedule Lamp")["rules"]}
    assert {"weekends 23:00 off", "weekdays 07:30 on"} <= texts
    js(house, f"schedule disable Lamp {rid}")
    rule = next(r for r in js(house, "schedule Lamp")["rules"] if r["id"] == rid)
    assert rule["enabled"] is False
    js(house, "schedule disable Lamp")
    assert js(house, "schedule Lamp")["enabled"] is False and sim.plug(LAMP).schedule.enable == 0
    js(house, "schedule enable Lamp")
    assert js(house, f"schedule delete Lamp {rid} --yes")["deleted"] == 1
    assert rid not in {r["id"] for r in js(house, "schedule Lamp")["rules"]}
    js(house, "schedule delete Lamp all --yes")
    assert sim.plug(LAMP).schedule.rules == []


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("schedule add Lamp on 25:00", "HH is 00-23"),
        ("schedule add Lamp on noon", "not a time"),
        ("schedule add Lamp on 07:00 mon-xyz", "not a day list"),
        ("schedule delete Lamp NOSUCH --yes", "no rule 'NOSUCH'"),
        ("schedule enable Lamp NOSUCH", "no rule 'NOSUCH'"),
    ],
)
def test_bad_schedule_input_is_one_line_and_writes_nothing(
    house: Path, sim: SimulatorThread, line: str, says: str
) -> None:
    before = [dict(r) for r in sim.plug(LAMP).schedule.rules]
    assert says in one_line_error(sh(house, "-c", line))
    assert sim.plug(LAMP).schedule.rules == before


def test_a_sun_rule_on_a_plug_without_location_is_accepted_with_a_warning(
    house: Path, sim: SimulatorThread
) -> None:
    added = js(house, "schedule add Nowhere off sunset+15 daily")
    assert added["rule"]["text"] == "every day sunset+15 min off"
    assert "wrong time" in added["warning"]
    assert "wrong time" in sh(house, "-c", "schedule Nowhere").stdout
    # the offset goes where the recorded protocol keeps it: soffset, with smin unused
    (stored,) = [r for r in sim.plug(NOWHERE).schedule.rules if r["id"] == added["rule"]["id"]]
    assert (stored["stime_opt"], stored["soffset"], stored["smin"]) == (2, 15, 0)


def test_a_sun_rule_says_the_clock_time_it_means_and_ids_are_short_with_prefixes_taken(
    house: Path, sim: SimulatorThread
) -> None:
    import datetime as dt
    import re

    from kshell.device.capabilities.sun import sun_event_utc

    js(house, "schedule delete Fast all --yes")
    added = js(house, "schedule add Fast off sunset+15 daily")["rule"]["id"]
    listed = js(house, "schedule Fast")
    found = re.fullmatch(r"off (\w{3}) (\d\d):(\d\d) \(sunset\+15 min\)", listed["next"])
    assert found, listed["next"]
    plug = sim.plug(FAST)
    clock = js(house, "time Fast")
    day = dt.datetime.strptime(clock["local"], "%Y-%m-%d %H:%M:%S").date()
    event = sun_event_utc(day, plug.latitude, plug.longitude, rising=False)
    assert event is not None
    due = event + clock["utc_offset_min"] + 15
    shown = int(found.group(2)) * 60 + int(found.group(3))
    assert abs(shown - due % 1440) <= 1 or found.group(1) != f"{day:%a}", (shown, due)
    # the table shows 8 characters of a 32-character id; a unique prefix names the rule
    table = sh(house, "-c", "schedule Fast").stdout
    assert added[:8] in table and added not in table
    js(house, "schedule add Fast on 06:00 daily")
    assert js(house, f"schedule disable Fast {added[:6].lower()}")["enabled"] is False
    rules = {r["id"]: r for r in js(house, "schedule Fast")["rules"]}
    assert rules[added]["enabled"] is False and sum(not r["enabled"] for r in rules.values()) == 1
    assert js(house, f"schedule delete Fast {added[:8]} --yes")["deleted"] == 1
    js(house, "schedule delete Fast all --yes")


def test_a_rule_prefix_shared_by_two_rules_names_neither() -> None:
    from kshell.device.capabilities.rule_words import Rule, When
    from kshell.device.capabilities.schedule import Schedule, short_ids
    from kshell.errors import KshellError

    def rule(rid: str) -> Rule:
        return Rule(rid, True, True, When(0, 60), (1,) * 7, True)

    both = Schedule(True, (rule("ABCDEFGH01"), rule("ABCDEFGH99")), False, True)
    assert both.full_id("abcdefgh9", "Lamp") == "ABCDEFGH99"
    with pytest.raises(KshellError, match="start of 2 rules"):
        both.full_id("ABCD", "Lamp")
    with pytest.raises(KshellError, match="no rule"):
        both.full_id("FFFF", "Lamp")
    # 8 characters would not tell them apart: more are shown
    assert short_ids(both.rules) == {"ABCDEFGH01": "ABCDEFGH01", "ABCDEFGH99": "ABCDEFGH99"}


def _smart_rule(rid: str, minute: int, week_day: int, on: bool) -> dict[str, Any]:
    """A rule in the shape SMART plugs list them (week_day: Sunday is bit 0)."""
    return {
        "enable": True,
        "id": rid,
        "s_type": "normal",
        "s_min": minute,
        "e_type": "normal",
        "e_min": 0,
        "e_action": "none",
        "week_day": week_day,
        "mode": "repeat",
        "year": 2024,
        "month": 6,
        "day": 17,
        "time_offset": 0,
        "desired_states": {"on": on},
    }


def test_smart_schedule_is_listed_and_writes_refused_naming_why(
    house: Path, sim: SimulatorThread
) -> None:
    listed = js(house, "schedule Kettle")
    assert listed["rules"] == [] and listed["writable"] is False
    sim.plug(KETTLE).wall.smart_rules = [
        _smart_rule("S1", 18 * 60, 62, True),
        _smart_rule("S3", 8 * 60, 65, False),
    ]
    listed = js(house, "schedule Kettle")
    assert [r["text"] for r in listed["rules"]] == ["weekdays 18:00 on", "weekends 08:00 off"]
    assert "read only" in sh(house, "-c", "schedule Kettle").stdout
    line = one_line_error(sh(house, "-c", "schedule add Kettle on 07:00"))
    assert "not on record" in line


def test_npm_peer_stores_rules_but_answers_0_to_a_zone_it_never_stores(
    npm_peer: Any, tmp_path: Path
) -> None:
    npm_peer([{"address": "127.61.1.2", "port": 9999, "model": "hs100", "alias": "Peer"}], 0)
    home = tmp_path / "home"
    write_config(home)
    assert run_shell(home, "-c", "add 127.61.1.2").returncode == 0
    added = js(home, "schedule add Peer on 06:45 weekdays")
    assert added["rule"]["text"] == "weekdays 06:45 on"
    assert [r["text"] for r in js(home, "schedule Peer")["rules"]] == ["weekdays 06:45 on"]
    line = one_line_error(run_shell(home, "-c", "time sync Peer --zone Asia/Tokyo"))
    assert "answered 0" in line
    assert isinstance(js(home, "cloud Peer")["bound"], bool)  # its cnCloud, read as ours


# -- dimmers, switches, settings --------------------------------------------------------------
def test_brightness_on_both_families_and_python_kasa_reads_it(
    house: Path, sim: SimulatorThread
) -> None:
    assert js(house, "brightness Dimmer 40")["brightness"] == 40
    assert js(house, "brightness Dimmer")["brightness"] == 40
    assert js(house, "brightness Hall 30")["brightness"] == 30

    from kasa import Module
    from kasa.iot import IotDimmer

    async def kasa_level() -> int:
        dev = IotDimmer(DIM)
        await dev.update()
        level = dev.modules[Module.Light].brightness
        await dev.disconnect()
        return int(level)

    assert asyncio.run(kasa_level()) == 40
    for level in ("0", "101"):
        assert "1-100" in one_line_error(sh(house, "-c", f"brightness Dimmer {level}"))
    assert sim.plug(DIM).light["brightness"] == 40
    assert "not a dimmer" in one_line_error(sh(house, "-c", "brightness Switch 50"))


def test_on_and_off_keep_working_on_dimmers_and_switches(house: Path) -> None:
    for name in ("Dimmer", "Switch", "Hall"):
        assert js(house, f"off {name}")["state"] == "off"
        assert js(house, f"on {name}")["state"] == "on"


def test_feature_lists_settable_and_sets_one_read_back(house: Path, sim: SimulatorThread) -> None:
    names = {f["name"] for f in js(house, "feature Kettle")["features"]}
    assert {"led", "auto_off", "auto_off_minutes"} <= names
    assert js(house, "feature Kettle auto_off on")["value"] == "on"
    assert js(house, "feature Kettle auto_off_minutes 30")["value"] == "30"
    assert js(house, "feature Dimmer brightness 55")["value"] == "55"
    assert sim.plug(DIM).light["brightness"] == 55
    assert "on or off" in one_line_error(sh(house, "-c", "feature Kettle led maybe"))
    assert "settable:" in one_line_error(sh(house, "-c", "feature Lamp child_lock on"))


# -- countdowns, cloud, Wi-Fi -------------------------------------------------------------------
def test_a_countdown_switches_the_relay_when_it_runs_out(house: Path, sim: SimulatorThread) -> None:
    js(house, "on Fast")
    js(house, "schedule delete Fast all --yes")
    started = js(house, "countdown Fast 2m off")
    assert started["action"] == "off" and started["delay_s"] == 120
    assert js(house, "countdown Fast")["countdowns"][0]["delay_s"] == 120
    assert js(house, "info Fast")["relay_state"] == 1
    sim.plug(FAST).wall.advance(130)
    assert js(house, "info Fast")["relay_state"] == 0
    js(house, "countdown Fast 5h on")
    assert js(house, "countdown cancel Fast")["cancelled"] == 1
    assert sim.plug(FAST).count_down.rules == []
    for bad in ("0s", "24h", "soon"):
        line = one_line_error(sh(house, "-c", f"countdown Fast {bad} off"))
        assert "not a duration" in line or "1 s to 23 h 59 min" in line
        assert sim.plug(FAST).count_down.rules == []
    assert "not on record" in one_line_error(sh(house, "-c", "countdown Kettle 10m off"))


def test_cloud_binding_read_and_unbound(house: Path, sim: SimulatorThread) -> None:
    sim.plug(LAMP).cloud.update(username="owner@example.com", binded=1)
    assert js(house, "cloud Lamp") == {
        "target": "Lamp",
        "bound": True,
        "account": "owner@example.com",
        "server": "devs.tplinkcloud.com",
    }
    js(house, "cloud unbind Lamp --yes")
    assert sim.plug(LAMP).cloud["binded"] == 0
    assert "not bound" in one_line_error(sh(house, "-c", "cloud unbind Lamp --yes"))
    assert "not on record" in one_line_error(sh(house, "-c", "cloud unbind Kettle --yes"))
    kettle = js(house, "cloud Kettle")
    assert kettle["owner_is_configured_account"] is True
    assert kettle["owner_hash"] == DEMO_ACCOUNT.owner
    assert "owner_hash" not in js(house, "cloud Lamp")  # the old generation does not announce one


def test_wifi_scan_lists_networks_on_both_families(house: Path) -> None:
    for name in ("Lamp", "Kettle"):
        nets = {n["ssid"]: n for n in js(house, f"wifi scan {name}")["networks"]}
        assert set(nets) == {"KasaSimNet", "Neighbours", "Cafe Guest"}
        assert nets["Cafe Guest"]["security"] == "open"
        # one unit in the signal column: dBm where the plug says it, the 0-3 bars beside
        assert all(n["bars"] in (1, 2, 3) for n in nets.values()), nets
        if name == "Lamp":  # the old generation reports rssi in dBm
            assert all(
                isinstance(n["signal_dbm"], int) and n["signal_dbm"] < 0 for n in nets.values()
            )
        text = sh(house, "-c", f"wifi scan {name}").stdout
        rows = text.splitlines()[3:]  # the title, the headers and the rule go first
        assert len(rows) == 3 and all(re.search(r"(-\d+ dBm|\?) +[#.]{3} ", r) for r in rows), text


def test_wifi_join_sends_the_passphrase_from_a_file_and_never_shows_or_records_it(
    house: Path, sim: SimulatorThread, tmp_path: Path
) -> None:
    secret = "correct horse battery"
    pw = tmp_path / "wifi.txt"
    pw.write_text(secret + "\n")
    for host, name in ((LAMP, "Lamp"), (KETTLE, "Kettle")):
        result = sh(house, "-c", f"wifi join {name} Neighbours --password-file {pw}")
        assert result.returncode == 0, result.stderr
        assert "discover" in result.stdout
        assert secret not in result.stdout + result.stderr
        assert sim.plug(host).wall.joined == ("Neighbours", secret)
    for path in house.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("wifi join Switch " + "x" * 33 + " --password-file /dev/null", "1-32 bytes"),
        ("wifi join Switch KasaSimNet", "--password-file"),
        ("wifi join Switch KasaSimNet --password-file /dev/null", "8-63"),
    ],
)
def test_bad_wifi_join_is_one_line_and_sends_nothing(
    house: Path, sim: SimulatorThread, line: str, says: str
) -> None:
    assert says in one_line_error(sh(house, "-c", line))
    assert sim.plug(SWITCH).wall.joined is None


def test_each_command_declares_its_permission_and_mail_policy() -> None:
    from kshell.lang.registry import ByMail, build_registry

    commands = build_registry().commands
    expected = {
        "time": "read",
        "schedule": "read",
        "cloud": "read",
        "wifi scan": "read",
        "schedule add": "control",
        "schedule delete": "control",
        "schedule enable": "control",
        "schedule disable": "control",
        "countdown": "control",
        "countdown cancel": "control",
        "brightness": "control",
        "feature": "control",
        "time sync": "admin",
        "cloud unbind": "admin",
        "wifi join": "admin",
    }
    for name, permission in expected.items():
        assert commands[name].permission == permission, name
        assert commands[name].by_mail is not None, name
        assert commands[name].examples and commands[name].help, name
    assert commands["wifi join"].by_mail is ByMail.NO
    assert commands["schedule delete"].confirm is True and commands["cloud unbind"].confirm


def test_away_mode_on_iot_and_refused_on_smart(house: Path, sim: SimulatorThread) -> None:
    added = js(house, "away Lamp 18:00 23:30 weekdays")
    assert added["rule"]["text"] == "weekdays 18:00-23:30 random on/off"
    assert [r["text"] for r in js(house, "away Lamp")["rules"]] == [added["rule"]["text"]]
    assert sim.plug(LAMP).anti_theft.rules[0]["emin"] == 23 * 60 + 30
    assert "not a time" in one_line_error(sh(house, "-c", "away Lamp 18:00 later"))
    assert js(house, "away off Lamp")["removed"] == 1
    assert sim.plug(LAMP).anti_theft.rules == []
    js(house, "off Fast")
    hour, minute = _plug_minute(house, "Fast")
    start = f"{(hour + (minute + 2) // 60) % 24:02d}:{(minute + 2) % 60:02d}"
    end = f"{(hour + (minute + 12) // 60) % 24:02d}:{(minute + 12) % 60:02d}"
    js(house, f"away Fast {start} {end}")
    assert js(house, "info Fast")["relay_state"] == 0
    sim.plug(FAST).wall.advance(180)
    assert js(house, "info Fast")["relay_state"] == 1  # the window opened
    sim.plug(FAST).wall.advance(600)
    assert js(house, "info Fast")["relay_state"] == 0  # and closed
    js(house, "away off Fast")
    assert js(house, "away Kettle")["rules"] == []
    assert "not on record" in one_line_error(sh(house, "-c", "away Kettle 18:00 23:00"))


def test_completion_offers_the_rule_ids_this_session_read_with_their_text(
    house: Path, sim: SimulatorThread
) -> None:
    import argparse

    from kshell.app.build import build_session
    from kshell.ui.completer.engine import suggest
    from kshell.ui.completer.model import Model
    from kshell.ui.output import Collector
    from kshell.ui.runner import run_line

    js(house, "schedule delete Nowhere all --yes")
    rid = js(house, "schedule add Nowhere on 06:15 weekends")["rule"]["id"]
    ctx = build_session(
        argparse.Namespace(
            home=str(house), config=None, commands=[], timeout=2.0, yes=True, debug=False
        )
    )
    completions = Model.from_context(ctx)
    assert [s.text for s in suggest(completions, "schedule delete Nowhere ").items] == ["all"]
    assert asyncio.run(run_line(ctx, "schedule Nowhere", Collector()))
    found = suggest(completions, "schedule delete Nowhere ").items
    assert [(s.text, s.meta) for s in found] == [("all", "every rule"), (rid, "weekends 06:15 on")]
    found = suggest(completions, "schedule disable Nowhere ").items
    assert [(s.text, s.meta) for s in found] == [(rid, "weekends 06:15 on")]


def test_wifi_join_is_refused_by_mail_and_time_sync_needs_admin() -> None:
    from types import SimpleNamespace

    from kshell.core.gate import admit
    from kshell.core.invocation import Invocation, MailRules
    from kshell.errors import Refused
    from kshell.lang.registry import build_registry

    commands = build_registry().commands

    def refusal(name: str, permission: str) -> str | None:
        ctx = SimpleNamespace(invocation=Invocation.for_mail(permission, MailRules()))
        try:
            admit(ctx, commands[name])  # type: ignore[arg-type]
        except Refused as exc:
            return str(exc)
        return None

    assert "cannot be run by mail" in (refusal("wifi join", "admin") or "")
    assert "needs admin" in (refusal("time sync", "control") or "")
    assert "needs control" in (refusal("schedule add", "read") or "")
    assert refusal("time", "read") is None and refusal("schedule", "read") is None


def test_wifi_join_at_the_prompt_asks_hidden_and_no_file_keeps_the_passphrase(
    house: Path, sim: SimulatorThread
) -> None:
    from helpers.terminal import Terminal

    secret = "hunter2hunter2"
    term = Terminal(house)
    try:
        term.send("wifi join Lamp KasaSimNet")
        term.key("Enter")
        term.expect("passphrase for KasaSimNet:")
        term.send(secret)
        term.key("Enter")
        term.expect("told to join KasaSimNet")
        assert secret not in term.screen()
        term.leave()
    finally:
        term.close()
    assert sim.plug(LAMP).wall.joined == ("KasaSimNet", secret)
    for path in house.rglob("*"):
        if path.is_file() and not path.is_socket():
            assert secret.encode() not in path.read_bytes(), path
    assert "wifi join Lamp KasaSimNet" in sh(house, "-c", "history").stdout


def test_the_plug_clock_runs_fast_and_drifts_as_the_spec_says() -> None:
    from kshell.simulator.wall import PlugClock

    clock = PlugClock(start=1000.0, drift=30.0, speed=60.0)
    assert clock.now(1000.0) == 1030.0
    assert clock.now(1001.0) == 1090.0  # one real second is a plug minute
    clock.set(1001.0, 5000.0)
    assert clock.now(1001.0) == 5000.0 and clock.last_look == 5000.0
