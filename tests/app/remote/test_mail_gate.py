"""The one gate, by mail (issue 9 items 7 and 14, the gate of issue 13): every line a mail
brings, however it arrives (a `;` chain, a replayed history entry, a user's command), is
checked against the command's own declaration; mail never reads or writes a file and
probes nothing the device list does not know unless the sender may control.

Over the Maildir source, a simulated plug and a real SMTP server for the replies; plugs here
live on 127.50.7.x.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.dovecot import ReplySink
from helpers.mail import body, make_mail, replies
from helpers.maildir import Listener, configure, run
from helpers.shell import run_shell
from kshell.history.store import HistoryStore

from kshell.simulator import PlugSpec, SimulatorThread
from kshell.store.devices import DeviceRecord

KNOWN, STRANGER = "127.50.7.2", "127.50.7.3"


@pytest.fixture
def plugs() -> SimulatorThread:
    specs = [
        PlugSpec(host=KNOWN, udp_port=None, alias="Kettle", model="HS110(EU) 2.0", relay_state=1),
        PlugSpec(host=STRANGER, udp_port=None, alias="Hidden", model="HS105(US) 1.0"),
    ]
    with SimulatorThread(specs) as running:
        yield running


def _known(listener: Listener) -> None:
    listener.session.store.observe(DeviceRecord(host=KNOWN, alias="Kettle", model="HS110(EU)"))


def _order(home: Path, *mails: bytes, before=None) -> Listener:  # type: ignore[no-untyped-def]
    async def scenario(listener: Listener) -> None:
        _known(listener)
        if before is not None:
            before(listener)
        for raw in mails:
            await listener.deliver(raw)

    return run(home, scenario)


ROOT_SENDER = "root@home.test"  # admin in configure()'s [senders]
READER = "reader@home.test"


# -- files -------------------------------------------------------------------------------------


def test_replay_by_mail_never_returns_a_file(
    home: Path, plugs: SimulatorThread, sink: ReplySink, tmp_path: Path
) -> None:
    configure(home, sink)
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("on Kettle\nTOPSECRET-LINE\n")
    listener = _order(
        home,
        make_mail(
            f"!replay {secret_file} --dry-run\n!replay {home / 'kshell.ini'} --dry-run\n"
            f"!record {tmp_path / 'rec.kshell'}",
            sender=ROOT_SENDER,
        ),
    )
    [reply] = (body(m) for m in replies(sink))
    assert "TOPSECRET" not in reply and "JBSWY3DP" not in reply  # the TOTP secret stays home
    assert reply.count("replay: mail never reads or writes files (WHAT)") == 2
    assert "record cannot be run by mail" in reply
    assert not (tmp_path / "rec.kshell").exists()
    assert [a["outcome"] for a in listener.audit()] == ["failed"] * 3


def test_replayed_history_passes_the_gate_as_mail(
    home: Path, plugs: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)

    def typed_at_the_prompt(listener: Listener) -> None:
        store = HistoryStore(listener.session.paths.history)
        for line in ("firmware list", "remote off", f"off {KNOWN}"):
            store.append(line)

    _order(
        home,
        make_mail("!replay 1-3 --keep-going", sender=ROOT_SENDER),
        before=typed_at_the_prompt,
    )
    reply = body(replies(sink)[0])
    assert "firmware commands by mail are off ([remote] allow_firmware = no)" in reply
    assert "remote off cannot be run by mail" in reply
    assert plugs.plug(KNOWN).relay_state == 0  # what mail may do still ran
    assert "Kettle: off" in reply


def test_chained_lines_are_each_gated(home: Path, plugs: SimulatorThread, sink: ReplySink) -> None:
    configure(home, sink)

    async def scenario(listener: Listener) -> None:
        _known(listener)
        await listener.deliver(make_mail(f"!info {KNOWN}; remote off", sender=ROOT_SENDER))
        assert listener.service.running  # "remote off" behind a `;` did not stop it

    run(home, scenario)
    reply = body(replies(sink)[0])
    assert "HS110(EU)" in reply and "remote off cannot be run by mail" in reply


# -- declarations --------------------------------------------------------------------------------

UNDECLARED = '''
from kshell.lang.registry import command
from kshell.results import Text


@command("sneak", permission="read")
async def sneak(ctx, args):
    """Writes a file: nobody said it may run by mail."""
    from pathlib import Path

    Path(ctx.paths.data / "sneaked").write_text("ran")
    return Text("sneaked")
'''

SLOW = '''
import asyncio

from kshell.lang.registry import ByMail, command
from kshell.results import Text


@command("slow", permission="read", by_mail=ByMail.YES, mail_time_limit=0.5)
async def slow(ctx, args):
    """Takes its time; by mail it has half a second."""
    await asyncio.sleep(30)
    return Text("finished")
'''


def test_a_user_command_without_a_mail_policy_is_refused_by_mail(
    home: Path, plugs: SimulatorThread, sink: ReplySink, tmp_path: Path
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "sneak.py").write_text(UNDECLARED)
    (folder / "slow.py").write_text(SLOW)
    configure(home, sink)
    config = home / "kshell.ini"
    config.write_text(
        config.read_text().replace("[shell]\n", f"[shell]\ncommand_folders = {folder}\n", 1)
    )
    _order(home, make_mail("!sneak\n!slow", sender=ROOT_SENDER))
    reply = body(replies(sink)[0])
    assert "sneak does not declare by_mail, so it cannot be run by mail" in reply
    assert not (home / "sneaked").exists()
    assert "slow: stopped after 0.5 s (mail commands must end)" in reply
    assert "finished" not in reply


def test_raw_by_mail_only_when_the_operator_allows_it(
    home: Path, plugs: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, "allow_raw = yes\n")
    order = f'!raw {KNOWN} \'{{"system":{{"get_sysinfo":{{}}}}}}\''
    _order(home, make_mail(order, sender=ROOT_SENDER), make_mail(order))
    admin, control = (body(m) for m in replies(sink))
    assert "get_sysinfo" in admin and "0 failed" in admin
    assert "raw needs admin permission by mail; this source has control" in control


# -- reconnaissance ------------------------------------------------------------------------------


def test_a_read_sender_probes_nothing_new(
    home: Path, plugs: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    probes = [
        f"info {STRANGER}",
        f"add {STRANGER}",
        f"ping {KNOWN}:9998 --count 1",
        "discover 127.50.7.0/30",
        "discover --tcp-port 9998",
        f"discover --target {STRANGER}",
        "history",
    ]
    listener = _order(home, make_mail("\n".join("!" + p for p in probes), sender=READER))
    reply = body(replies(sink)[0])
    assert reply.count("needs control permission; this sender has read") == 5
    assert "sweeps by mail are off ([remote] sweep_networks is empty)" in reply
    assert "history needs admin permission by mail; this source has read" in reply
    assert "Hidden" not in reply and "HS105" not in reply
    assert listener.session.store.by_address(STRANGER, 9999) is None
    assert all(a["outcome"] == "failed" for a in listener.audit())


def test_a_read_sender_still_reads_known_plugs(
    home: Path, plugs: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    _order(home, make_mail(f"!info {KNOWN}\n!ping Kettle --count 1\n!discover", sender=READER))
    reply = body(replies(sink)[0])
    assert "HS110(EU)" in reply and "needs control" not in reply and "3 failed" not in reply


def test_sweeps_by_mail_stay_inside_sweep_networks(
    home: Path, plugs: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, "sweep_networks = 127.50.7.0/28\n")
    listener = _order(
        home,
        make_mail("!discover 127.50.6.0/29\n!discover 127.50.7.0/29", sender="boss@home.test"),
    )
    reply = body(replies(sink)[0])
    assert "127.50.6.0/29 is outside [remote] sweep_networks (127.50.7.0/28)" in reply
    assert "Hidden" in reply  # the allowed sweep ran and found the plug
    assert listener.session.store.by_address(STRANGER, 9999) is not None


# -- the declaration -------------------------------------------------------------------------------


def test_every_built_in_command_declares_its_mail_policy(home: Path) -> None:
    from kshell.lang.registry import ByMail, build_registry

    commands = build_registry().commands.values()
    assert all(isinstance(c.by_mail, ByMail) for c in commands), [
        c.name for c in commands if c.by_mail is None
    ]
    never = {c.name for c in commands if c.by_mail is ByMail.NO}
    assert {"remote on", "remote off", "remote status", "record", "record stop"} <= never
    shown = run_shell(home, "-c", "help history; help raw").stdout
    assert "by mail: yes, needs admin, for at most 60 s" in shown
    assert "by mail: yes when [remote] allow_raw = yes" in shown
