"""Clock-safe accounting: rates and TOTP lock-outs count by when kshell received a mail on
a clock that does not jump (time since boot, with the boot id), the wall clock only for
mail of an earlier boot. The clocks are injected (helpers.clock); the real one is never
touched. Plugs here live on 127.50.1.x (the Maildir tests' range, one plug)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers.clock import FakeClock
from helpers.dovecot import ReplySink
from helpers.mail import make_mail
from helpers.maildir import PLUG, configure, ran, run

from kshell.app.remote.journal import Clocks, Journal, boot_id, since_boot
from kshell.app.remote.service import JOURNAL_NAME
from kshell.simulator import PlugSpec, SimulatorThread

DAY, HOUR = 86400.0, 3600.0
OWNER = "boss@home.test"


class Machine:
    """A wall clock and a since-boot clock the test moves, and a boot id it can change."""

    def __init__(self, wall: float = 1.8e9, steady: float = 5000.0) -> None:
        self.wall = FakeClock(wall)
        self.steady = FakeClock(steady)
        self.boot = "boot-1"

    def clocks(self) -> Clocks:
        return Clocks(wall=self.wall, steady=self.steady, boot=lambda: self.boot)

    def wait(self, seconds: float) -> None:  # time passes: both clocks move
        self.wall.advance(seconds)
        self.steady.advance(seconds)


def _refused(journal: Journal, n: int, machine: Machine, tag: str) -> None:
    for i in range(n):
        key = f"mail:{tag}{i}"
        journal.receive(key, None, OWNER, "s")
        journal.set_state(key, "refused", "the message is 1440 minutes old", sender=OWNER)
        machine.wait(1)


def test_refusals_while_the_clock_was_a_day_ahead_do_not_lock_the_owner_out(
    tmp_path: Path,
) -> None:
    machine = Machine()
    journal = Journal(tmp_path / "j.sqlite", machine.clocks())
    try:
        machine.wall.advance(DAY)  # the clock goes a day ahead
        _refused(journal, 31, machine, "ahead")
        assert journal.ran_within(OWNER, HOUR) == 31  # within the hour they do count
        machine.wall.advance(-DAY)  # corrected
        machine.wait(HOUR + 60)
        assert journal.ran_within(OWNER, HOUR) == 0  # not 31 for the next 25 hours
    finally:
        journal.close()


@pytest.mark.parametrize("jump", [2 * HOUR, -2 * HOUR, DAY, -DAY])
def test_a_clock_jump_does_not_let_a_flood_through(tmp_path: Path, jump: float) -> None:
    machine = Machine()
    journal = Journal(tmp_path / "j.sqlite", machine.clocks())
    try:
        _refused(journal, 30, machine, "flood")
        for i in range(20):
            journal.receive(f"mail:junk{i}", None, None, "")
            journal.set_state(f"mail:junk{i}", "rejected", "no proof")
        machine.wall.advance(jump)
        machine.wait(60)
        assert journal.ran_within(OWNER, HOUR) == 30
        assert journal.unproven_within(HOUR) == 20
        machine.wait(HOUR)
        assert journal.ran_within(OWNER, HOUR) == 0  # and an hour later they are gone
    finally:
        journal.close()


def test_wrong_codes_count_on_the_steady_clock(tmp_path: Path) -> None:
    machine = Machine()
    journal = Journal(tmp_path / "j.sqlite", machine.clocks())
    try:
        machine.wall.advance(DAY)
        for _ in range(3):
            journal.totp_failure(OWNER)
        machine.wall.advance(-DAY)
        machine.wait(HOUR + 1)
        assert journal.totp_failure(OWNER) == (1, 1)  # only the new one
        machine.wall.advance(2 * HOUR)  # forward: the one just counted still counts
        assert journal.totp_failure(OWNER) == (2, 2)
    finally:
        journal.close()


def test_after_a_reboot_the_wall_clock_counts_and_the_future_counts_nothing(
    tmp_path: Path,
) -> None:
    machine = Machine()
    journal = Journal(tmp_path / "j.sqlite", machine.clocks())
    try:
        _refused(journal, 5, machine, "recent")  # an hour ago by a right clock
        machine.wall.advance(DAY)
        _refused(journal, 7, machine, "ahead")  # by a clock a day ahead
    finally:
        journal.close()
    machine.wall.advance(-DAY)
    machine.boot, machine.steady.now = "boot-2", 30.0  # a reboot: the steady clock restarts
    machine.wait(10 * 60)
    reopened = Journal(tmp_path / "j.sqlite", machine.clocks())
    try:
        assert reopened.ran_within(OWNER, HOUR) == 5  # the 7 "from the future" count nothing
        machine.wait(HOUR)
        assert reopened.ran_within(OWNER, HOUR) == 0
    finally:
        reopened.close()


def test_the_real_clocks_are_readable() -> None:
    assert boot_id() and boot_id() == boot_id()  # one id for this boot
    first = since_boot()
    time.sleep(0.01)
    assert since_boot() > first > 0


@pytest.fixture
def sim() -> SimulatorThread:
    with SimulatorThread(
        [PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", relay_state=1)]
    ) as running:
        yield running


def test_the_owner_is_not_shut_out_of_mail_after_the_clock_is_corrected(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    """End to end: a journal that saw 31 of the owner's mails refused two hours ago (on this
    boot's steady clock) while the wall clock was a day ahead; the listener runs the
    owner's next order."""
    configure(home, sink)
    ahead = Clocks(
        wall=lambda: time.time() + DAY,
        steady=lambda: since_boot() - 2 * HOUR,
    )
    journal = Journal(home / JOURNAL_NAME, ahead)
    try:
        for i in range(31):
            journal.receive(f"mail:old{i}", None, OWNER, "s")
            journal.set_state(f"mail:old{i}", "refused", "too old", sender=OWNER)
    finally:
        journal.close()
    listener = run(home, lambda listener: listener.deliver(make_mail("!off 127.50.1.2")))
    assert ran(listener) == ["off 127.50.1.2"]
    assert sim.plug(PLUG).relay_state == 0
