"""The one command grammar: splitting, binding to declarations, resolving targets."""

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kshell.core.invocation import Invocation
from kshell.core.targets import parse_address, resolve, resolve_all
from kshell.errors import TargetError, UsageError
from kshell.lang.args import Args
from kshell.lang.binding import parse_args
from kshell.lang.grammar import split_commands
from kshell.lang.registry import Arg, Command, Opt
from kshell.store.devices import DeviceRecord, DeviceStore


def words(line):
    return [c.words for c in split_commands(line)]


def test_split_like_a_posix_shell():
    assert words('on "Living Room"; off Kitchen') == [["on", "Living Room"], ["off", "Kitchen"]]
    assert words("info a # a comment; off b") == [["info", "a"]]
    assert words("info 'a;b' ; ;") == [["info", "a;b"]]
    assert words('alias x "it\'s"') == [["alias", "x", "it's"]]
    assert words("   ") == []


def test_unbalanced_quote_is_a_usage_error():
    with pytest.raises(UsageError, match="closing quotation"):
        split_commands('on "Living Room')
    with pytest.raises(UsageError, match="final backslash"):
        split_commands("on Kitchen\\")


def test_a_quoted_separator_or_hash_is_a_word_and_runs_as_one():
    assert words('alias Kitchen ";"') == [["alias", "Kitchen", ";"]]
    assert words("alias Kitchen ';;'") == [["alias", "Kitchen", ";;"]]
    assert words('alias Kitchen "#1"') == [["alias", "Kitchen", "#1"]]
    assert words("alias Kitchen \\;") == [["alias", "Kitchen", ";"]]


def test_hash_starts_a_comment_only_where_a_word_would_start():
    assert words("alias Kitchen Plug#2 # the new name") == [["alias", "Kitchen", "Plug#2"]]
    assert words("on a;# off b") == [["on", "a"]]


def test_a_newline_separates_commands_and_a_backslash_joins_lines():
    assert words("on a\noff b") == [["on", "a"], ["off", "b"]]
    assert words("on Kit\\\nchen") == [["on", "Kitchen"]]


def test_strict_and_tolerant_scans_agree_wherever_the_strict_one_succeeds():
    from kshell.lang.grammar import scan

    line = 'on \'Living Room\' a\\ b; off "x\\"y" # done'
    assert scan(line) == scan(line, strict=True)
    assert scan('on "Liv')[-1].quote == '"'  # tolerant: a word still being typed


def _cmd(args=(), options=(), confirm=False):
    return Command("x", lambda: None, "help", tuple(args), tuple(options), confirm=confirm)


def test_bind_variadic_targets_before_a_trailing_argument():
    cmd = _cmd([Arg("targets", "targets"), Arg("image", "image")])
    bound = parse_args(cmd, ["a", "b", "fw.bin"])
    assert bound.targets == ["a", "b"] and bound.image == "fw.bin"


def test_options_anywhere_with_values_and_flags():
    cmd = _cmd([Arg("targets", "targets")], [Opt("--count", "int"), Opt("--verbose")])
    bound = parse_args(cmd, ["--count", "3", "a", "--verbose"])
    assert bound.count == 3 and bound.verbose is True and bound.targets == ["a"]
    assert parse_args(cmd, ["a", "--count=4"]).count == 4
    with pytest.raises(UsageError, match="expects a number"):
        parse_args(cmd, ["a", "--count", "many"])
    with pytest.raises(UsageError, match="unknown option"):
        parse_args(cmd, ["a", "--colour"])


def test_current_target_fills_a_missing_target():
    cmd = _cmd([Arg("target", "target"), Arg("state", "choice", choices=("on", "off"))])
    assert parse_args(cmd, ["off"], current="Kitchen") == Args(target="Kitchen", state="off")
    with pytest.raises(UsageError, match="missing"):
        parse_args(cmd, ["off"])
    with pytest.raises(UsageError, match="must be one of"):
        parse_args(cmd, ["Kitchen", "maybe"])


def test_confirming_commands_take_yes():
    assert parse_args(_cmd(confirm=True), ["--yes"]).yes is True


def _ctx(records):
    cache = DeviceStore(None)
    for r in records:
        cache.observe(r)
    return SimpleNamespace(store=cache, invocation=Invocation())


STRIP = DeviceRecord(
    "127.0.0.4",
    alias="Media Strip",
    mac="50:C7:BF:00:00:04",
    kind="strip",
    children=[
        {"number": n, "id": f"ID0{n - 1}", "alias": f"Socket {n}", "state": "off"}
        for n in (1, 2, 3)
    ],
)
RECORDS = [
    DeviceRecord("127.0.0.2", alias="Kitchen Kettle", mac="50:C7:BF:00:00:02"),
    DeviceRecord("127.0.0.3", alias="Office Heater", mac="50:C7:BF:00:00:03"),
    STRIP,
    DeviceRecord("127.0.0.5", alias="Odd/2", mac="50:C7:BF:00:00:05"),
]


def test_resolve_alias_host_mac_all_and_outlets():
    ctx = _ctx(RECORDS)
    assert [t.host for t in resolve(ctx, "kitchen kettle")] == ["127.0.0.2"]
    assert [t.host for t in resolve(ctx, "127.0.0.3")] == ["127.0.0.3"]
    assert resolve(ctx, "127.0.0.9:9998")[0].port == 9998
    assert [t.host for t in resolve(ctx, "50-c7-bf-00-00-03")] == ["127.0.0.3"]
    assert len(resolve(ctx, "all")) == 4
    outlet = resolve(ctx, "Media Strip/2")[0]
    assert (outlet.child_id, outlet.outlet, outlet.label) == ("ID01", 2, "Media Strip/2")
    assert resolve(ctx, "Socket 3")[0].child_id == "ID02"


def test_exact_alias_wins_over_outlet_split():
    assert resolve(_ctx(RECORDS), "Odd/2")[0].host == "127.0.0.5"


def test_outlet_out_of_range_and_not_a_strip():
    ctx = _ctx(RECORDS)
    with pytest.raises(TargetError, match="outlets 1-3, not 7"):
        resolve(ctx, "Media Strip/7")
    with pytest.raises(TargetError, match="no outlets"):
        resolve(ctx, "Kitchen Kettle/1")


def test_shared_alias_lists_both_hosts():
    ctx = _ctx(
        RECORDS + [DeviceRecord("127.0.0.6", alias="Kitchen Kettle", mac="50:C7:BF:00:00:06")]
    )
    with pytest.raises(TargetError, match=r"127\.0\.0\.2.*127\.0\.0\.6|127\.0\.0\.6.*127\.0\.0\.2"):
        resolve(ctx, "Kitchen Kettle")


def test_unknown_target_names_the_nearest_aliases():
    with pytest.raises(TargetError, match="did you mean 'Kitchen Kettle'"):
        resolve(_ctx(RECORDS), "kitchen kettel")


def test_resolve_all_dedupes():
    assert len(resolve_all(_ctx(RECORDS), ["Kitchen Kettle", "127.0.0.2", "all"])) == 4


def test_parse_address():
    assert parse_address("127.0.0.2") == ("127.0.0.2", 9999)
    assert parse_address("plug.lan:80") == ("plug.lan", 80)
    assert parse_address("Kitchen") is None
    assert parse_address("127.0.0.2:99999") is None


def test_names_fold_case_and_accents_and_find_unique_prefixes():
    from kshell.store.names import fold, prefix_matches

    assert fold("Büro Lampe") == fold("BURO LAMPE") == "buro lampe"
    assert fold("Ｋｉｔｃｈｅｎ") == "kitchen"  # full-width letters look alike to a person
    names = ["Büro Lampe", "Kitchen Kettle", "Kitchen", "Bad"]
    assert prefix_matches("bu", names) == ["Büro Lampe"]
    assert prefix_matches("kitchen", names) == ["Kitchen"]  # an exact name wins
    assert prefix_matches("kit", names) == ["Kitchen Kettle", "Kitchen"]
    assert prefix_matches("", names) == [] and prefix_matches("zz", names) == []


@given(
    st.lists(st.text(alphabet="abBüÜ é", max_size=5), max_size=8),
    st.text(alphabet="abBüÜ é", max_size=3),
)
def test_the_sorted_prefix_index_reads_names_as_the_plain_rule_does(names, typed):
    from kshell.store.names import PrefixIndex, fold

    key = fold(typed)
    distinct = list(dict.fromkeys(names))
    exact = [n for n in distinct if fold(n) == key]
    # names on the typed key are all returned (two: the shared-name error, issue 18)
    expected = [] if not key else exact or [n for n in distinct if fold(n).startswith(key)]
    assert PrefixIndex(names).matches(typed) == expected
    assert len(PrefixIndex(names).matches(typed, limit=2)) == min(len(expected), 2)
