"""Bounded orders by mail: a reply's size, a stream's floor and cap, one time budget per
mail, and mails from different senders run side by side (in order where they must be),
against simulated plugs and a real SMTP server (aiosmtpd) for the replies.

Plugs here live on 127.50.29.x (apart from the other remote suites' addresses).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from helpers.dovecot import ReplySink
from helpers.mail import body, make_mail, replies
from helpers.maildir import Listener, configure, run

from kshell.app.remote.bounds import BoundedCollector
from kshell.core.invocation import Invocation, MailRules
from kshell.simulator import PlugSpec, SimulatorThread
from kshell.ui.runner import run_line

KETTLE, LAMP = "127.50.29.2", "127.50.29.3"
BOSS = "Boss <boss@home.test>"
READER = "Reader <reader@home.test>"
ROOT = "Root <root@home.test>"


@pytest.fixture
def sim() -> SimulatorThread:
    specs = [
        PlugSpec(KETTLE, udp_port=None, alias="Kettle", model="HS110(EU) 2.0", relay_state=1),
        PlugSpec(LAMP, udp_port=None, alias="Lamp", model="HS110(EU) 2.0", relay_state=0),
    ]
    with SimulatorThread(specs) as running:
        yield running


def _know_plugs(listener: Listener) -> None:
    from kshell.store.devices import DeviceRecord

    for host, alias in ((KETTLE, "Kettle"), (LAMP, "Lamp")):
        listener.session.store.observe(
            DeviceRecord(host=host, alias=alias, model="HS110(EU)", state="on")
        )


def _reply_to(sink: ReplySink, msgid: str) -> str:
    [reply] = [r for r in replies(sink) if r["In-Reply-To"] == msgid]
    return body(reply)


# -- the reply's size and the stream's floor and cap ------------------------------------------


def test_a_watch_at_interval_0_by_mail_gets_a_bounded_reply_that_says_truncated(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    """The reproduction: `!emeter watch Kettle --interval 0` made a 24.9 MB reply."""
    configure(home, sink, extra="max_reply_bytes = 2048\nmail_min_interval = 0.1\n")
    lines = "".join("!emeter watch Kettle --interval 0 --duration 1.5\n" for _ in range(3))
    raw = make_mail(lines + "!info Kettle\n", msgid="<big@home.test>")

    async def scenario(listener: Listener) -> None:
        _know_plugs(listener)
        await listener.deliver(raw)

    run(home, scenario)
    [reply] = replies(sink)
    text = body(reply)
    assert len(text.encode()) <= 2048
    assert "... truncated (" in text and "more lines)" in text
    # each command had its share: the last one (info) is in the reply too, not starved
    assert "> !info Kettle" in text and "HS110" in text


def test_the_collector_keeps_no_more_than_its_share_while_a_watch_runs(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    """Memory, not only the reply: what the collector holds never passes its share while
    the watch is still sampling, and what it dropped is counted."""
    configure(home, sink)
    share = 1500
    kept: list[int] = []

    async def scenario(listener: Listener) -> None:
        _know_plugs(listener)
        rules = MailRules(min_interval=0.1, max_samples=1_000_000)
        view = listener.session.for_invocation(Invocation.for_mail("read", rules))
        collector = BoundedCollector(share)
        work = asyncio.ensure_future(
            run_line(view, "emeter watch Kettle --interval 0 --duration 2", collector)
        )
        while not work.done():
            kept.append(collector.kept_bytes)
            await asyncio.sleep(0.05)
        assert await work
        kept.append(collector.kept_bytes)
        assert collector.dropped_lines > 0
        text = collector.text()
        assert f"... truncated ({collector.dropped_lines} more lines)" in text
        assert len(text.encode()) <= share

    run(home, scenario)
    assert max(kept) <= share
    assert len(kept) > 10  # sampled while it ran


def test_a_stream_by_mail_takes_the_floor_interval_and_the_sample_cap(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    rounds: list[float] = []

    async def scenario(listener: Listener) -> None:
        _know_plugs(listener)
        rules = MailRules(min_interval=0.3, max_samples=4)
        view = listener.session.for_invocation(Invocation.for_mail("read", rules))
        collector = BoundedCollector(60_000)
        started = time.monotonic()
        assert await run_line(view, "emeter watch Kettle --interval 0", collector)
        rounds.append(time.monotonic() - started)
        samples = [ln for ln in collector.text().splitlines() if " W" in ln and "Kettle" in ln]
        rounds.append(len(samples))
        # ping is a stream too: its count is capped the same way
        ping = BoundedCollector(60_000)
        assert await run_line(view, "ping Kettle --count 50 --interval 0", ping)
        rounds.append(sum(1 for ln in ping.text().splitlines() if ": seq " in ln))

    run(home, scenario)
    took, samples, pings = rounds
    assert samples == 4  # --interval 0 asked for as many as it can get: capped at 4
    assert took >= 3 * 0.3  # 4 rounds, 0.3 s apart at least (the floor)
    assert pings == 4


# -- one time budget per mail ------------------------------------------------------------------


def test_a_mail_has_one_time_budget_and_lists_what_did_not_run(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    """Three long watches (8 s each by the reproduction) against a 2 s budget: the one
    running is stopped, the rest and the !on are listed as not run, and the plug is not
    switched."""
    configure(home, sink, extra="mail_time_budget = 2\n")
    watch = "!emeter watch Kettle --duration 6\n"
    raw = make_mail(watch * 3 + "!on Lamp\n", msgid="<slow@home.test>")
    took: list[float] = []

    async def scenario(listener: Listener) -> None:
        _know_plugs(listener)
        started = time.monotonic()
        await listener.deliver(raw)
        took.append(time.monotonic() - started)
        # the stopped watch left the Kettle's connection usable: the next order works
        await listener.deliver(make_mail("!off Kettle", msgid="<after@home.test>"))

    listener = run(home, scenario)
    assert 1.8 <= took[0] < 4.5  # near the budget, not 3 x 6 s
    assert sim.plug(KETTLE).relay_state == 0
    assert "Kettle: off" in _reply_to(sink, "<after@home.test>")
    text = _reply_to(sink, "<slow@home.test>")
    assert "stopped: the mail's time budget (2 s, mail_time_budget) ran out" in text
    assert text.count("not run (time budget): !emeter watch Kettle --duration 6") == 2
    assert "not run (time budget): !on Lamp" in text
    assert sim.plug(LAMP).relay_state == 0  # the order that did not run did not run
    outcomes = [(a["command"], a["outcome"]) for a in listener.audit() if a["command"]]
    assert outcomes[0] == ("emeter watch Kettle --duration 6", "stopped (time budget)")
    assert ("on Lamp", "not run (time budget)") in outcomes


# -- senders side by side ------------------------------------------------------------------------


def test_the_owners_order_is_not_delayed_by_a_readers_long_mail(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    """The reproduction: a reader's mail of three 8 s watches held the owner's `!off
    Kettle` for 23.8 s. Now the owner's plug is off long before the reader's mail ends."""
    configure(home, sink)
    slow = make_mail(
        "!emeter watch Kettle --duration 4\n" * 3, sender=READER, msgid="<reader@home.test>"
    )
    order = make_mail("!off Kettle", sender=BOSS, msgid="<owner@home.test>")
    times: dict[str, float] = {}

    async def scenario(listener: Listener) -> None:
        _know_plugs(listener)
        reader_done = listener.drop(slow)
        await asyncio.sleep(0.5)  # the reader's mail is running
        started = time.monotonic()
        await listener.deliver(order)
        times["owner"] = time.monotonic() - started
        times["plug_off"] = float(sim.plug(KETTLE).relay_state == 0)
        times["reader_moved_then"] = float(reader_done.exists())
        await listener.until_moved(reader_done, 30)

    run(home, scenario)
    assert times["plug_off"] == 1.0
    assert times["owner"] < 3.0  # not the reader's 12 s
    assert times["reader_moved_then"] == 0.0  # the reader's mail was still running
    assert "Kettle: off" in _reply_to(sink, "<owner@home.test>")
    assert "> !emeter watch Kettle" in _reply_to(sink, "<reader@home.test>")


def test_one_senders_two_mails_stay_in_order(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    """The second mail reads only (no plug in common to order it by): the sender alone
    keeps it behind the first."""
    configure(home, sink)
    first = make_mail("!emeter watch Kettle --duration 1.5", msgid="<first@home.test>")
    second = make_mail("!info Lamp", msgid="<second@home.test>")

    async def scenario(listener: Listener) -> None:
        _know_plugs(listener)
        done = listener.drop(first)
        await asyncio.sleep(0.3)
        await listener.deliver(second)
        await listener.until_moved(done)

    run(home, scenario)
    assert [r["In-Reply-To"] for r in replies(sink)] == ["<first@home.test>", "<second@home.test>"]


def test_two_senders_mails_to_one_plug_stay_in_order(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    """The owner's mail switches the Kettle on after a watch; the admin's later mail
    switches it off. Side by side the off would run first and the on win."""
    configure(home, sink)
    first = make_mail(
        "!emeter watch Lamp --duration 1.5\n!on Kettle", sender=BOSS, msgid="<on@home.test>"
    )
    second = make_mail("!off Kettle", sender=ROOT, msgid="<off@home.test>")

    async def scenario(listener: Listener) -> None:
        _know_plugs(listener)
        done = listener.drop(first)
        await asyncio.sleep(0.3)
        later = listener.drop(second)
        await listener.until_moved(later)
        await listener.until_moved(done)

    run(home, scenario)
    assert sim.plug(KETTLE).relay_state == 0  # on, then off: in the order they came
    order = [r["In-Reply-To"] for r in replies(sink)]
    assert order[:2] == ["<on@home.test>", "<off@home.test>"]


# -- stopping ----------------------------------------------------------------------------------------


def test_stop_with_finish_lets_the_mail_in_hand_complete_and_move(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    raw = make_mail("!emeter watch Lamp --duration 1.5\n!off Kettle", msgid="<last@home.test>")
    moved: list[bool] = []

    async def scenario(listener: Listener) -> None:
        _know_plugs(listener)
        done = listener.drop(raw)
        for _ in range(200):  # until it runs
            if any("mail from boss@home.test" in ln for ln in listener.lines):
                break
            await asyncio.sleep(0.02)
        stopping = asyncio.ensure_future(listener.service.stop(finish=True))
        await asyncio.sleep(0.3)  # stopping: a mail that comes now is left for the next start
        late = listener.drop(make_mail("!on Lamp", msgid="<late@home.test>"))
        await stopping
        moved.append(done.exists())
        moved.append(late.exists())

    run(home, scenario)
    assert moved == [True, False]  # the mail in hand finished and moved; no new one taken
    assert sim.plug(KETTLE).relay_state == 0
    assert "Kettle: off" in _reply_to(sink, "<last@home.test>")
    assert [r["In-Reply-To"] for r in replies(sink)] == ["<last@home.test>"]


# -- a hostile sender --------------------------------------------------------------------------------


def test_ten_endless_watches_from_a_reader_stay_within_the_bytes_and_the_budget(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    """What a sender with read permission can do at most: ten watches asking for every
    sample as fast as the plug answers. The reply and the time stay bounded."""
    configure(home, sink, extra="max_reply_bytes = 4096\nmail_time_budget = 2\n")
    line = "!emeter watch Kettle --interval 0 --count 100000\n"
    raw = make_mail(line * 10, sender=READER, msgid="<flood@home.test>")
    took: list[float] = []

    async def scenario(listener: Listener) -> None:
        _know_plugs(listener)
        started = time.monotonic()
        await listener.deliver(raw)
        took.append(time.monotonic() - started)

    run(home, scenario)
    text = _reply_to(sink, "<flood@home.test>")
    assert len(text.encode()) <= 4096
    assert took[0] < 4.5
    assert text.count("not run (time budget): !emeter watch Kettle") == 9


def test_one_endless_line_is_dropped_whole_and_counted() -> None:
    """A command's output with no line break (or one huge line) cannot get past its share
    by never ending its line; what is kept stays whole lines."""
    collector = BoundedCollector(400)
    collector.note("first line")
    collector.sink.write("x" * 100_000)  # one line that never ends
    collector.sink.write("y" * 100_000 + "\nz\n")
    text = collector.text()
    assert text == "first line\n... truncated (2 more lines)\n"
    assert collector.kept_bytes <= 400


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("mail_min_interval", "0"),  # a mail must never spin
        ("mail_max_samples", "0"),
        ("mail_time_budget", "0"),
        ("max_reply_bytes", "100"),
        ("mail_concurrency", "0"),
        ("mail_concurrency", "2.5"),
    ],
)
def test_a_bound_out_of_range_is_refused_naming_its_key(
    home: Path, sink: ReplySink, key: str, value: str
) -> None:
    from kshell.app.remote.settings import load_settings
    from kshell.errors import UsageError
    from kshell.store.config import load_config

    configure(home, sink, extra=f"{key} = {value}\n")
    config = load_config(home / "kshell.ini")
    with pytest.raises(UsageError, match=key):
        load_settings(config, home)
