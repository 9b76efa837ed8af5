"""Highlighting: the pygments lexer and its prompt_toolkit glue, read through a Document."""

from __future__ import annotations

import shlex

from hypothesis import example, given, settings
from hypothesis import strategies as st
from prompt_toolkit.document import Document
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String, Text

from kshell.app.repl.highlight import KshellHighlighter
from kshell.app.repl.lexer import KshellLexer
from kshell.errors import UsageError
from kshell.lang.grammar import split_commands
from kshell.lang.registry import build_registry
from kshell.store.devices import DeviceRecord
from kshell.ui.completer.engine import Model, suggest

REGISTRY = build_registry()
RECORDS = [
    DeviceRecord("127.20.9.2", alias="Kitchen Kettle", model="HS110(EU)", state="on"),
    DeviceRecord(
        "127.20.9.5",
        alias="Strip",
        model="HS300(US)",
        children=[{"number": 1, "id": "c1", "alias": "TV", "state": "on"}],
    ),
]
MODEL = Model(REGISTRY, lambda: RECORDS)


def tokens(text: str, model: Model | None = MODEL) -> list[tuple[object, str]]:
    return [
        (kind, value)
        for _, kind, value in KshellLexer(model).get_tokens_unprocessed(text)
        if value.strip()
    ]


def kind_of(text: str, word: str) -> object:
    return next(kind for kind, value in tokens(text) if value == word)


def test_verbs_subverbs_and_unknown_verbs() -> None:
    assert kind_of("on Strip", "on") is Keyword
    assert kind_of("record stop", "stop") is Keyword.Type
    assert kind_of("frobnicate Strip", "frobnicate") is Error


def test_known_targets_differ_from_unknown_ones() -> None:
    line = 'on "Kitchen Kettle" Strip/1 TV Nowhere 127.20.9.77 all'
    assert kind_of(line, '"Kitchen Kettle"') is Name.Variable
    assert kind_of(line, "Strip/1") is Name.Variable
    assert kind_of(line, "TV") is Name.Variable  # an outlet's own alias
    assert kind_of(line, "Nowhere") is Name.Exception
    assert kind_of(line, "127.20.9.77") is Name.Variable.Magic  # an address, not yet known
    assert kind_of(line, "all") is Keyword.Constant


def test_a_word_still_being_typed_is_not_an_error_yet() -> None:
    assert kind_of("on Kitch", "Kitch") is not Name.Exception  # the start of a known alias
    assert kind_of("on Zzz ", "Zzz") is Name.Exception  # finished, and unknown
    assert kind_of("on Kitch ", "Kitch") is Name.Variable  # a unique prefix runs at the prompt


def test_a_number_is_coloured_as_one_only_when_the_command_takes_it() -> None:
    # the binder that runs the line refuses a non-finite interval: so does the colour
    assert kind_of("emeter watch --interval inf", "inf") is Error
    assert kind_of("emeter watch --interval 0.5", "0.5") is Number


def test_a_plug_without_what_the_command_needs_is_marked() -> None:
    records = [
        DeviceRecord("127.20.9.2", alias="Kettle", model="HS110(EU)", emeter=True),
        DeviceRecord("127.20.9.3", alias="Lamp", model="HS100(US)"),
    ]
    model = Model(REGISTRY, lambda: records)
    found = {
        value: kind for kind, value in tokens("emeter day Lamp; emeter Kettle; on Lamp", model)
    }
    assert found["Lamp"] is Name.Variable  # the last one: on takes any plug
    assert tokens("emeter day Lamp ", model)[-1] == (Name.Exception, "Lamp")
    assert found["Kettle"] is Name.Variable
    assert tokens("emeter day lam ", model)[-1] == (Name.Exception, "lam")  # by its prefix too


def test_accents_and_case_fold_and_an_ambiguous_prefix_is_not_a_plug() -> None:
    records = [
        DeviceRecord("127.20.9.7", alias="Büro Lampe", model="HS100(EU)"),
        DeviceRecord("127.20.9.8", alias="Bad", model="HS100(EU)"),
        DeviceRecord("127.20.9.9", alias="Badewanne", model="HS100(EU)"),
    ]
    model = Model(REGISTRY, lambda: records)
    found = {value: kind for kind, value in tokens("on buro; on BÜRO LAMP; on Ba ", model)}
    assert found["buro"] is Name.Variable and found["BÜRO"] is Name.Variable
    assert found["Ba"] is Name.Exception  # two plugs start so: nothing runs
    assert kind_of("dev", "dev") is not Error
    assert kind_of("dev ", "dev") is Error


def test_options_numbers_strings_and_comments() -> None:
    line = "discover --timeout 2 --bogus; raw Strip '{\"a\": 1}' # why"
    assert kind_of(line, "--timeout") is Name.Attribute
    assert kind_of(line, "2") is Number
    assert kind_of(line, "--bogus") is Error
    assert kind_of(line, ";") is Operator
    assert kind_of(line, "'{\"a\": 1}'") is String
    assert kind_of(line, "# why") is Comment.Single


def test_a_wrong_choice_or_number_is_an_error() -> None:
    assert kind_of("led Strip blue", "blue") is Error
    assert kind_of("led Strip off", "off") is Name.Constant
    assert kind_of("history many", "many") is Error


def test_without_a_model_the_first_word_is_the_verb() -> None:
    assert tokens("anything goes; next", None)[0] == (Keyword, "anything")
    assert (Keyword, "next") in tokens("anything goes; next", None)


@given(st.text(alphabet=st.sampled_from(list("on Strip\"'\\;#-12 \n\tall")), max_size=60))
def test_every_character_is_covered_exactly_once(text: str) -> None:
    parts = list(KshellLexer(MODEL).get_tokens_unprocessed(text))
    assert "".join(value for _, _, value in parts) == text
    positions = [index for index, _, _ in parts]
    assert positions == sorted(positions)


def test_the_prompt_glue_gives_style_classes_per_line() -> None:
    lex = KshellHighlighter(MODEL).lex_document(Document("on Strip Nowhere"))
    line = lex(0)
    assert "".join(text for _, text in line) == "on Strip Nowhere"
    styles = {text: style for style, text in line}
    assert styles["on"] == "class:pygments.keyword"
    assert styles["Strip"] == "class:pygments.name.variable"
    assert styles["Nowhere"] == "class:pygments.name.exception"
    assert lex(5) == []


def test_a_quote_left_open_on_one_line_colours_the_next_as_it_runs() -> None:
    lex = KshellHighlighter(MODEL).lex_document(Document('on "Kitchen\nKettle" ; off Strip'))
    second = lex(1)
    assert "".join(text for _, text in second) == 'Kettle" ; off Strip'
    styles = {text: style for style, text in second}
    assert 'Kettle"' in styles and styles['Kettle"'] != "class:pygments.keyword"
    assert styles["off"] == "class:pygments.keyword"


def test_colours_come_from_the_config_and_bad_values_are_reported() -> None:
    import configparser

    from kshell.app.repl.style import build_style, color_depth
    from kshell.store.config import DEFAULT_CONFIG

    config = configparser.ConfigParser(interpolation=None)
    config.read_string(DEFAULT_CONFIG)
    config.set("colors", "verb", "#ff8700 underline")
    config.set("colors", "target", "not-a-colour")
    config.set("colors", "sparkles", "bold")
    style, problems = build_style(config)
    assert style.get_attrs_for_style_str("class:pygments.keyword").color == "ff8700"
    assert any(p.startswith("[colors] target = not-a-colour") for p in problems)
    assert any(p.startswith("[colors] sparkles: unknown") for p in problems)
    config.set("shell", "color", "never")
    assert color_depth(config) is not None


def shown_commands(line: str) -> list[list[str]]:
    """The commands the highlighter shows: each word span read on its own by ``shlex``
    (an independent reader), split where it shows a separator, comments left out."""
    commands: list[list[str]] = [[]]
    for _, kind, value in KshellLexer(MODEL).get_tokens_unprocessed(line):
        if kind is Operator or (kind is Text.Whitespace and "\n" in value):
            commands.append([])
        elif kind is not Text.Whitespace and kind not in Comment:
            read = shlex.split(value)
            assert len(read) == 1, f"{value!r} is shown as one word but reads as {read}"
            commands[-1].append(read[0])
    return [c for c in commands if c]


PIECES = ["on", "alias", "Strip", "Kitchen", "a", "é", " ", " ", "\t", ";", "#", "'", '"', "\\"]


@settings(max_examples=400)
@given(st.lists(st.sampled_from(PIECES), max_size=14).map("".join))
@example('alias Kitchen ";"')
@example("alias Kitchen ';' # x")
@example("on a#b; off")
def test_what_is_highlighted_as_words_is_exactly_what_runs(line: str) -> None:
    try:
        runs = [c.words for c in split_commands(line)]
    except UsageError:
        return  # nothing runs; the typing view may show anything
    assert shown_commands(line) == runs
    # and completion replaces exactly the last word that would run
    last = runs[-1][-1] if runs else None
    typed = line[suggest(MODEL, line).start :]
    if typed:
        assert shlex.split(typed) == [last]


WORDS = ["on", "off", "Strip", "TV", "2", "-1", "inf", "x", "all", "--yes", "--count", "--count=3"]
WORDS += ["--interval", "--out", "a.csv", "--bogus", "2026", "13"]
BAD_ROLES = {"bad_option", "bad_number", "bad_choice", "extra"}


@settings(max_examples=300)
@given(
    st.sampled_from(sorted(REGISTRY.commands)),
    st.lists(st.sampled_from(WORDS), max_size=5),
    st.sampled_from([None, "Strip"]),
)
def test_a_word_coloured_wrong_is_exactly_one_the_command_refuses(
    name: str, words: list[str], current: str | None
) -> None:
    from kshell.lang.binding import parse_args
    from kshell.ui.completer.engine import analyse

    line = " ".join([name, *words])
    model = Model(REGISTRY, lambda: RECORDS, current=lambda: current)
    roles = [role for _, role in analyse(model, line + " ")]
    try:  # the command the runner would run: `away off on on` is `away off` given ON ON
        cmd, rest = REGISTRY.lookup(line.split())
        parse_args(cmd, rest, current)
    except UsageError:
        return  # refused: a missing argument is not a coloured word, so any colours may do
    assert not BAD_ROLES & set(roles), (line, roles)
