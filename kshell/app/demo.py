"""``--demo``: simulated plugs on loopback, discovered by a loopback-only broadcast.

The plugs run in their own thread and event loop (as separate devices would); discovery
is pointed at 127.255.255.255 only, so a demo never sends a packet off this machine.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kshell.core.session import Session
from kshell.errors import KshellError
from kshell.ui.output import Output
from kshell.ui.runner import run_line

LOOPBACK_BROADCAST = "127.255.255.255"
# Where to put the demo's plugs; later bases are used when an earlier one is taken
# (another demo already running on this machine).
BASES = ("127.0.0.2", "127.0.2.2", "127.0.3.2", "127.0.4.2")


async def start_demo(session: Session, output: Output, *, quiet: bool = False) -> Any:
    """Start the simulated plugs, discover them, return the running simulator."""
    from kshell.device.pool import HASHED, PASSWORD
    from kshell.device.transports.base import Credentials
    from kshell.simulator import SimulatorThread, house_specs
    from kshell.simulator.accounts import DEMO_ACCOUNT

    last_error: Exception | None = None
    for base in BASES:  # a mixed house: five old plugs, five of the current generation
        specs = house_specs(10, base, udp_port=0, http_port=0, tdp_port=0)
        sim = SimulatorThread(specs, account=DEMO_ACCOUNT)
        try:
            sim.start()
        except OSError as exc:  # address in use: try the next range
            last_error = exc
            continue
        break
    else:
        raise KshellError(f"demo: cannot start simulated plugs ({last_error})")
    # discovery on loopback only, at the simulator's UDP port; the home is a temporary one.
    # The settings are the session's, given here: the config (and its file) stay as they are.
    announced = [p.tdp_port for p in sim.plugs if p.is_http and p.tdp_port]
    if sim.udp_port is None:  # house_specs asked for a shared port: this is a bug, not input
        raise KshellError("demo: the simulated plugs answer no discovery")
    session.discovery = replace(
        session.discovery,
        broadcast=(LOOPBACK_BROADCAST,),
        port=sim.udp_port,
        # the current generation announces itself on this port (not 20002)
        tdp_port=announced[0] if announced else session.discovery.tdp_port,
        timeout=0.5,
    )
    session.login = Credentials(DEMO_ACCOUNT.username, DEMO_ACCOUNT.password)  # the demo's account
    for plug in sim.plugs:  # the demo's own AES plugs: trusted as if the owner had added them
        if plug.transport == "aes":
            trust = PASSWORD if plug.login_version == 1 else HASHED
            session.devices.grant(plug.host, plug.http_port, trust)
    if not quiet:
        output.note(
            f"demo: {len(sim.plugs)} simulated plugs on {sim.plugs[0].host} and up "
            f"(home {session.paths.data})"
        )
    await run_line(session, "discover", output if not quiet else _Silent())
    return sim


class _Silent(Output):
    """Swallows the demo's own discovery output in one-shot and JSON modes."""

    def __init__(self) -> None:
        import io

        super().__init__(io.StringIO(), io.StringIO(), color=False)
