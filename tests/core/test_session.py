"""The Session: one per process, typed; a mail's lines see the same one with their own
Invocation; ``--demo`` gives its settings to the session and leaves the config alone.

Plugs here live on 127.50.7.x (the demo's on 127.0.x.2 and up).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from helpers.dovecot import ReplySink
from helpers.mail import make_mail
from helpers.maildir import Listener, configure
from helpers.shell import write_config

from kshell.app.build import build_session
from kshell.core.invocation import Invocation, MailRules
from kshell.simulator import PlugSpec, SimulatorThread
from kshell.store.devices import DeviceRecord
from kshell.ui.output import Collector
from kshell.ui.runner import run_line

PLUG = "127.50.7.2"


def _args(home: Path) -> SimpleNamespace:
    return SimpleNamespace(
        home=str(home), config=None, commands=[], timeout=None, yes=False, debug=False
    )


def test_a_mails_lines_use_the_sessions_device_pool(home: Path, sink: ReplySink) -> None:
    """A mail's commands reach plugs through the session's pool (closed when the shell
    ends), not through a pool of their own that nobody closes."""
    configure(home, sink)
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Lamp", model="HS100(US) 2.0")

    async def main(listener: Listener) -> None:
        listener.session.store.observe(DeviceRecord(PLUG, alias="Lamp"))
        await listener.service.start()
        try:
            await listener.deliver(make_mail("!off Lamp"))
        finally:
            await listener.service.stop()

    with SimulatorThread([spec]) as sim:
        listener = Listener(home)
        asyncio.run(main(listener))
        assert sim.plug(PLUG).relay_state == 0
    assert listener.session.devices.link(PLUG, 9999) is not None  # the session's own pool
    assert listener.session.invocation.source == "local"  # the mail's facts stayed its own


def test_a_mail_does_not_inherit_the_prompts_plug_or_its_yes(home: Path) -> None:
    write_config(home)
    args = _args(home)
    args.yes = True  # the operator's --yes
    session = build_session(args)
    session.current = "Lamp"
    mail = session.for_invocation(Invocation.for_mail("control", MailRules()))
    assert mail.current is None and not mail.assume_yes and mail.ask is None
    assert mail.devices is session.devices and mail.store is session.store
    assert session.current == "Lamp" and session.assume_yes


def test_the_demo_leaves_the_config_alone(tmp_path: Path) -> None:
    """--demo points discovery at its loopback plugs through the session, so a `config`
    read or a saved file never carries the demo's broadcast and ports."""
    from kshell.app.demo import LOOPBACK_BROADCAST, start_demo

    home = tmp_path / "home"
    write_config(home)
    session = build_session(_args(home))
    before = {s: dict(session.config[s]) for s in session.config.sections()}

    async def main() -> SimulatorThread:
        sim = await start_demo(session, Collector(), quiet=True)
        try:
            assert await run_line(session, "devices", Collector())
        finally:
            session.close_connections()
        return sim

    sim = asyncio.run(main())
    try:
        assert {s: dict(session.config[s]) for s in session.config.sections()} == before
        assert session.discovery.broadcast == (LOOPBACK_BROADCAST,)
        assert session.discovery.port == sim.udp_port != 9999
        assert session.discovery.timeout == 0.5
        assert len(session.store.all()) == len(sim.plugs)  # discovered through the settings
    finally:
        sim.stop()
