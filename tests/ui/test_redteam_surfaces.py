"""Red team, device strings on every surface (issue 9 class 9): a plug's name with line
breaks, terminal escapes and bidi overrides never reaches the completion menu raw.

The menu shows a candidate's ``display``; it was the raw alias, so a plug called
``Kettle\\x1b[2J…`` or ``…\\u202e…`` drew what it liked under the prompt.
"""

from __future__ import annotations

import re

from kshell.lang.registry import build_registry
from kshell.store.devices import DeviceRecord
from kshell.ui.completer.engine import Model, suggest

EVIL = "Ket\x1b[2Jtle\n!reboot all --yes\u2028\u202eX\x85"
RAW = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]")


def test_the_completion_menu_shows_a_hostile_alias_escaped() -> None:
    records = [
        DeviceRecord(
            "127.20.9.2",
            alias=EVIL,
            model="HS300(US)",
            state="on",
            mac="50:C7:BF:00:00:01",
            children=[{"number": 1, "id": "c1", "alias": EVIL, "state": "on"}],
        )
    ]
    model = Model(build_registry(), lambda: records, current=lambda: None)  # type: ignore[arg-type]
    for typed in ("on ", "on Ket", "on 127.20", "info 50:"):
        items = suggest(model, typed).items
        assert items, typed
        for item in items:
            assert not RAW.search(item.display + item.meta), (typed, item)


def test_reading_a_hostile_alias_shows_it_on_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``alias TARGET`` (read) put the plug's own name into a Text raw: its LF made a line
    of the plug's choosing in the terminal."""
    from helpers.shell import run_shell, write_config

    from kshell.simulator import PlugSpec, SimulatorThread

    home = tmp_path / "home"
    write_config(home)
    host = "127.60.7.2"
    spec = PlugSpec(host=host, port=9999, udp_port=None, alias="x", model="HS110(EU) 2.0")
    with SimulatorThread([spec]) as sim:
        assert run_shell(home, "-c", f"add {host}").returncode == 0
        sim.plug(host).alias = "Kettle\n!reboot all --yes\u2028#"
        result = run_shell(home, "-c", f"alias {host}")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1, result.stdout
    assert not RAW.search(result.stdout.rstrip("\n")), result.stdout
