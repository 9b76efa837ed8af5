"""Completion: the pure engine (what can come next) and the prompt_toolkit Completer.

No terminal and no network: a registry built from the real commands/ and device records
as the cache holds them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from kshell.lang.grammar import scan
from kshell.lang.registry import build_registry
from kshell.store.devices import DeviceRecord
from kshell.ui.completer.engine import Model, describe, suggest
from kshell.ui.completer.prompt import KshellCompleter

REGISTRY = build_registry()


def records() -> list[DeviceRecord]:
    return [
        DeviceRecord(
            "127.20.9.2",
            alias="Kitchen Kettle",
            model="HS110(EU)",
            state="on",
            mac="50:C7:BF:00:00:01",
        ),
        DeviceRecord("127.20.9.3", alias="Living Room", model="HS100(US)", state="off"),
        DeviceRecord("127.20.9.4", alias="Office", model="HS105(US)", state="on", online=False),
        DeviceRecord(
            "127.20.9.5",
            alias="Media Strip",
            model="HS300(US)",
            state="on",
            children=[
                {"number": 1, "id": "c1", "alias": "TV", "state": "on"},
                {"number": 2, "id": "c2", "alias": "Radio", "state": "off"},
            ],
        ),
    ]


def model(current: str | None = None, **kw: object) -> Model:
    return Model(REGISTRY, records, current=lambda: current, **kw)  # type: ignore[arg-type]


def texts(text: str, m: Model | None = None) -> list[str]:
    return [s.text for s in suggest(m or model(), text).items]


def test_verbs_complete_with_their_summary_as_meta() -> None:
    found = suggest(model(), "of").items
    assert found[0].text == "off"
    assert found[0].meta == REGISTRY.commands["off"].summary


def test_every_verb_is_offered_on_an_empty_line() -> None:
    assert set(texts("")) == set(REGISTRY.verbs())


def test_a_partial_alias_completes_quoted_with_model_host_and_state() -> None:
    found = suggest(model(), "on Liv")
    assert found.start == len("on ")
    first = found.items[0]
    assert first.text == '"Living Room"'
    assert first.display == "Living Room"
    assert "HS100(US)" in first.meta and "127.20.9.3" in first.meta and "off" in first.meta


def test_an_open_quote_is_replaced_with_the_whole_quoted_alias() -> None:
    found = suggest(model(), 'on "Liv')
    assert found.start == len("on ")
    assert found.items[0].text == '"Living Room"'


def test_fuzzy_matching_finds_letters_in_order() -> None:
    assert texts("on kttl")[0] == '"Kitchen Kettle"'
    assert texts("on room")[0] == '"Living Room"'


def test_offline_plugs_say_so() -> None:
    office = next(s for s in suggest(model(), "on Off").items if s.display == "Office")
    assert "offline" in office.meta


def test_strip_outlets_are_offered_as_alias_slash_n_with_the_outlet_alias() -> None:
    found = suggest(model(), "on Media").items
    outlets = {s.display: s.meta for s in found if s.kind == "outlet"}
    assert set(outlets) == {"Media Strip/1", "Media Strip/2"}
    assert "Radio" in outlets["Media Strip/2"]


def test_hosts_and_macs_complete_by_prefix() -> None:
    assert texts("on 127.20.9.")[:4] == ["127.20.9.2", "127.20.9.3", "127.20.9.4", "127.20.9.5"]
    assert texts("on 50:c7") == ["50:C7:BF:00:00:01"]
    assert "127.20.9.2" not in texts("on 9.2")  # no substring noise for addresses


def test_all_is_offered_where_several_targets_are_taken_only() -> None:
    assert "all" in texts("on ")
    assert "all" not in texts("led ")


def test_targets_already_named_are_not_offered_again() -> None:
    assert '"Living Room"' not in texts('on "Living Room" ')


def test_a_choice_follows_its_target() -> None:
    assert texts("led Office ") == ["on", "off"]


def test_with_a_current_plug_the_target_may_be_left_out() -> None:
    found = texts("led ", model(current="Office"))
    assert "on" in found and "off" in found and "Office" in found


def test_use_offers_none_to_clear_the_current_plug() -> None:
    assert texts("use ")[0] == "none"


def test_options_complete_after_a_dash_and_are_not_repeated() -> None:
    assert set(texts("discover --")) >= {"--target", "--timeout", "--verbose"}
    assert "--verbose" not in texts("discover --verbose --")
    assert "--target" in texts("discover --target 127.255.255.255 --")  # repeatable


def test_a_confirming_command_offers_yes() -> None:
    assert "--yes" in texts("reboot Office -")


def test_no_completion_for_an_option_value_or_inside_a_comment() -> None:
    assert texts("discover --timeout ") == []
    assert texts("on Office # of") == []


def test_after_a_semicolon_a_new_command_starts() -> None:
    assert texts("on Office; of")[0] == "off"


def test_subverbs_win_over_arguments() -> None:
    found = suggest(model(), "record s").items
    assert found[0].text == "stop"
    assert found[0].kind == "subverb"


def test_help_completes_verbs_then_their_subverbs() -> None:
    assert texts("help of")[0] == "off"
    assert texts("help record ") == ["stop"]


def test_replay_completes_script_files(tmp_path: Path) -> None:
    (tmp_path / "morning.kshell").write_text("on all\n")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "night.kshell").write_text("off all\n")
    m = model(cwd=lambda: tmp_path)
    assert texts("replay mo", m) == ["morning.kshell"]
    assert texts("replay sc", m) == ["scripts/"]
    assert texts("replay scripts/", m) == ["scripts/night.kshell"]


def test_image_arguments_complete_from_the_firmware_library(tmp_path: Path) -> None:
    from kshell.lang.registry import Arg, Command, Registry

    async def flash(ctx: object, args: object) -> None:
        return None

    reg = Registry()
    reg.add(
        Command(
            "firmware stage",
            flash,
            "Stage an image.",
            args=(Arg("targets", "targets"), Arg("image", "image")),
        )
    )
    (tmp_path / "hs110_v2_1.5.10.bin").write_bytes(b"x" * 2048)
    (tmp_path / "manifest.json").write_text("{}")
    m = Model(reg, records, firmware_dir=lambda: tmp_path)
    found = suggest(m, "firmware stage Office hs").items  # after the targets, the image
    assert [s.text for s in found] == ["hs110_v2_1.5.10.bin"]
    assert "2.0 kB" in found[0].meta and "not in the manifest" in found[0].meta
    assert [s.kind for s in suggest(m, "firmware stage ").items if s.kind == "image"] == []
    shipped = tmp_path / "shipped"  # a checkout's demo images are offered beside the library
    shipped.mkdir()
    (shipped / "demo.bin").write_bytes(b"x" * 10)
    (shipped / "hs110_v2_1.5.10.bin").write_bytes(b"y")  # the library's own wins
    both = Model(reg, records, firmware_dir=lambda: tmp_path, shipped_dir=lambda: shipped)
    offered = [s for s in suggest(both, "firmware stage Office ").items if s.kind == "image"]
    assert sorted(s.text for s in offered) == ["demo.bin", "hs110_v2_1.5.10.bin"]
    assert "2.0 kB" in next(s.meta for s in offered if s.text.startswith("hs110"))


def test_a_thousand_plugs_still_complete_the_right_one() -> None:
    many = [
        DeviceRecord(f"127.21.{i // 250}.{i % 250 + 1}", alias=f"Plug {i:04d}") for i in range(1000)
    ]
    m = Model(REGISTRY, lambda: many)
    assert texts("on Plug 0999", m)[0] == '"Plug 0999"'


def test_describe_gives_the_usage_of_what_is_typed() -> None:
    text = describe(model(), "led ")
    assert "usage: led TARGET [on|off]" in text
    assert "next: TARGET" in text
    assert "on" in describe(model(), "o").splitlines()[1]
    assert "unknown command 'zzz'" in describe(model(), "zzz ")


def test_the_scanner_keeps_spans_and_reads_quotes_like_the_grammar() -> None:
    tokens = scan('on "Living Room" a\\ b; # x')
    assert [(t.kind, t.value) for t in tokens] == [
        ("word", "on"),
        ("word", "Living Room"),
        ("word", "a b"),
        ("separator", ";"),
        ("comment", "# x"),
    ]
    assert scan('on "Liv')[-1].quote == '"'


@pytest.mark.parametrize("typed", ["on Liv", 'on "Liv', "on Living"])
def test_the_prompt_toolkit_completer_replaces_the_word_under_the_cursor(typed: str) -> None:
    completer = KshellCompleter(model())
    found = list(
        completer.get_completions(Document(typed), CompleteEvent(completion_requested=True))
    )
    assert found[0].text == '"Living Room"'
    assert found[0].start_position == -(len(typed) - len("on "))
    assert "HS100(US)" in found[0].display_meta_text
    document = Document(typed)
    completed = document.text[: len(typed) + found[0].start_position] + found[0].text
    assert completed == 'on "Living Room"'


def test_a_plug_found_in_the_background_is_offered_without_a_new_command() -> None:
    from kshell.store.devices import DeviceStore
    from kshell.ui.completer.model import cache_fingerprint

    cache = DeviceStore(None)
    cache.observe(DeviceRecord("127.20.9.2", alias="Kitchen Kettle"))
    m = Model(REGISTRY, cache.all, fingerprint=lambda: cache_fingerprint(cache), max_age=0)
    assert texts("on Gar", m) == []
    cache.observe(DeviceRecord("127.20.9.9", alias="Garage", state="on"))  # discovery found it
    assert texts("on Gar", m) == ["Garage"]


def fleet_with_capabilities() -> list[DeviceRecord]:
    return [
        DeviceRecord("127.20.9.2", alias="Kettle", model="HS110(EU)", emeter=True),
        DeviceRecord("127.20.9.3", alias="Lamp", model="HS100(US)"),
        DeviceRecord("127.20.9.4", alias="Kitchen Bulb", model="KL110(EU)", kind="bulb"),
        DeviceRecord("127.20.9.5", alias="Never Read"),  # added by hand, details unknown
        DeviceRecord(
            "127.20.9.6",
            alias="Power Strip",
            model="HS300(US)",
            kind="strip",
            emeter=True,
            children=[{"number": 1, "id": "c1", "alias": "TV", "state": "on"}],
        ),
    ]


@pytest.mark.parametrize("line", ["emeter day ", "emeter ", "emeter watch ", "emeter erase K"])
def test_meter_commands_offer_only_plugs_with_a_meter(line: str) -> None:
    m = Model(REGISTRY, fleet_with_capabilities)
    offered = {s.display for s in suggest(m, line).items if s.kind in ("alias", "outlet")}
    assert "Lamp" not in offered and "Kitchen Bulb" not in offered
    assert "Kettle" in offered or not line.endswith(" ")
    if line.endswith(" "):
        assert {"Kettle", "Power Strip/1", "Never Read"} <= offered


def test_led_offers_only_plugs_with_a_status_light_and_no_outlets() -> None:
    m = Model(REGISTRY, fleet_with_capabilities)
    offered = {s.display for s in suggest(m, "led ").items}
    assert {"Kettle", "Lamp", "Power Strip", "Never Read"} <= offered
    assert "Kitchen Bulb" not in offered and "Power Strip/1" not in offered
    assert "127.20.9.4" not in texts("led 127.20.9.", m)
    assert "Lamp" in {s.display for s in suggest(m, "on ").items}  # no need: every plug


def test_every_word_the_index_offers_for_a_plug_carries_its_capabilities() -> None:
    from kshell.ui.completer.capable import lacking
    from kshell.ui.completer.targets import TargetIndex

    # nothing here has a meter or a light: every word completion offers must say so
    records = [
        DeviceRecord(
            "127.20.9.8",
            port=9998,
            alias="Garden Bulbs",
            model="KL430(EU)",
            kind="bulb",
            mac="50:C7:BF:00:00:08",
            children=[{"number": 1, "id": "c1", "alias": "Hedge", "state": "on"}],
        ),
        DeviceRecord("127.20.9.9", model="KL110(EU)", kind="bulb", children=[{"number": 1}]),
    ]
    index = TargetIndex.build(records)
    lacks = lacking(records, ("meter", "led"))
    for candidate in index.aliases + index.hosts + index.macs:
        assert candidate.lower in lacks["meter"] and candidate.lower in lacks["led"], candidate


def test_completion_folds_accents_and_case() -> None:
    records = [DeviceRecord("127.20.9.7", alias="Büro Lampe", model="HS100(EU)")]
    m = Model(REGISTRY, lambda: records)
    assert texts("on bu", m) == ['"Büro Lampe"']
    assert texts('on "BÜRO L', m) == ['"Büro Lampe"']
    assert texts("on lampe", m) == ['"Büro Lampe"']


def test_what_next_is_pure_and_reads_the_disk_only_through_its_providers() -> None:
    from kshell.store.names import PrefixIndex
    from kshell.ui.completer.engine import what_next
    from kshell.ui.completer.known import FileEntry, ImageEntry, Known
    from kshell.ui.completer.targets import TargetIndex

    asked: list[str] = []

    def images() -> list[ImageEntry]:
        asked.append("images")
        return [ImageEntry("hs110_v2.bin", "HS110(EU) hw 2.0: firmware 1.5.10")]

    def listdir(folder: str) -> list[FileEntry]:
        asked.append(f"listdir {folder!r}")
        return [FileEntry("night.kshell", False, 12), FileEntry("old", True, None)]

    known = Known(
        REGISTRY,
        REGISTRY.verbs(),
        {v: v for v in REGISTRY.verbs()},
        TargetIndex.build(records()),
        {},
        PrefixIndex(r.alias for r in records()),
        current=None,
        images=images,
        listdir=listdir,
    )
    assert [s.text for s in what_next(known, "on Liv").items] == ['"Living Room"']
    assert asked == []  # a target slot touches no disk
    found = what_next(known, "firmware stage Office hs")
    assert [s.text for s in found.items] == ["hs110_v2.bin"] and asked == ["images"]
    assert [s.text for s in what_next(known, "replay scripts/n").items] == ["scripts/night.kshell"]
    assert asked[-1] == "listdir 'scripts'"


def test_the_model_rebuilds_its_index_by_the_injected_clock() -> None:
    now = [0.0]
    plugs = [DeviceRecord("127.20.9.2", alias="Kettle")]
    m = Model(REGISTRY, lambda: list(plugs), clock=lambda: now[0], max_age=5)
    assert texts("on Gar", m) == []
    plugs.append(DeviceRecord("127.20.9.9", alias="Garage"))
    now[0] = 4.0
    assert texts("on Gar", m) == []  # still within max_age
    now[0] = 6.0
    assert texts("on Gar", m) == ["Garage"]


def test_prefix_matches_come_first_and_alone_fuzzy_only_without_one() -> None:
    verbs = texts("em")
    assert verbs[0] == "emeter" and "remote" not in verbs  # "rEMote" is fuzzy: not offered
    with_hall = [
        *records(),
        DeviceRecord("127.20.9.6", alias="Hallway Dimmer", model="HS220(US)", state="on"),
    ]
    m = Model(REGISTRY, lambda: with_hall, current=lambda: None)  # type: ignore[arg-type]
    assert texts("on all", m) == ["all"]  # "hALLway" is a substring: not beside `all`
    assert texts("on kttl")[0] == '"Kitchen Kettle"'  # no prefix anywhere: fuzzy still helps


def test_a_name_typed_unquoted_completes_whole_over_all_its_words() -> None:
    found = suggest(model(), "on Media Strip/")
    assert found.start == len("on ")  # from "Media", not from "Strip/"
    assert [s.text for s in found.items] == ['"Media Strip/1"', '"Media Strip/2"']
    two = suggest(model(), "on Kitchen Ke")
    assert two.start == len("on ") and two.items[0].text == '"Kitchen Kettle"'
    assert suggest(model(), "on Office Liv").items[0].text == '"Living Room"'  # two plugs
