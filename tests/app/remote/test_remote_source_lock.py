"""The source is locked, not only the journal: a second listener on the same Maildir or
IMAP folder, from another home, is refused at start, and with one listener each mail runs
once. Headless listeners (``--listen``), a simulated plug, a real SMTP sink, Dovecot.

Plugs here live on 127.50.19.x (10 and up).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.dovecot import Dovecot, ReplySink
from helpers.headless import Headless, wait_for
from helpers.mail import make_mail
from helpers.maildir import configure
from helpers.shell import run_shell

from kshell.app.remote.service import AUDIT_NAME
from kshell.simulator import PlugSpec, SimulatorThread

PLUG = "127.50.19.10"


@pytest.fixture
def sim() -> SimulatorThread:
    with SimulatorThread(
        [PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Heater", relay_state=0)]
    ) as running:
        yield running


def _deliver(maildir: Path, raw: bytes, name: str) -> None:
    (maildir / "tmp" / name).write_bytes(raw)
    (maildir / "tmp" / name).rename(maildir / "new" / name)


def _ran(home: Path) -> list[str]:
    path = home / AUDIT_NAME
    lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return [a["command"] for a in lines if a["command"] and a["outcome"] == "ok"]


def test_two_homes_on_one_maildir_the_second_is_refused_and_each_mail_runs_once(
    tmp_path: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    shared = tmp_path / "Orders"
    homes = [tmp_path / "home-a", tmp_path / "home-b"]
    for home in homes:
        configure(home, sink, extra=f"source = maildir:{shared}\nfolder_shared = no\n")
    first = Headless(homes[0])
    try:
        second = run_shell(homes[1], "--listen", timeout=30)
        assert second.returncode != 0
        assert "another listener" in second.stderr and str(first.proc.pid) in second.stderr
        assert str(shared) in second.stderr
        assert "Traceback" not in second.stderr
        for i in range(5):
            _deliver(shared, make_mail(f"!toggle {PLUG}"), f"{i}.order")
        done = shared / ".Executed" / "cur"
        wait_for(lambda: len(list(done.iterdir())) == 5, "the five mails to be handled")
    finally:
        assert first.stop()[0] == 0
    assert _ran(homes[0]) == [f"toggle {PLUG}"] * 5
    assert _ran(homes[1]) == []
    assert sim.plug(PLUG).relay_state == 1  # five toggles: each ran once
    # once the first has stopped, the other home may take the source
    third = Headless(homes[1])
    assert third.stop()[0] == 0


USERS = {"lock1": "pw1"}


@pytest.fixture(scope="module")
def dovecot() -> Dovecot:
    Dovecot.require()
    with Dovecot(users=USERS) as server:
        yield server


def test_two_homes_on_one_imap_folder_the_second_is_refused(
    tmp_path: Path, dovecot: Dovecot, sink: ReplySink
) -> None:
    source = f"source = imap://lock1:pw1@127.0.0.1:{dovecot.port}/Orders\n"
    homes = [tmp_path / "home-a", tmp_path / "home-b", tmp_path / "home-c"]
    for home in homes[:2]:
        configure(home, sink, extra=source)
    configure(homes[2], sink, extra=source.replace("/Orders", "/Other"))
    first = Headless(homes[0])
    try:
        second = run_shell(homes[1], "--listen", timeout=30)
        assert second.returncode != 0
        assert "another listener" in second.stderr and "Orders" in second.stderr
        assert "pw1" not in second.stderr  # the password is never shown
        other = Headless(homes[2])  # another folder of the same account is another source
        assert other.stop()[0] == 0
    finally:
        assert first.stop()[0] == 0
