"""Reading announced plugs through the device layer, and the transport pinned to a plug's MAC,
against the simulator over real sockets. Plugs on 127.41.3.x (this file's range)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from kshell.device import announce, tdp
from kshell.device.pool import DevicePool
from kshell.device.transports.base import Credentials
from kshell.simulator import BROADCAST, PlugSpec, SimulatorThread
from kshell.simulator.accounts import DEMO_ACCOUNT

P110, HS220, UNBOXED, MOVER = (f"127.41.3.{n}" for n in range(2, 6))
OWNER = Credentials(DEMO_ACCOUNT.username, DEMO_ACCOUNT.password)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(host=P110, model="P110(AU) 1.0", alias="Kettle", udp_port=None),
        PlugSpec(host=HS220, model="HS220(US) 3.26", alias="Dimmer", udp_port=None),
        PlugSpec(host=UNBOXED, model="P110(EU) 1.0", factory_default=True, udp_port=None),
        PlugSpec(host=MOVER, model="HS110(EU) 2.0", alias="Mover", udp_port=None),
    ]
    with SimulatorThread(specs, account=DEMO_ACCOUNT) as running:
        yield running


def hear(creds: Credentials | None, *trusted: str) -> dict[str, announce.Heard]:
    """What the announced plugs answer; an AES plug is logged in to only when ``trusted``."""

    async def go() -> dict[str, announce.Heard]:
        pool = DevicePool(2.0, lambda: creds)
        for host in trusted:
            pool.grant(host, 80)
        found = await tdp.listen([BROADCAST], timeout=0.5)
        heard = await asyncio.gather(*(announce.read(pool, a, 2.0) for a in found))
        pool.close_all()
        return {h.announcement.host: h for h in heard}

    return asyncio.run(go())


def test_announced_plugs_are_read_with_the_owners_credentials(sim: SimulatorThread) -> None:
    heard = hear(OWNER, HS220)
    assert heard[P110].info is not None and heard[P110].info.alias == "Kettle"
    assert heard[P110].proven and not heard[P110].unclaimed
    assert heard[HS220].info is not None and not heard[HS220].proven  # AES proves nothing
    assert hear(OWNER)[HS220].problem == announce.NOT_LOGGED_IN  # untrusted: nothing sent
    assert heard[UNBOXED].info is not None and heard[UNBOXED].unclaimed


def test_without_or_with_wrong_credentials_the_plugs_are_named(sim: SimulatorThread) -> None:
    heard = hear(None, HS220)
    assert heard[P110].problem == heard[HS220].problem == "needs credentials"
    assert heard[UNBOXED].info is not None  # factory default: the setup credentials
    heard = hear(Credentials(DEMO_ACCOUNT.username, "wrong"), HS220)
    assert heard[P110].problem == heard[HS220].problem == "credentials failed"


def test_a_move_to_klap_is_followed_once_proven_a_move_to_aes_is_held(
    sim: SimulatorThread,
) -> None:
    sim.switch_transport(MOVER, "klap")
    moved = hear(OWNER)[MOVER]
    assert moved.info is not None and moved.info.alias == "Mover"
    assert announce.pin("xor", moved) == announce.FOLLOW
    assert announce.pin("klap", moved) == announce.SAME
    assert announce.pin("xor", hear(Credentials(DEMO_ACCOUNT.username, "wrong"))[MOVER]) == (
        announce.HOLD
    )
    sim.switch_transport(MOVER, "aes")
    assert announce.pin("klap", hear(OWNER)[MOVER]) == announce.HOLD
