"""Red team, the gate by mail (issue 9 classes 4, 7 and 14): every way a line can arrive
from a mail, from a read-only and from a control sender, against a real listener on the
Maildir source, a simulated plug and a real SMTP sink.

Each line must be refused (or be harmless) and the plug keep its state and its name: a
``;`` chain, a unique alias prefix (never by mail), an unknown address or another port, a
sweep, the operator's history, a file, ``remote``/``raw``/``exit``, a rename to a name
that starts with the marker or holds a line break, a user's command that does not declare
``by_mail`` and one that runs other lines itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.dovecot import ReplySink
from helpers.mail import make_mail
from helpers.maildir import PLUG, Listener, configure, run

from kshell.simulator import PlugSpec, SimulatorThread

USER_COMMANDS = '''
from kshell.lang.registry import ByMail, command
from kshell.ui.runner import run_line


@command("tidy", permission="read")
async def tidy(ctx, args):
    """A user's command that says nothing about mail."""
    await run_line(ctx, "off PLUG", _Quiet())


@command("sneak", permission="read", by_mail=ByMail.YES)
async def sneak(ctx, args):
    """A user's command, allowed by mail, that runs a line the sender may not."""
    await run_line(ctx, "off PLUG", _Quiet())  # gated as a mail line: refused


class _Quiet:
    def emit(self, item):
        pass

    def error(self, exc):
        pass
'''.replace("PLUG", PLUG)

READER = [
    f"info Kettle; off {PLUG}",  # a chain: the second line is gated on its own
    "off Kettle",
    "info Kett",  # a unique prefix: never by mail
    "info 127.50.1.9",  # an address not known yet
    f"info {PLUG}:22",  # another port of a known plug
    "ping 127.50.1.2:22",
    "discover 127.50.1.0/30",
    "discover --target 127.50.1.9",
    "discover --tcp-port 22",
    "add 127.50.1.9",
    "ifaces",  # the machine's own addresses and networks: recon, as a sweep is
    "history",
    "replay 1 --dry-run",
    "replay /etc/passwd --dry-run",
    "remote status",
    "raw Kettle {}",
    "emeter watch Kettle --count 1 --out /tmp/redteam-out.csv",
    "exit",
    "tidy",
    "sneak",
]
BOSS = [
    "off",  # no target: the operator's current plug is not the mail's
    "use Kettle --yes",
    "alias Kettle !reboot",
    "alias Kettle '!reboot all --yes'",
    "alias Kettle ' !x'",
    "alias Kettle 'a\u2028!reboot'",
    "alias Kettle 'a\u0085b'",
    "off kett",  # prefix
    "reboot Kettle",  # asks: nobody to answer by mail
    "firmware check Kettle",
    "remote off",
    "record /tmp/redteam-record.kshell",
    "history",
]


@pytest.mark.parametrize(("sender", "lines"), [("reader", READER), ("boss", BOSS)])
def test_what_a_sender_may_not_do_by_mail_stays_undone(
    home: Path, sink: ReplySink, sender: str, lines: list[str]
) -> None:
    folder = home / "mycommands"
    folder.mkdir()
    (folder / "mine.py").write_text(USER_COMMANDS)
    configure(home, sink, "max_commands = 40\n")
    ini = home / "kshell.ini"
    ini.write_text(
        ini.read_text().replace("[shell]\n", f"[shell]\ncommand_folders = {folder}\n", 1)
    )
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0")

    async def scenario(listener: Listener) -> None:
        listener.session.current = "Kettle"  # the operator's `use Kettle`: never a mail's target
        for line in lines:  # one mail each, so one refusal never hides another
            await listener.deliver(
                make_mail(
                    f"!{line}", sender=f"{sender}@home.test", proof="dkim=pass header.d=home.test"
                )
            )

    with SimulatorThread([spec]) as sim:
        from helpers.shell import run_shell

        assert run_shell(home, "-c", f"add {PLUG}").returncode == 0
        listener = run(home, scenario)
        plug = sim.plug(PLUG)
        assert plug.relay_state == 1 and plug.alias == "Kettle", listener.audit()
    ok = [a["command"] for a in listener.audit() if a["command"] and a["outcome"] == "ok"]
    allowed = {"info Kettle", "sneak"}  # sneak itself runs; the line it runs does not
    assert set(ok) <= allowed, ok
    assert not Path("/tmp/redteam-out.csv").exists()
    assert not Path("/tmp/redteam-record.kshell").exists()


def test_a_fake_plug_with_a_known_mac_does_not_take_the_name_by_mail(
    home: Path, sink: ReplySink
) -> None:
    """Class 4 by a control sender (who may reach a new address): ``!info FAKE`` where the
    fake reports the MAC and the name of a known plug that still answers."""
    from helpers.shell import run_shell

    configure(home, sink)
    fake = "127.50.1.3"
    specs = [
        PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0"),
        PlugSpec(host=fake, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0"),
    ]
    with SimulatorThread(specs) as sim:
        assert run_shell(home, "-c", f"add {PLUG}").returncode == 0
        sim.plug(fake).mac = sim.plug(PLUG).mac
        run(home, lambda listener: listener.deliver(make_mail(f"!info {fake}; add {fake}")))
        result = run_shell(home, "-c", "off Kettle")
        assert sim.plug(PLUG).relay_state == 0, result.stdout + result.stderr
        assert sim.plug(fake).relay_state == 1
