"""Scripts can trust the exit status and see every answer (issue 10, items 5 and 8).

``raw`` fails on a device err_code and shows the whole answer; a script file stops at its
first failed line, naming it FILE:LINE; a long answer is paged at the prompt (tmux).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import json_lines, run_shell, write_config
from helpers.terminal import Terminal

from kshell.simulator import PlugSpec, SimulatorThread

GARAGE, STRIP = "127.21.1.2", "127.21.1.3"


@pytest.fixture(scope="module")
def plugs() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(host=GARAGE, alias="Garage", model="HS110(EU) 2.0", udp_port=None),
        PlugSpec(host=STRIP, alias="Strip", model="HS300(US) 1.0", udp_port=None),
    ]
    with SimulatorThread(specs) as sim:
        yield sim


@pytest.fixture()
def home(tmp_path: Path, plugs: SimulatorThread) -> Path:
    path = tmp_path / "home"
    write_config(path)
    done = run_shell(path, "-c", f"add {GARAGE}; add {STRIP}")
    assert done.returncode == 0, done.stderr
    return path


def test_raw_fails_on_a_device_err_code_and_still_shows_the_answer(home: Path) -> None:
    out = run_shell(home, "--json", "-c", """raw Garage '{"nosuch":{"x":{}}}'""")
    assert out.returncode == 1
    assert json_lines(out.stdout)[0]["nosuch"]["err_code"] == -1
    error = json_lines(out.stderr)[0]["error"]
    assert error["kind"] == "device" and "nosuch.x failed: err_code -1" in error["message"]
    human = run_shell(home, "-c", """raw Garage '{"system":{"set_relay_state":{}}}'""")
    assert human.returncode == 1 and "err_code" in human.stderr
    fine = run_shell(home, "-c", """raw Garage '{"system":{"get_sysinfo":{}}}'""")
    assert fine.returncode == 0, fine.stderr


def test_raw_shows_the_whole_answer_as_pretty_json(home: Path) -> None:
    request = """'{"system":{"get_sysinfo":{}}}'"""  # a strip's: six outlets, a long value
    machine = json_lines(run_shell(home, "--json", "-c", f"raw Strip {request}").stdout)[0]
    human = run_shell(home, "-c", f"raw Strip {request}")
    assert human.returncode == 0, human.stderr
    head, _, body = human.stdout.partition("\n")
    assert head.endswith(": answer")
    shown = json.loads(body)  # the whole answer, every value complete, as JSON
    assert len(shown["system"]["get_sysinfo"]["children"]) == 6
    mine, theirs = shown["system"]["get_sysinfo"], machine["system"]["get_sysinfo"]
    assert mine.keys() == theirs.keys()  # the same answer (on_time ticks between the two)
    assert [c["id"] for c in mine["children"]] == [c["id"] for c in theirs["children"]]
    assert "\n  " in body  # indented for a person


def test_unquoted_json_gets_a_hint_to_quote_it(home: Path) -> None:
    out = run_shell(home, "-c", "raw Garage {system:{get_sysinfo:{}}}")
    assert out.returncode == 1
    assert "double quotes were lost: put the request in single quotes" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    split = run_shell(home, "-c", 'raw Garage {"system": {"get_sysinfo": {}}}')
    assert split.returncode == 1 and "put the JSON in single quotes" in split.stderr


def test_a_script_stops_at_its_first_failed_line_naming_it(home: Path, tmp_path: Path) -> None:
    script = tmp_path / "evening.ksh"
    script.write_text("on Garage\n# a comment\n\noff Nowhere\noff Garage\n")
    out = run_shell(home, str(script))
    assert out.returncode == 1
    assert f"{script}:4: unknown target 'Nowhere'" in out.stderr
    assert f"stopped at {script}:4" in out.stderr and "--keep-going" in out.stderr
    assert "Garage: off" not in out.stdout  # line 5 never ran
    going = run_shell(home, "--keep-going", str(script))
    assert going.returncode == 1 and "Garage: off" in going.stdout
    assert f"{script}:4:" in going.stderr and "stopped" not in going.stderr
    piped = run_shell(home, "--json", "-", input="off Nowhere\non Garage\n")
    assert piped.returncode == 1 and "Garage" not in piped.stdout
    assert json_lines(piped.stderr)[0]["error"]["message"].startswith("stdin:1: ")
    one_shot = run_shell(home, "-c", "off Nowhere; off Garage")  # -c goes on, as before
    assert one_shot.returncode == 1 and "Garage: off" in one_shot.stdout


def test_a_long_raw_answer_is_paged_at_the_prompt(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGER", "less -Pspager-at-end")
    term = Terminal(home)
    try:
        term.send("""raw Strip '{"system":{"get_sysinfo":{}}}'""")
        term.key("Enter")
        term.expect("pager-at-end")
        assert re.search(r'"children": \[', term.screen())
        term.key("q")
        term.send("help on")
        term.key("Enter")
        term.expect("usage: on TARGETS")
        term.leave()
    finally:
        term.close()
