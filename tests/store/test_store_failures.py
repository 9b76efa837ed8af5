"""The store never fails the plug's work (issue 18, item 6).

A device action that happened is reported as done when the device store cannot record it
(locked by another process, a full disk, a read-only home), with the store's real cause; a
store another process holds never stalls the event loop; commands that need no write run
without a writable store; a store from a newer kshell, an empty file or someone else's file
named devices.db is refused in one line and left as it was.

Plugs live on 127.81.0.x (this file's range), served by the simulator over real sockets.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import ROOT, json_lines, run_shell, write_config

from kshell.simulator import PlugSpec, SimulatorThread
from kshell.store import schema

LAMP, HEATER = "127.81.0.2", "127.81.0.3"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(host=LAMP, model="HS100(US) 2.0", alias="Lamp", udp_port=None),
        PlugSpec(host=HEATER, model="HS110(EU) 2.0", alias="Heater", udp_port=None),
    ]
    with SimulatorThread(specs) as running:
        yield running


@pytest.fixture
def house(tmp_path: Path, sim: SimulatorThread) -> Path:
    home = tmp_path / "home"
    write_config(home)
    for host in (LAMP, HEATER):
        assert run_shell(home, "-c", f"add {host}").returncode == 0
    return home


class Holder:
    """Another process holding the store's write lock (BEGIN EXCLUSIVE) until stopped."""

    def __init__(self, db: Path) -> None:
        code = (
            "import sqlite3, sys\n"
            f"db = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "db.execute('UPDATE devices SET alias = alias')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "locked"

    def holding(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture
def locked(house: Path) -> Iterator[Holder]:
    holder = Holder(house / "devices.db")
    yield holder
    if holder.holding():
        holder.stop()


def test_a_toggle_while_another_process_holds_the_store_switches_once_and_says_so(
    house: Path, sim: SimulatorThread, locked: Holder
) -> None:
    before = sim.plug(LAMP).relay_state
    result = run_shell(house, "-c", "toggle Lamp", timeout=30)
    assert locked.holding()
    assert sim.plug(LAMP).relay_state == 1 - before  # switched once, and not back
    word = "on" if not before else "off"
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines == [f"Lamp: {word} (not recorded: database is locked)"], result.stdout
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_json_says_the_switch_was_not_recorded(
    house: Path, sim: SimulatorThread, locked: Holder
) -> None:
    result = run_shell(house, "--json", "-c", "on Heater", timeout=30)
    assert result.returncode == 0, result.stderr
    [answer] = json_lines(result.stdout)
    assert answer["state"] == "on" and "locked" in answer["not_recorded"]
    assert sim.plug(HEATER).relay_state == 1


def test_a_watch_keeps_its_pace_while_the_store_is_locked(house: Path, locked: Holder) -> None:
    result = run_shell(
        house, "--json", "-c", "emeter watch Heater --interval 0.2 --count 10", timeout=30
    )
    assert locked.holding()
    samples = [line for line in json_lines(result.stdout) if "power_w" in line]
    assert len(samples) == 10, result.stdout + result.stderr
    assert all(s.get("error") is None for s in samples)
    assert "Traceback" not in result.stderr


# --- a full disk --------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A tiny tmpfs (the tests run as root), or None where mounting is not possible."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    yield where if mounted.returncode == 0 else None
    if mounted.returncode == 0:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(folder: Path) -> None:
    handle = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(handle, b"\0" * 4096):
            pass
    except OSError:
        pass  # the disk is full
    finally:
        os.close(handle)


def _no_more_file_growth() -> None:  # the fallback when no tmpfs can be mounted
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def _shell_on_full_disk(home: Path, mounted: bool, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - callers check the status
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
        preexec_fn=None if mounted else _no_more_file_growth,
    )


def test_a_full_disk_does_not_undo_a_switch_and_names_the_real_cause(
    small_disk: Path | None, sim: SimulatorThread, tmp_path: Path
) -> None:
    home = (small_disk or tmp_path) / "home"
    write_config(home)
    assert run_shell(home, "-c", f"add {LAMP}").returncode == 0
    assert run_shell(home, "-c", "off Lamp").returncode == 0
    if small_disk is not None:
        _fill(small_disk)
    result = _shell_on_full_disk(home, small_disk is not None, "-c", "toggle Lamp")
    assert sim.plug(LAMP).relay_state == 1
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.strip().splitlines()
    assert line.startswith("Lamp: on (not recorded: ")
    if small_disk is not None:  # ENOSPC on the tmpfs; EFBIG under the rlimit is an I/O error
        assert "full" in line, line
    else:
        assert "I/O" in line or "full" in line, line
    assert "no transaction is active" not in result.stdout + result.stderr
    for words in (["help"], ["devices"]):
        ran = _shell_on_full_disk(home, small_disk is not None, "-c", *words)
        assert ran.returncode == 0, ran.stderr
    assert "Lamp" in ran.stdout


# --- a read-only home ---------------------------------------------------------------------


def _read_only(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """kshell in a mount namespace of its own where ``home`` is a read-only bind mount (root
    ignores file modes, so a chmod would prove nothing)."""
    command = "exec " + shlex.join(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home), *args]
    )
    script = f'mount --bind "{home}" "{home}" && mount -o remount,bind,ro "{home}" && {command}'
    return subprocess.run(  # noqa: PLW1510 - callers check the status
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_a_read_only_home_still_runs_help_devices_and_reads(
    house: Path, sim: SimulatorThread
) -> None:
    if shutil.which("unshare") is None or _read_only(house, "-c", "help").returncode == 126:
        pytest.skip("no mount namespace here: a read-only home cannot be made for root")
    probe = _read_only(house, "--version")
    if "Permission denied" in probe.stderr or "Operation not permitted" in probe.stderr:
        pytest.skip(f"no mount namespace here: {probe.stderr.strip()}")
    helped = _read_only(house, "-c", "help")
    assert helped.returncode == 0, helped.stderr
    listed = _read_only(house, "-c", "devices")
    assert listed.returncode == 0, listed.stderr
    assert "Lamp" in listed.stdout and "Heater" in listed.stdout
    read = _read_only(house, "-c", "info Lamp")
    assert read.returncode == 0, read.stderr
    before = sim.plug(LAMP).relay_state
    switched = _read_only(house, "-c", "toggle Lamp")
    assert sim.plug(LAMP).relay_state == 1 - before
    assert switched.returncode == 0, switched.stderr
    assert "not recorded" in switched.stdout and "Traceback" not in switched.stderr


# --- files that are not our store ---------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line_refusal(home: Path, *needles: str) -> None:
    out = run_shell(home, "-c", "devices")
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    for needle in needles:
        assert needle in out.stderr, out.stderr
    assert run_shell(home, "-c", "help").returncode == 0  # help needs no store


def test_a_store_from_a_newer_kshell_says_which_version_it_needs(house: Path) -> None:
    db = sqlite3.connect(house / "devices.db")
    db.execute("PRAGMA user_version = 7")
    db.close()
    before = _digest(house / "devices.db")
    _one_line_refusal(
        house, f"devices.db is schema 7; this kshell reads up to {schema.SCHEMA_VERSION}: upgrade"
    )
    assert _digest(house / "devices.db") == before


def test_an_empty_devices_db_is_refused_and_left_alone(home: Path) -> None:
    (home / "devices.db").write_bytes(b"")
    _one_line_refusal(home, "devices.db", "empty")
    assert (home / "devices.db").read_bytes() == b""


@pytest.mark.parametrize("kind", ["text", "other-sqlite", "empty-sqlite"])
def test_a_foreign_devices_db_is_refused_and_left_alone(home: Path, kind: str) -> None:
    path = home / "devices.db"
    if kind == "text":
        path.write_text("my notes about the devices\n" * 50)
    else:
        db = sqlite3.connect(path)
        if kind == "other-sqlite":
            db.execute("CREATE TABLE recipes (name TEXT)")
            db.execute("INSERT INTO recipes VALUES ('soup')")
            db.commit()
        else:
            db.execute("PRAGMA page_size = 4096")
            db.execute("VACUUM")
        db.close()
    before = _digest(path)
    _one_line_refusal(home, "devices.db", "not a kshell device store")
    assert _digest(path) == before
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_a_store_written_before_application_ids_keeps_opening(home: Path) -> None:
    """Today's stores carry user_version 5 and no application_id: they open, and are marked."""
    db = sqlite3.connect(home / "devices.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for step in schema.MIGRATIONS:
        step(db)
    db.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
    db.execute(
        "INSERT INTO devices (host, port, alias, mac) VALUES (?, 9999, 'Lamp', '50:C7:BF:00:81:02')",
        (LAMP,),
    )
    db.close()
    listed = run_shell(home, "--json", "-c", "devices")
    assert listed.returncode == 0, listed.stderr
    assert "Lamp" in json.dumps(json_lines(listed.stdout))
    marked = sqlite3.connect(home / "devices.db")
    assert marked.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID


def test_a_new_home_gets_a_marked_store(home: Path, sim: SimulatorThread) -> None:
    assert run_shell(home, "-c", f"add {LAMP}").returncode == 0
    db = sqlite3.connect(home / "devices.db")
    assert db.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
    assert db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
