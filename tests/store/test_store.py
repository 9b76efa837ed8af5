"""The device store: SQLite in the state folder, shared by every kshell process of a user.

Nothing one process writes may undo another's edit: two one-shot processes, an open shell
(tmux) and a mail listener edit one home at once and nothing is lost (bench/soak_store.py runs the same for an
hour); each write touches only the rows it concerns.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.shell import ROOT, run_shell
from helpers.waiting import wait_until

from kshell.app.remote.service import AUDIT_NAME
from kshell.simulator import SimulatorThread
from kshell.store import schema
from kshell.store.devices import DeviceRecord, DeviceStore

sys.path.insert(0, str(ROOT / "bench"))

MAC = "50:C7:BF:00:00:0"


def _record(n: int, alias: str) -> DeviceRecord:
    return DeviceRecord(f"127.63.0.{n}", alias=alias, mac=f"{MAC}{n}", model="HS110(EU)")


def test_one_process_never_undoes_another_s_edit(tmp_path: Path) -> None:
    shell = DeviceStore(tmp_path / "devices.db")  # the open shell, with its snapshot
    for n, alias in ((2, "Kettle"), (3, "Freezer Meter"), (4, "Lamp")):
        shell.observe(_record(n, alias))
    assert len(shell.all()) == 3
    other = DeviceStore(tmp_path / "devices.db")  # `kshell -c ...` in another terminal
    assert other.remove(other.by_address("127.63.0.3", 9999))  # type: ignore[arg-type]
    other.observe(_record(4, "Desk Lamp"))  # renamed there
    other.observe(_record(5, "Fan"))  # added there
    # the shell goes on: its next command marks plugs and refreshes one it asked
    shell.mark("127.63.0.3", 9999, online=True)
    shell.mark("127.63.0.4", 9999, online=False)
    shell.observe(_record(2, "Kettle"))
    fresh = {r.address: r for r in DeviceStore(tmp_path / "devices.db").all()}
    assert set(fresh) == {"127.63.0.2", "127.63.0.4", "127.63.0.5"}  # forgotten stays gone
    assert fresh["127.63.0.4"].alias == "Desk Lamp" and not fresh["127.63.0.4"].online
    assert [r.alias for r in shell.all()] == ["Desk Lamp", "Fan", "Kettle"]  # it sees them


def test_the_store_is_sqlite_in_wal_mode_with_a_schema_version(tmp_path: Path) -> None:
    DeviceStore(tmp_path / "devices.db").observe(_record(2, "Kettle"))
    db = sqlite3.connect(tmp_path / "devices.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION


def test_a_new_field_is_one_migration_step(tmp_path: Path, monkeypatch) -> None:
    DeviceStore(tmp_path / "devices.db").observe(_record(2, "Kettle"))
    steps = [*schema.MIGRATIONS, schema.add_column("region", "TEXT", "'EU'")]
    monkeypatch.setattr(schema, "MIGRATIONS", steps)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(steps))
    cache = DeviceStore(tmp_path / "devices.db")
    assert cache.all()[0].alias == "Kettle"  # rows kept
    db = sqlite3.connect(tmp_path / "devices.db")
    assert db.execute("SELECT region FROM devices").fetchone()[0] == "EU"
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(steps)
    with db:
        db.execute("UPDATE devices SET region = 'US'")
    # an answer stores what it carries and leaves the rest of the row alone, moves included
    cache.observe(_record(2, "Kettle"))
    moved = DeviceRecord("127.63.0.9", alias="Kettle", mac=f"{MAC}2")
    assert cache.observe(moved).conflict is not None
    assert cache.observe(moved, move=True).moved_from == "127.63.0.2"
    assert db.execute("SELECT host, region FROM devices").fetchall() == [("127.63.0.9", "US")]


def test_devices_json_is_imported_once(tmp_path: Path) -> None:
    legacy = {
        "devices": [
            {"host": "127.63.0.2", "alias": "Kettle", "mac": "50c7bf000002", "last_seen": 5.0},
            {"host": "127.63.0.3", "port": 9998, "alias": "Lamp", "online": False},
            {"host": 7, "alias": "broken"},
            "junk",
        ]
    }
    (tmp_path / "devices.json").write_text(json.dumps(legacy))
    records = {r.alias: r for r in DeviceStore(tmp_path / "devices.db").all()}
    assert set(records) == {"Kettle", "Lamp"}
    assert records["Kettle"].mac == "50:C7:BF:00:00:02" and records["Kettle"].last_heard == 5.0
    assert records["Lamp"].address == "127.63.0.3:9998" and not records["Lamp"].online
    assert not (tmp_path / "devices.json").exists()
    (tmp_path / "devices.json").write_text(json.dumps({"devices": [{"host": "127.63.0.9"}]}))
    DeviceStore(tmp_path / "devices.db").remove(records["Lamp"])
    assert [r.alias for r in DeviceStore(tmp_path / "devices.db").all()] == ["Kettle"]


def test_a_damaged_store_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "devices.db").write_bytes(b"this is not a database" * 100)
    out = run_shell(home, "-c", "devices")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "device store" in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.soak
def test_two_shells_and_a_listener_on_one_home_lose_nothing(tmp_path: Path, sink) -> None:  # type: ignore[no-untyped-def]
    """Two one-shot loops and an open shell (tmux) add, forget, rename and discover while a
    ``--listen`` process handles mails that read and switch the broadcast-visible plugs."""
    import soak_store
    from helpers.headless import Headless
    from helpers.maildir import configure
    from helpers.terminal import Terminal

    with SimulatorThread(soak_store.house()) as sim:
        home = tmp_path / "home"
        # soak_store's home, and [remote] with room for one mail every 0.2 s
        configure(home, sink, "rate_per_hour = 100000\n", udp_port=sim.udp_port or 9999)
        seen = [p.host for p in sim.plugs if p.host.startswith(f"{soak_store.BASE}.9.")]
        listener = Headless(home)
        terminal = Terminal(home)
        until = time.monotonic() + 20.0
        mails: dict[str, object] = {}
        mailer = threading.Thread(target=lambda: mails.update(_mail_loop(home, seen, until)))
        try:
            mailer.start()
            outcome = soak_store.run(home, sim, 20.0, seed=7, terminal=terminal)
            terminal.leave()
            mailer.join(timeout=60)
        finally:
            terminal.close()
            code, _out, err = listener.stop()
        relays = {host: sim.plug(host).relay_state for host in seen}
    assert code == 0, err
    assert outcome["commands"] > 30
    assert outcome["lost"] == []
    assert mails["handled"] >= 5, mails  # type: ignore[operator]
    audit = [json.loads(x) for x in (home / AUDIT_NAME).read_text().splitlines()]
    assert len(audit) == 2 * mails["handled"]  # type: ignore[operator]
    assert [a for a in audit if a["outcome"] != "ok"] == []
    last: dict[str, str] = mails["last"]  # type: ignore[assignment]
    assert {h: ("on" if relays[h] else "off") for h in last} == last  # no order was lost


def _mail_loop(home: Path, seen: list[str], until: float) -> dict[str, object]:
    """Mails to the listener, one at a time: read a visible plug, then switch it."""
    from helpers.headless import deliver, wait_for
    from helpers.mail import make_mail

    handled, last = 0, {}
    while time.monotonic() < until:
        host = seen[handled % len(seen)]
        want = "off" if (handled // len(seen)) % 2 == 0 else "on"
        done = deliver(home, make_mail(f"!info {host}\n!{want} {host}"), f"{handled}.store")
        wait_for(done.exists, f"mail {handled} to be handled")
        handled += 1
        last[host] = want
        time.sleep(0.2)  # the listener is one process of four on a shared machine
    return {"handled": handled, "last": last}


def test_an_answer_asked_before_a_rename_elsewhere_does_not_undo_it(tmp_path: Path) -> None:
    """`info` asks a slow plug; meanwhile another process renames it in the store. The answer
    predates that rename, so writing it back must keep the new name."""
    import subprocess

    from helpers.shell import write_config

    from kshell.simulator import PlugSpec

    host = "127.63.1.2"
    with SimulatorThread([PlugSpec(host=host, alias="Old Name", udp_port=None)]) as sim:
        home = tmp_path / "home"
        write_config(home)
        assert run_shell(home, "-c", f"add {host}").returncode == 0
        sim.set_fault(host, "delay", 1.5)
        slow = subprocess.Popen(
            [sys.executable, str(ROOT / "shell.py"), "--home", str(home), "-c", f"info {host}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # it has connected and asked (the plug holds the answer for 1.5 s)
        wait_until(lambda: sim.open_connections(host) > 0, timeout=20, what="info to ask")
        assert DeviceStore(home / "devices.db").update(host, 9999, alias="New Name")
        _out, err = slow.communicate(timeout=30)
        assert slow.returncode == 0, err
    [record] = DeviceStore(home / "devices.db").all()
    assert record.alias == "New Name"


def test_an_outlet_renamed_elsewhere_is_not_undone_by_an_older_answer(tmp_path: Path) -> None:
    """The plug's own name was guarded against an answer asked before a rename elsewhere; its
    outlets' names were not: a strip's answer in flight wrote the old outlet name back."""
    db = tmp_path / "devices.db"
    kids = [
        {"number": 1, "id": "A1", "alias": "Lamp", "state": "on"},
        {"number": 2, "id": "A2", "alias": "Fan", "state": "off"},
    ]
    strip = DeviceRecord("127.63.2.2", alias="Strip", mac=f"{MAC}9", model="HS300(US)")
    strip.children = [dict(k) for k in kids]
    mine = DeviceStore(db)
    mine.observe(strip)
    asked = mine.by_address("127.63.2.2", 9999)  # what this process knew when it asked
    assert asked is not None
    renamed = [dict(k) for k in kids]
    renamed[1]["alias"] = "Radio"
    assert DeviceStore(db).update("127.63.2.2", 9999, children=renamed)  # another process
    answer = DeviceRecord("127.63.2.2", alias="Strip", mac=f"{MAC}9", model="HS300(US)")
    answer.children = [dict(k, state="on") for k in kids]  # asked before the rename
    mine.observe(answer, asked=asked)
    [stored] = DeviceStore(db).all()
    assert [c["alias"] for c in stored.children] == ["Lamp", "Radio"]
    assert [c["state"] for c in stored.children] == ["on", "on"]  # the news is still taken
