"""One-shot start-up (issue 11's benchmark): what a one-shot ``info`` imports and asks.

A one-shot command that draws nothing interactive imports neither prompt_toolkit, pygments
nor the mail stack, and only the device family its plug speaks; ``info`` asks the plug's
clock (for the drift flag) in one request beside sysinfo. Plugs live on 127.66.0.x (this
file's range), over real sockets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.shell import ROOT, run_shell, write_config

from kshell.simulator import PlugSpec, SimulatorThread
from kshell.simulator.accounts import DEMO_ACCOUNT
from kshell.store.devices import DeviceRecord, DeviceStore

OLD, KLAP = "127.66.0.2", "127.66.0.3"
CREDS = {"KSHELL_USERNAME": DEMO_ACCOUNT.username, "KSHELL_PASSWORD": DEMO_ACCOUNT.password}

NEVER = (  # drawn, asked or mailed: never by a one-shot `info`
    "prompt_toolkit",
    "pygments",
    "tabulate",
    "imaplib",
    "smtplib",
    "email",
    "kshell.app.repl",
    "kshell.app.remote",
    "segno",  # the QR code of `remote totp add` only
    "kshell.ui.qr",
    "shutil",  # argparse's help formatter imports it, and with it bz2 and lzma
    "bz2",
    "lzma",
)
SMART_SIDE = (  # the current generation's device layer
    "kshell.device.protocols.smart",
    "kshell.device.transports.http",
    "kshell.device.transports.klap",
    "kshell.device.transports.aes",
    "cryptography",
)
IOT_SIDE = ("kshell.device.protocols.iot",)  # the capability files hold both families


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(host=OLD, model="HS110(EU) 2.0", alias="Old", udp_port=None, clock_drift=300),
        PlugSpec(host=KLAP, model="P110(EU) 1.0", alias="New", udp_port=None),
    ]
    with SimulatorThread(specs, account=DEMO_ACCOUNT) as running:
        yield running


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory, sim: SimulatorThread) -> Path:
    home = tmp_path_factory.mktemp("startup") / "home"
    write_config(home)
    for host in (OLD, KLAP):
        added = run_shell(home, "-c", f"add {host}", env=CREDS)
        assert added.returncode == 0, added.stderr
    return home


def imported_by(home: Path, line: str) -> set[str]:
    """Every module a one-shot ``kshell -c LINE`` had imported when it ended."""
    probe = (
        "import json, sys; from kshell.app.cli import main; "
        "code = main(['--home', sys.argv[1], '--json', '-c', sys.argv[2]]); "
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr); sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(home), line],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **CREDS},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    """The modules that are one of ``packages`` or inside one."""
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


def test_info_of_an_old_plug_loads_only_its_own_family(house: Path) -> None:
    modules = imported_by(house, "info Old")
    assert "kshell.device.protocols.iot" in modules  # the probe saw the command run
    assert not loaded(modules, NEVER), loaded(modules, NEVER)
    assert not loaded(modules, SMART_SIDE), loaded(modules, SMART_SIDE)


def test_info_of_a_klap_plug_loads_only_its_own_family(house: Path) -> None:
    modules = imported_by(house, "info New")
    assert "kshell.device.protocols.smart" in modules
    assert not loaded(modules, NEVER), loaded(modules, NEVER)
    assert not loaded(modules, IOT_SIDE), loaded(modules, IOT_SIDE)


def test_info_asks_an_old_plugs_clock_in_one_request_and_still_flags_drift(
    house: Path, sim: SimulatorThread
) -> None:
    plug = sim.plug(OLD)
    asked: list[dict[str, Any]] = []
    answer = plug.handle

    def recording(request: dict[str, Any]) -> Any:
        asked.append(request)
        return answer(request)

    plug.handle = recording  # type: ignore[method-assign]  # records, still answers itself
    try:
        result = run_shell(house, "--json", "-c", "info Old", env=CREDS)
    finally:
        del plug.handle  # the class's own method again
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout.splitlines()[0])
    assert "s ahead: run `time sync`" in shown["clock_drift"]  # the plug runs 300 s fast
    assert asked == [
        {"system": {"get_sysinfo": {}}},
        {"time": {"get_time": {}, "get_timezone": {}}},
    ]


def test_info_reads_a_smart_plugs_clock_in_the_same_batch(
    house: Path, sim: SimulatorThread
) -> None:
    api = sim.plug(KLAP).smart
    asked: list[Any] = []
    answer = api.handle

    def recording(request: Any) -> Any:
        asked.append(request)
        return answer(request)

    api.handle = recording  # type: ignore[method-assign]  # records, still answers itself
    try:
        result = run_shell(house, "--json", "-c", "info New", env=CREDS)
    finally:
        del api.handle
    assert result.returncode == 0, result.stderr
    assert "clock_drift" not in json.loads(result.stdout.splitlines()[0])  # on time
    assert [r["method"] for r in asked] == ["multipleRequest"], asked  # one exchange
    methods = [r["method"] for r in asked[0]["params"]["requests"]]
    assert sorted(methods) == [
        "component_nego",
        "get_device_info",
        "get_device_time",
        "get_led_info",
    ]


def test_info_flags_a_smart_plugs_drifting_clock(house: Path, sim: SimulatorThread) -> None:
    plug = sim.plug(KLAP)
    plug.wall.drift -= 200  # the plug's clock now runs 200 s behind
    try:
        shown = json.loads(run_shell(house, "--json", "-c", "info New", env=CREDS).stdout)
    finally:
        plug.wall.drift += 200
    assert "s behind: run `time sync`" in shown["clock_drift"]


def test_an_answer_just_stored_is_not_written_again_as_heard(tmp_path: Path) -> None:
    cache = DeviceStore(tmp_path / "devices.db")
    # what a read's answer stores: heard just now, directly
    record = DeviceRecord("127.66.0.9", alias="Lamp", mac="50:C7:BF:00:00:09")
    record.last_heard, record.heard_by = time.time(), "direct"
    cache.observe(record)
    statements: list[str] = []
    cache._db.set_trace_callback(statements.append)
    cache.heard("127.66.0.9", 9999)  # the same answer, told again by for_each
    assert not [s for s in statements if s.startswith(("BEGIN", "UPDATE"))], statements
    cache.failed("127.66.0.9", 9999)  # another outcome is written at once
    cache.heard("127.66.0.9", 9999)
    assert cache.by_address("127.66.0.9", 9999).online  # type: ignore[union-attr]
    cache.close()


def test_the_program_freezes_start_up_objects_and_a_caller_of_main_keeps_its_collector(
    house: Path,
) -> None:
    probe = (
        "import gc, sys; from kshell.app import cli; "
        "sys.argv = ['kshell', '--home', sys.argv[1], '-c', 'info Old']; "
        "program = cli.run(); frozen = gc.get_freeze_count(); gc.unfreeze(); "
        "code = cli.main(['--home', sys.argv[2], '-c', 'info Old']); "
        "print(program, code, frozen, gc.get_freeze_count(), gc.isenabled())"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(house), str(house)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **CREDS},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    program, code, frozen, frozen_after_main, enabled = done.stdout.split()[-5:]
    assert (program, code) == ("0", "0")
    assert int(frozen) > 5000  # start-up's modules, classes and session: never scanned again
    assert (frozen_after_main, enabled) == ("0", "True")  # main() alone changes nothing
