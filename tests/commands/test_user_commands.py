"""Commands from a user's folder: the example in docs/commands.md, loaded by --commands or
the config, runs, completes and has help; a broken module is reported and skipped."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import run_shell, write_config

from kshell.lang.registry import build_registry
from kshell.simulator import PlugSpec, SimulatorThread
from kshell.ui.completer.engine import Model, suggest

ROOT = Path(__file__).resolve().parents[2]
LAMP = "127.20.4.2"


def shell(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_shell(home, *args)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """The documented example, copied from docs/commands.md as a user would."""
    doc = (ROOT / "docs" / "commands.md").read_text()
    code = re.search(r"```python\n(.*?)```", doc, re.DOTALL)
    assert code is not None
    commands = tmp_path / "my-commands"
    commands.mkdir()
    (commands / "nightlight.py").write_text(code.group(1))
    return commands


@pytest.fixture(scope="module")
def lamp() -> Iterator[SimulatorThread]:
    with SimulatorThread(
        [
            PlugSpec(
                host=LAMP, alias="Bedroom Lamp", model="HS105(US) 1.0", udp_port=None, relay_state=0
            )
        ]
    ) as sim:
        yield sim


def test_the_documented_command_runs_against_a_plug(
    tmp_path: Path, folder: Path, lamp: SimulatorThread
) -> None:
    home = tmp_path / "home"
    write_config(home)
    assert shell(home, "-c", f"add {LAMP}").returncode == 0
    result = shell(
        home, "--commands", str(folder), "-c", "nightlight 'Bedroom Lamp' --minutes 0.002"
    )
    assert result.returncode == 0, result.stderr
    assert "Bedroom Lamp: was on for 0.002 min" in result.stdout
    assert lamp.plug(LAMP).sockets[0].state == 0


def test_help_and_completion_know_the_new_command(tmp_path: Path, folder: Path) -> None:
    result = shell(tmp_path, "--commands", str(folder), "-c", "help nightlight")
    assert "usage: nightlight TARGET [--minutes MINUTES]" in result.stdout
    assert "nightlight 'Bedroom Lamp' --minutes 10" in result.stdout
    model = Model(build_registry([folder]), list)
    found = suggest(model, "nigh").items
    assert found[0].text == "nightlight"
    assert found[0].meta.startswith("Switch a lamp on, wait")


def test_a_folder_named_in_the_config_is_loaded(tmp_path: Path, folder: Path) -> None:
    (tmp_path / "kshell.ini").write_text(f"[shell]\ncommand_folders = {folder}\n")
    assert "nightlight" in shell(tmp_path, "-c", "help").stdout


def test_a_module_that_fails_to_import_is_reported_and_skipped(
    tmp_path: Path, folder: Path
) -> None:
    (folder / "broken.py").write_text("import no_such_module_here\n")
    registry = build_registry([folder])
    assert "nightlight" in registry.commands
    (problem,) = registry.load_errors
    assert "broken.py" in problem and "no_such_module_here" in problem
    result = shell(tmp_path, "--commands", str(folder), "-c", "help nightlight")
    assert result.returncode == 0
    assert "usage: nightlight" in result.stdout
