"""History, replay and record: the store on its own, then sessions through ``shell.py -c``
against simulated plugs on 127.20.3.x."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import run_shell
from kshell.history.replay import drop_meta, select
from kshell.history.store import HistoryStore

from kshell.errors import UsageError
from kshell.simulator import PlugSpec, SimulatorThread

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ("127.20.3.2", "127.20.3.3")


def shell(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_shell(home, *args, cwd=cwd or home)  # relative script names resolve in the home


@pytest.fixture(scope="module")
def plugs() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(host=HOSTS[0], alias="Desk Lamp", model="HS105(US) 1.0", udp_port=None),
        PlugSpec(host=HOSTS[1], alias="Fan", model="HS100(US) 2.0", udp_port=None, relay_state=0),
    ]
    with SimulatorThread(specs) as sim:
        yield sim


@pytest.fixture()
def home(tmp_path: Path, plugs: SimulatorThread) -> Path:
    result = shell(tmp_path, "-c", f"add {HOSTS[0]}; add {HOSTS[1]}")
    assert result.returncode == 0, result.stderr
    return tmp_path


# --- the store --------------------------------------------------------------------------


def test_entries_are_numbered_from_one_and_survive_a_new_store(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "history")
    for line in ("devices", 'on "Desk Lamp"', "off all"):
        store.append(line)
    again = HistoryStore(tmp_path / "history")
    assert [(e.number, e.line) for e in again.entries()] == [
        (1, "devices"),
        (2, 'on "Desk Lamp"'),
        (3, "off all"),
    ]
    assert again.get(2).line == 'on "Desk Lamp"'
    assert [e.line for e in again.span(2, 3)] == ['on "Desk Lamp"', "off all"]


def test_out_of_range_entries_are_a_usage_error_naming_the_range(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "history")
    store.append("devices")
    with pytest.raises(UsageError, match="entries 1-1"):
        store.get(7)
    with pytest.raises(UsageError, match="backwards"):
        store.span(1, 0)


def test_a_long_history_is_trimmed_to_its_limit(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "history", limit=10)
    for n in range(30):
        store.append(f"ping all --count {n + 1}")
    trimmed = HistoryStore(tmp_path / "history", limit=10).entries()
    assert len(trimmed) == 10
    assert trimmed[0].number == 1 and trimmed[0].line == "ping all --count 21"


def test_replay_leaves_out_replay_record_and_history_commands(tmp_path: Path) -> None:
    assert drop_meta("on all; replay 3; history") == ("on all", 2)
    store = HistoryStore(tmp_path / "history")
    for line in ("on all", "replay 1", "off all"):
        store.append(line)
    steps, skipped = select("1-3", store)
    assert [(s.label, s.line) for s in steps] == [("#1", "on all"), ("#3", "off all")]
    assert skipped == 1


def test_a_script_file_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    script = tmp_path / "evening.kshell"
    script.write_text("# lights\n\noff all\n  # indented comment\non Fan\n")
    steps, _ = select(str(script), HistoryStore(tmp_path / "history"))
    assert [(s.label, s.line) for s in steps] == [
        ("evening.kshell:3", "off all"),
        ("evening.kshell:5", "on Fan"),
    ]


def test_replay_of_something_that_is_neither_entry_nor_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no history entry or script"):
        select("nothing.kshell", HistoryStore(tmp_path / "history"), tmp_path)


# --- sessions ---------------------------------------------------------------------------


def test_history_lists_the_numbered_lines_as_json(home: Path) -> None:
    store = HistoryStore(home / "history")
    store.append("devices")
    store.append("on Fan")
    result = shell(home, "--json", "-c", "history 1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"number": 2, "when": store.get(2).when, "line": "on Fan"}]


def test_record_then_replay_the_script_and_run_it_with_shell_py(
    home: Path, plugs: SimulatorThread
) -> None:
    result = shell(
        home, "-c", "record evening.kshell; off 'Desk Lamp'; on Fan; nosuch; record stop"
    )
    assert "saved 2 command(s)" in result.stdout
    script = (home / "evening.kshell").read_text()
    lines = script.splitlines()
    assert lines[0].startswith("# kshell session script")
    assert lines[-3:] == ["off 'Desk Lamp'", "on Fan", "# failed: nosuch"]
    assert plugs.plug(HOSTS[0]).sockets[0].state == 0

    shell(home, "-c", "on all")
    dry = shell(home, "-c", "replay evening.kshell --dry-run")
    assert "dry run: nothing was run" in dry.stdout

    replayed = shell(home, "--json", "-c", "replay evening.kshell")
    assert replayed.returncode == 0, replayed.stderr
    states = [json.loads(x) for x in replayed.stdout.splitlines()]
    assert {"target": "Desk Lamp", "host": HOSTS[0], "state": "off"} in states
    assert states[-1] == {"replayed": 2, "failed": 0}

    shell(home, "-c", "on all")
    again = shell(home, str(home / "evening.kshell"))  # the same file, run as a script
    assert again.returncode == 0, again.stderr
    assert "Desk Lamp: off" in again.stdout


def test_replay_stops_at_the_first_error_unless_keep_going(home: Path) -> None:
    script = home / "broken.kshell"
    script.write_text("on Fan\nled Nowhere off\noff Fan\n")
    stopped = shell(home, "-c", "replay broken.kshell")
    assert stopped.returncode == 1
    assert "replay stopped at broken.kshell:2" in stopped.stderr
    assert "Fan: off" not in stopped.stdout
    going = shell(home, "-c", "replay broken.kshell --keep-going")
    assert going.returncode == 1  # a line failed, and the exit status says so
    assert "Fan: off" in going.stdout
    assert "replayed 3 line(s), 1 failed" in going.stdout


def test_replay_step_refuses_where_nobody_can_answer(home: Path) -> None:
    (home / "one.kshell").write_text("on Fan\n")
    result = shell(home, "-c", "replay one.kshell --step")
    assert result.returncode == 1
    assert "nobody can answer" in result.stderr


def test_record_refuses_to_overwrite_a_script(home: Path) -> None:
    (home / "keep.kshell").write_text("on Fan\n")
    result = shell(home, "-c", "record keep.kshell")
    assert result.returncode == 1
    assert "exists" in result.stderr
    assert (home / "keep.kshell").read_text() == "on Fan\n"


def test_a_line_is_recorded_as_it_ran_with_prefixes_written_whole(
    home: Path, plugs: SimulatorThread
) -> None:
    import sys

    result = shell(home, "-c", "record short.kshell; off Desk; on Fa; record stop")
    assert result.returncode == 0, result.stderr
    lines = (home / "short.kshell").read_text().splitlines()
    assert lines[-2:] == ["off 'Desk Lamp'", "on Fan"]  # a file runs names whole
    assert "python shell.py short.kshell" in lines[1]  # run from the checkout here
    shell(home, "-c", "on all")
    replayed = shell(home, "-c", "replay short.kshell")
    assert replayed.returncode == 0, replayed.stderr
    assert plugs.plug(HOSTS[0]).sockets[0].state == 0
    # installed, it says so: the header names the command the owner has
    installed = Path(sys.executable).parent / "kshell"
    run = subprocess.run(
        [str(installed), "--home", str(home), "-c", "record inst.kshell; record stop"],
        capture_output=True,
        text=True,
        cwd=home,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Run it again with: kshell inst.kshell" in (home / "inst.kshell").read_text()


def test_history_keeps_a_prefix_typed_line_as_it_ran_and_replay_n_runs_it(
    home: Path, plugs: SimulatorThread
) -> None:
    from helpers.terminal import Terminal

    (home / "kshell.ini").write_text(
        "[discovery]\nbroadcast = 127.255.255.255\nrefresh_on_start = no\n"
    )
    (home / "kshell.ini").chmod(0o600)
    terminal = Terminal(home)
    try:
        terminal.send("off Desk")
        terminal.key("Enter")
        terminal.expect("Desk Lamp: off")
        terminal.leave()
    finally:
        terminal.close()
    listed = json.loads(shell(home, "--json", "-c", "history").stdout)
    lines = [e["line"] for e in (listed if isinstance(listed, list) else listed["entries"])]
    assert lines[-1] == "off 'Desk Lamp'", lines
    shell(home, "-c", "on all")
    number = len(lines)
    replayed = shell(home, "-c", f"replay {number}")
    assert replayed.returncode == 0, replayed.stderr
    assert plugs.plug(HOSTS[0]).sockets[0].state == 0
