"""``help`` as a new owner reads it: whole first sentences, and a verb with subcommands lists
them with their examples (as ``git help stash`` does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.shell import run_shell, write_config


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("help") / "home"
    write_config(home)
    return home


def test_every_summary_is_a_whole_sentence(home: Path) -> None:
    result = run_shell(home, "--json", "-c", "help")
    assert result.returncode == 0, result.stderr
    for row in json.loads(result.stdout):
        summary = row["summary"]
        assert summary.endswith((".", ")", "?")), f"{row['command']}: cut: {summary!r}"
        assert len(summary) <= 100, f"{row['command']}: {len(summary)} characters"


@pytest.mark.parametrize(
    ("verb", "subs"),
    [
        ("schedule", ["schedule add", "schedule delete", "schedule enable", "schedule disable"]),
        ("emeter", ["emeter watch", "emeter day", "emeter month", "emeter erase"]),
        ("away", ["away off"]),
        ("remote", ["remote on", "remote off", "remote status"]),  # no bare verb: a table
        ("firmware", ["firmware add", "firmware list", "firmware stage", "firmware state"]),
    ],
)
def test_a_verb_with_subcommands_lists_them_and_their_examples(
    home: Path, verb: str, subs: list[str]
) -> None:
    text = run_shell(home, "-c", f"help {verb}").stdout
    data = json.loads(run_shell(home, "--json", "-c", f"help {verb}").stdout)
    if isinstance(data, list):  # only subcommands: the table of them
        assert set(subs) <= {row["command"] for row in data}
        return
    assert "subcommands" in text
    for sub in subs:
        assert f"  {sub} " in text, sub
    assert set(subs) <= {s["command"] for s in data["subcommands"]}
    if verb == "schedule":
        assert "schedule add Lamp off sunset+15 daily" in text
