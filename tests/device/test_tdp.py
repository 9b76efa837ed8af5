"""The current generation's announcement on UDP 20002, against the simulator over real sockets:
one probe (payload-less, made once) finds every KLAP/AES plug and says how each speaks; a host
that answers garbage is not taken for a plug. Plugs on 127.41.2.x (this file's range)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from kshell.device import tdp
from kshell.simulator import BROADCAST, PlugSpec, SimulatorThread

P110, HS220, HS100, OLD, NOISE = (f"127.41.2.{n}" for n in range(2, 7))


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(host=P110, model="P110(AU) 1.0", udp_port=None),
        PlugSpec(host=HS220, model="HS220(US) 3.26", udp_port=None),
        PlugSpec(host=HS100, model="HS100(UK) 4.1", udp_port=None),
        PlugSpec(host=OLD, model="HS110(EU) 2.0", udp_port=None),
    ]
    with SimulatorThread(specs) as running:
        yield running


def test_the_probe_is_python_kasas_payload_less_one() -> None:
    assert tdp.PROBE.hex() == "020000010000000000000000463cb5d3"


def test_a_broadcast_finds_every_current_plug_and_how_it_speaks(sim: SimulatorThread) -> None:
    started = time.monotonic()
    found = asyncio.run(tdp.listen([BROADCAST], timeout=0.6))
    assert time.monotonic() - started < 0.6 + 0.1
    links = {a.host: (a.link.family, a.link.transport, a.link.login_version) for a in found}
    assert links == {
        P110: ("smart", "klap", 2),
        HS220: ("smart", "aes", 2),
        HS100: ("iot", "klap", 1),  # no lv in its announcement: login version 1
    }
    p110 = next(a for a in found if a.host == P110)
    assert p110.model == "P110(AU)" and p110.mac == sim.plug(P110).mac.replace("-", ":").upper()
    assert p110.http_port == 80 and not p110.factory_default


def test_a_unicast_probe_answers_for_one_host_and_silence_is_none(sim: SimulatorThread) -> None:
    found = asyncio.run(tdp.probe(HS220, timeout=1.0))
    assert found is not None and found.link.transport == "aes"
    started = time.monotonic()
    assert asyncio.run(tdp.probe(OLD, timeout=0.3)) is None  # an old plug says nothing
    assert time.monotonic() - started < 0.5


def test_garbage_on_20002_is_not_a_plug() -> None:
    async def go() -> tdp.Announcement | None:
        loop = asyncio.get_running_loop()

        class Noise(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                for junk in (b"\x02" * 16 + b"{not json", b"\x02" * 16 + b'{"result":[]}',
                             b"\x02" * 16 + b'{"result":{"device_type":"SMART.X",'
                             b'"mgt_encrypt_schm":{"encrypt_type":"ROT13"}}}'):  # fmt: skip
                    self.transport.sendto(junk, addr)  # type: ignore[attr-defined]

        transport, _ = await loop.create_datagram_endpoint(
            Noise, local_addr=(NOISE, tdp.PORT), family=socket.AF_INET
        )
        try:
            return await tdp.probe(NOISE, timeout=0.3)
        finally:
            transport.close()

    assert asyncio.run(go()) is None
