"""Names that can't be captured (issue 18 item 3): a stranger's plug whose name folds onto the
owner's (case, accents, invisible characters aside) makes that name ambiguous in every spelling,
the exact one included; it switches neither plug, and every surface shows the difference.

Real plugs of our simulator over real sockets, the shell as a user runs it; plugs on 127.62.x.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from helpers.shell import json_lines, run_shell

from kshell.simulator import PlugSpec
from kshell.store.devices import DeviceRecord

OWNER, STRANGER = "127.62.0.2", "127.62.0.3"


def _shown(text: str) -> str:
    """How clean() shows characters it escapes."""
    return "".join(
        f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}" if ord(c) < 0x10000
        else f"\\U{ord(c):08x}"
        for c in text
    )  # fmt: skip


def _states(sim) -> dict[str, int]:
    return {p.host: p.relay_state for p in sim.plugs}  # sim.plug() would match the alias


def _read_back(home: Path, *hosts: str) -> dict[str, str]:
    """What each plug says it is now, asked over its socket by address."""
    out = run_shell(home, "--json", "-c", "state " + " ".join(hosts))
    assert out.returncode == 0, out.stderr
    return {d["host"]: d["state"] for d in json_lines(out.stdout)[0]["devices"]}


@pytest.fixture
def look_alikes(fleet):
    sim, home = fleet(
        [
            PlugSpec(host=OWNER, alias="Space Heater", udp_port=0),
            PlugSpec(host=STRANGER, alias="space heater", udp_port=0),
        ]
    )
    discovered = run_shell(home, "-c", "discover")
    assert discovered.returncode == 0, discovered.stderr
    return sim, home, discovered


@pytest.mark.parametrize(
    "spelling", ["space heater", "Space Heater", "SPACE HEATER", "space h", "Space"]
)
def test_a_name_two_plugs_share_switches_neither_in_any_spelling(look_alikes, spelling):
    sim, home, _ = look_alikes
    out = run_shell(home, "-c", f'off "{spelling}"')
    assert out.returncode == 1, out.stdout
    err = out.stderr.strip()
    assert "shared by" in err and "Traceback" not in err
    assert f"'Space Heater' at {OWNER}" in err and f"'space heater' at {STRANGER}" in err
    assert "host or MAC" in err and "rename one" in err
    assert len(err.splitlines()) == 1
    assert _states(sim) == {OWNER: 1, STRANGER: 1}
    assert _read_back(home, OWNER, STRANGER) == {OWNER: "on", STRANGER: "on"}


def test_discover_and_devices_say_which_names_collide_and_a_rename_settles_it(look_alikes):
    sim, home, discovered = look_alikes
    notes = [ln for ln in discovered.stdout.splitlines() if "fold onto one" in ln]
    assert len(notes) == 1, discovered.stdout
    assert f"'Space Heater' at {OWNER}" in notes[0] and f"'space heater' at {STRANGER}" in notes[0]
    listed = run_shell(home, "-c", "devices").stdout
    assert sum(1 for ln in listed.splitlines() if "heater *" in ln.lower()) == 2, listed
    assert "* shares its name" in listed
    as_json = json_lines(run_shell(home, "--json", "-c", "devices").stdout)[0]["devices"]
    assert {d["host"]: d["shared_name"] for d in as_json} == {OWNER: True, STRANGER: True}
    # both stored, the stranger's too; a rename to the other's name is refused ...
    out = run_shell(home, "-c", f'alias {STRANGER} "SPACE HEATER"')
    assert out.returncode != 0 and "already the name of 'Space Heater'" in out.stderr
    # ... and renaming one of them is the way out
    assert run_shell(home, "-c", f"alias {STRANGER} Intruder").returncode == 0
    out = run_shell(home, "-c", 'off "space heater"')
    assert out.returncode == 0 and out.stdout.strip() == "Space Heater: off"
    assert _states(sim) == {OWNER: 0, STRANGER: 1}
    assert "*" not in run_shell(home, "-c", "devices").stdout


@pytest.mark.parametrize(
    "invisible",
    ["\u200b", "\u00ad", "\u2060", "\u2063", "\ufeff", "\u202e", "\U000e0041\U000e007f"],
    ids=["zero-width-space", "soft-hyphen", "word-joiner", "invisible-separator", "bom",
         "bidi-override", "tags"],
)  # fmt: skip
def test_an_invisible_character_neither_captures_the_name_nor_hides(fleet, invisible):
    fake = "Kit" + invisible + "chen" if invisible == "\u00ad" else "Kitchen" + invisible
    sim, home = fleet(
        [
            PlugSpec(host=OWNER, alias="Kitchen", udp_port=0),
            PlugSpec(host=STRANGER, alias=fake, udp_port=0),
        ]
    )
    discovered = run_shell(home, "-c", "discover")
    assert discovered.returncode == 0, discovered.stderr
    shown = _shown(invisible)
    assert shown in discovered.stdout  # the difference is visible
    assert not set(invisible) & set(discovered.stdout)
    assert any("fold onto one" in ln and OWNER in ln for ln in discovered.stdout.splitlines())
    for spelling in ("Kitchen", fake, "kitch"):
        out = run_shell(home, "-c", f"off '{spelling}'")
        assert out.returncode == 1 and "shared by" in out.stderr, (spelling, out.stderr)
        assert not set(invisible) & set(out.stderr) and shown in out.stderr
    assert _states(sim) == {OWNER: 1, STRANGER: 1}
    raw = run_shell(home, "--json", "-c", "devices").stdout
    assert not set(invisible) & set(raw)  # JSON escapes it too, and keeps the value
    aliases = {d["host"]: d["alias"] for d in json_lines(raw)[0]["devices"]}
    assert aliases == {OWNER: "Kitchen", STRANGER: fake}


def test_clean_escapes_every_format_character():
    from kshell.text import clean, json_line

    every = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]
    assert len(every) > 150
    for ch in every:
        shown = clean(f"a{ch}b")
        code = ord(ch)
        assert shown == f"a{_shown(ch)}b", hex(code)
        line = json_line({"alias": f"a{ch}b"})
        assert ch not in line and json.loads(line) == {"alias": f"a{ch}b"}, hex(code)


def test_completion_offers_no_shared_name_as_unique():
    from kshell.lang.registry import build_registry
    from kshell.ui.completer.engine import Model, suggest

    def records() -> list[DeviceRecord]:
        return [
            DeviceRecord(OWNER, alias="Space Heater", model="HS110(EU)", state="on"),
            DeviceRecord(STRANGER, alias="space heater", model="HS110(EU)", state="on"),
            DeviceRecord("127.62.0.4", alias="Kettle", model="HS110(EU)", state="on"),
            DeviceRecord("127.62.0.5", alias="Kettle", model="HS110(EU)", state="on"),
            DeviceRecord("127.62.0.6", alias="Lamp\u200b", model="HS110(EU)", state="on"),
            DeviceRecord("127.62.0.7", alias="Lamp", model="HS110(EU)", state="on"),
        ]

    model = Model(build_registry(), records, current=lambda: None)
    for typed, hosts in (
        ("space", {OWNER, STRANGER}),
        ("Space", {OWNER, STRANGER}),
        ("Kett", {"127.62.0.4", "127.62.0.5"}),
        ("lamp", {"127.62.0.6", "127.62.0.7"}),
    ):
        items = suggest(model, f"off {typed}").items
        named = [s for s in items if s.kind in ("alias", "host")]
        # never one name to take: each plug by its address, the shared name shown beside it
        assert {s.text for s in named} == hosts, (typed, items)
        assert all("shared" in s.meta for s in named), items
