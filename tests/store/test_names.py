"""Names that can't be stolen, renames that can't cost the house, prefixes only where typed.

Real plugs of our simulator over real sockets, the shell as a user runs it.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers.shell import json_lines, run_shell

from kshell.core.invocation import Invocation, MailRules
from kshell.core.targets import resolve
from kshell.errors import TargetError
from kshell.simulator import PlugSpec, demo_specs
from kshell.store.devices import DeviceRecord, DeviceStore

KETTLE, FAKE = "127.61.0.2", "127.61.0.3"


def _devices(home: Path) -> dict[str, dict]:
    out = run_shell(home, "--json", "-c", "devices")
    return {d["alias"]: d for d in json_lines(out.stdout)[0]["devices"]}


@pytest.fixture
def kettle_and_fake(fleet):
    sim, home = fleet(
        [
            PlugSpec(host=KETTLE, model="HS110(EU) 2.0", alias="Kettle", udp_port=0),
            PlugSpec(host=FAKE, model="HS110(EU) 2.0", alias="Kettle", udp_port=0),
        ]
    )
    assert run_shell(home, "-c", f"add {KETTLE}").returncode == 0
    mac = sim.plug(KETTLE).mac
    sim.call(setattr, sim.plug(FAKE), "mac", mac)  # the fake claims the kettle's MAC
    return sim, home, mac


def test_info_of_a_fake_plug_with_a_known_mac_does_not_repoint_the_name(kettle_and_fake):
    sim, home, mac = kettle_and_fake
    out = run_shell(home, "-c", f"info {FAKE}")  # read-only: by mail too
    assert out.returncode == 0, out.stderr
    assert _devices(home)["Kettle"]["host"] == KETTLE
    assert run_shell(home, "-c", "off Kettle").returncode == 0
    assert sim.plug(KETTLE).relay_state == 0 and sim.plug(FAKE).relay_state == 1
    # discover sees both answer with one MAC: a conflict, reported, the known address kept
    out = run_shell(home, "-c", f"discover --target {FAKE} --target {KETTLE}")
    assert "add HOST --replace" in out.stdout and f"MAC {mac}" in out.stdout
    assert _devices(home)["Kettle"]["host"] == KETTLE
    out = run_shell(home, "-c", f"add {FAKE}")
    assert out.returncode == 1 and f"add {FAKE} --replace" in out.stderr
    assert _devices(home)["Kettle"]["host"] == KETTLE
    # the operator says the new one is the real one
    out = run_shell(home, "-c", f"add {FAKE} --replace")
    assert out.returncode == 0 and f"moved from {KETTLE}" in out.stdout
    assert _devices(home)["Kettle"]["host"] == FAKE


def test_a_plug_that_moved_address_takes_its_name_along(kettle_and_fake):
    sim, home, _mac = kettle_and_fake
    sim.set_fault(KETTLE, "offline")  # DHCP gave the kettle a new address: the old is silent
    out = run_shell(home, "-c", f"info {FAKE}")
    assert out.returncode == 0, out.stderr
    devices = _devices(home)
    assert devices["Kettle"]["host"] == FAKE and len(devices) == 1


def test_an_ip_literal_is_always_an_address_never_an_alias(fleet):
    sim, home = fleet(
        [
            PlugSpec(host="127.61.1.2", alias="Lamp", udp_port=0),
            PlugSpec(host="127.61.1.9", alias="Heater", udp_port=0),
        ]
    )
    renamed = '{"system":{"set_dev_alias":{"alias":"127.61.1.9"}}}'  # as another app could
    assert run_shell(home, "-c", f"raw 127.61.1.2 '{renamed}'").returncode == 0
    assert run_shell(home, "-c", "discover").returncode == 0
    assert run_shell(home, "-c", "off 127.61.1.9").returncode == 0
    state = {p.host: p.relay_state for p in sim.plugs}  # sim.plug() would match the alias
    assert state == {"127.61.1.9": 0, "127.61.1.2": 1}


def test_renames_that_would_cost_the_house_are_refused(fleet):
    specs = demo_specs(4, "127.61.2.2", udp_port=0)
    specs[0].alias = "Büro Lampe"
    sim, home = fleet(specs)
    assert run_shell(home, "-c", "discover").returncode == 0
    before = {p.host: p.alias for p in sim.plugs}
    refused = {
        "alias all Foo": "renaming every plug",
        '"alias Kitchen Kettle" Foo': "",
        'alias "Kitchen Kettle" "Office Heater"': "already the name of",
        'alias "Kitchen Kettle" "BURO LAMPE"': "already the name of",  # case and accents aside
        'alias "Kitchen Kettle" "office heater"': "already the name of",
        'alias "Kitchen Kettle" TV': "already the name of Media Strip/1",
        'alias "Kitchen Kettle" 127.61.2.4': "reads as an address",
        'alias "Kitchen Kettle" 127.61.2.4:9999': "reads as an address",
        'alias "Kitchen Kettle" 50:C7:BF:00:11:22': "reads as an address",
        "alias \"Kitchen Kettle\" '!reboot all --yes'": "mail marker",
    }
    for line, why in refused.items():
        out = run_shell(home, "-c", line)
        assert out.returncode != 0, line
        assert why in out.stderr, (line, out.stderr)
        assert "Traceback" not in out.stderr
    assert {p.host: p.alias for p in sim.plugs} == before
    out = run_shell(home, "-c", 'alias "Media Strip/2" Monitor')
    assert out.returncode == 0 and out.stdout.strip() == "Media Strip/2: renamed to Monitor"
    out = run_shell(home, "-c", 'alias "Kitchen Kettle" "Tea Maker"')
    assert out.returncode == 0 and "renamed to Tea Maker" in out.stdout
    # reading, without a value
    assert run_shell(home, "-c", 'alias "Tea Maker"').stdout.strip() == "127.61.2.3: Tea Maker"
    assert run_shell(home, "-c", "alias Monitor").stdout.strip() == "Media Strip/2: Monitor"
    sim.call(setattr, sim.plug("127.61.2.3"), "led_off", 1)
    assert run_shell(home, "-c", '"led" "Tea Maker"').stdout.strip() == "Tea Maker: led off"
    out = run_shell(home, "-c", 'use "Tea Maker"; led on; led')  # the current plug's light
    assert out.stdout.splitlines()[1:] == ["Tea Maker: led on", "Tea Maker: led on"]
    assert sim.plug("127.61.2.3").led_off == 0


def test_unique_prefixes_at_the_prompt_and_in_c_never_in_scripts(fleet, tmp_path):
    specs = demo_specs(4, "127.61.3.2", udp_port=0)
    specs[0].alias = "Büro Lampe"
    specs[2].alias = "Kitchen Light"
    sim, home = fleet(specs)
    kettle, light = "127.61.3.3", "127.61.3.4"
    assert run_shell(home, "-c", "discover").returncode == 0
    out = run_shell(home, "-c", "off kitchen")  # ambiguous: names both, touches nothing
    assert out.returncode == 1
    assert "'Kitchen Kettle', 'Kitchen Light'" in out.stderr
    assert sim.plug(kettle).relay_state == 1 and sim.plug(light).relay_state == 1
    out = run_shell(home, "-c", 'off "kitchen k"')
    assert out.returncode == 0 and out.stdout.strip() == "Kitchen Kettle: off"
    out = run_shell(home, "-c", "off bu")  # accents folded
    assert out.returncode == 0 and out.stdout.strip() == "Büro Lampe: off"
    script = tmp_path / "night.ksh"
    script.write_text('on "kitchen k"\n')
    out = run_shell(home, str(script))  # a script means what it said when it was written
    assert out.returncode == 1 and "unknown target 'kitchen k'" in out.stderr
    assert sim.plug(kettle).relay_state == 0


def test_resolution_order_and_origin():
    cache = DeviceStore(None)
    cache.observe(DeviceRecord("127.61.4.2", alias="plug.lan bedroom", mac="50:C7:BF:00:00:01"))
    cache.observe(DeviceRecord("127.61.4.3", alias="127.61.4.2"))
    typed = SimpleNamespace(store=cache, invocation=Invocation(typed=True))
    mailed = SimpleNamespace(store=cache, invocation=Invocation.for_mail("admin", MailRules()))
    assert resolve(typed, "127.61.4.2")[0].record.alias == "plug.lan bedroom"  # type: ignore[arg-type]
    assert resolve(typed, "50-c7-bf-00-00-01")[0].host == "127.61.4.2"  # type: ignore[arg-type]
    assert resolve(typed, "PLUG.LAN")[0].host == "127.61.4.2"  # type: ignore[arg-type]
    target = resolve(mailed, "plug.lan")[0]  # type: ignore[arg-type]
    assert target.host == "plug.lan" and target.record is None  # a host name, not a prefix
    with pytest.raises(TargetError, match="unknown target"):
        resolve(mailed, "plug")  # type: ignore[arg-type]


def test_a_unique_prefix_at_the_prompt(fleet):
    from helpers.terminal import Terminal

    specs = demo_specs(3, "127.61.5.2", udp_port=0)
    specs[0].alias = "Büro Lampe"
    sim, home = fleet(specs)
    assert run_shell(home, "-c", "discover").returncode == 0
    terminal = Terminal(home)
    try:
        terminal.send("off kitch; use bu")
        terminal.key("Enter")
        terminal.expect(r"Kitchen Kettle: off")
        terminal.expect(r"using Büro Lampe \(127\.61\.5\.2\)")
        terminal.expect(r"Büro Lampe: on, heard \d+s ago")  # the toolbar: the name, not 'bu'
        terminal.leave()
    finally:
        terminal.close()
    assert sim.plug("127.61.5.3").relay_state == 0


def test_what_a_name_may_be():
    from kshell.errors import UsageError
    from kshell.store.names import check_new_alias, fold, is_mac

    assert fold("Büro Lampe") == fold("BURO lampe") and fold("Straße") == fold("STRASSE")
    assert is_mac("50-c7-bf-00-11-22") and not is_mac("50c7bf00112g")
    assert check_new_alias("  Büro Lampe ") == "Büro Lampe"
    for bad in ("all", "ALL", "127.0.0.1", "127.0.0.1:9999", "50c7bf001122", "#x", "a\u2028b"):
        with pytest.raises(UsageError):
            check_new_alias(bad, marker="#")


def test_completion_knows_names_as_the_resolver_reads_them():
    from kshell.ui.completer.targets import TargetIndex

    strip = DeviceRecord("127.61.6.2", alias="Strip", kind="strip")
    strip.children = [{"number": 1, "id": "C1", "alias": "Télé", "state": "on"}]
    records = [
        strip,
        DeviceRecord("127.61.6.3", alias="Büro"),
        DeviceRecord("127.61.6.4", alias="BURO", online=False),
    ]
    index = TargetIndex.build(records)
    assert index.is_known("tele") and index.is_known("buro") and index.is_known("strip/1")
    metas = {c.text: c.meta for c in index.aliases}
    assert "shared name" in metas["Büro"] and "offline" in metas["BURO"]
    cache = DeviceStore(None)
    for r in records:
        cache.observe(r)
    typed = SimpleNamespace(store=cache, invocation=Invocation(typed=True))
    assert resolve(typed, "tele")[0].child_id == "C1"  # type: ignore[arg-type]
    with pytest.raises(TargetError, match="shared"):
        resolve(typed, "buro")  # type: ignore[arg-type]


def test_invisible_characters_fold_away():
    from kshell.store.names import fold

    for invisible in ("\u200b", "\u00ad", "\u2060", "\u2064", "\ufeff", "\u202e", "\U000e0041"):
        assert fold(f"Kit{invisible}chen") == fold("KITCHEN") == "kitchen", hex(ord(invisible))
    assert fold("Büro\u200d") == fold("buro")


def test_a_shared_key_is_ambiguous_in_every_spelling():
    strip = DeviceRecord("127.61.7.2", alias="Media Strip", kind="strip")
    strip.children = [{"number": 1, "id": "C1", "alias": "Heater", "state": "on"}]
    cache = DeviceStore(None)
    for record in (
        strip,
        DeviceRecord("127.61.7.3", alias="Space Heater"),
        DeviceRecord("127.61.7.4", alias="space heater"),
        DeviceRecord("127.61.7.5", alias="HEATER"),  # an outlet's name too
        DeviceRecord("127.61.7.6", alias="Lamp"),
        DeviceRecord("127.61.7.7", alias="Lamp\u200b"),
    ):
        cache.observe(record)
    typed = SimpleNamespace(store=cache, invocation=Invocation(typed=True))
    for word in ("Space Heater", "space heater", "space", "Heater", "HEATER", "Lamp", "lam"):
        with pytest.raises(TargetError, match="is shared by") as caught:
            resolve(typed, word)  # type: ignore[arg-type]
        assert "host or MAC, or rename one" in caught.value.message, word
    with pytest.raises(TargetError, match=r"'Heater' \(Media Strip/1\) at 127\.61\.7\.2"):
        resolve(typed, "heater")  # type: ignore[arg-type]
    with pytest.raises(TargetError, match=r"'Lamp\\u200b' at 127\.61\.7\.7"):
        resolve(typed, "Lamp\u200b")  # type: ignore[arg-type]
    assert resolve(typed, "Media Strip/1")[0].child_id == "C1"  # type: ignore[arg-type]
    assert resolve(typed, "127.61.7.4")[0].record.alias == "space heater"  # type: ignore[arg-type,union-attr]
