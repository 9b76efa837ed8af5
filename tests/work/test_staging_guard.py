"""Issue 18, item 4: strangers on the firmware staging server cannot starve the plug.

Before, 257 idle connections from anyone filled the server and the plug's own download was
answered 503. Now a peer that is not a plug being updated is closed at accept. A simulated
plug downloads for real (its ``download_firmware``, over XOR) on 127.42.9.x, this file's
range; the strangers connect from other loopback addresses.
"""

from __future__ import annotations

import asyncio
import time

from helpers.waiting import eventually

from kshell.device.pool import XOR, make_device
from kshell.simulator import FirmwareConfig, PlugSpec, SimulatorThread, make_image
from kshell.work.firmware.staging import StagingServer

BIND, PLUG = "127.42.9.1", "127.42.9.2"
IMAGE = make_image("HS110(EU)", "2.0", "1.5.10", size=200_000)


async def _strangers(
    port: int, count: int
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    return [
        await asyncio.open_connection(
            BIND, port, local_addr=(f"127.42.{10 + n // 200}.{1 + n % 200}", 0)
        )
        for n in range(count)
    ]


async def _closed(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), 2.0) == b""
    except ConnectionError:
        return True  # reset at accept
    except TimeoutError:
        return False


def test_idle_strangers_are_closed_at_accept_and_the_plug_still_downloads() -> None:
    spec = PlugSpec(host=PLUG, model="HS110(EU) 2.0", alias="Kitchen", udp_port=None)

    async def scenario() -> tuple[list[bool], bool, float, StagingServer]:
        async with StagingServer(IMAGE, "hs110v2.bin", [BIND]) as srv:
            url = srv.issue("Kitchen", BIND, client=PLUG)
            strangers = await _strangers(srv.port, 300)  # more than the server's 256 slots
            # the plug fetches the image while every stranger still holds its socket
            device = make_device(PLUG, 9999, XOR, 3.0, lambda: None)
            started = time.monotonic()
            try:
                await device.firmware.download(url)
                await eventually(lambda: srv.complete("Kitchen"), timeout=20)
            finally:
                device.close()
            took = time.monotonic() - started
            closed = [await _closed(reader) for reader, _ in strangers[:50]]
            for _, writer in strangers:
                writer.close()
            return closed, srv.complete("Kitchen"), took, srv

    fast = FirmwareConfig(download_rate=None)
    with SimulatorThread([spec], firmware=fast):
        closed, complete, took, srv = asyncio.run(scenario())
    assert complete and srv.bytes_sent("Kitchen") == len(IMAGE)
    assert all(closed), f"{closed.count(False)} of 50 strangers still held a connection"
    assert srv.strangers >= 300
    logged = [t for t in srv.transfers if t.plug is None]
    assert logged and all(t.status == 403 and t.bytes_sent == 0 for t in logged)
    assert len(logged) <= 32  # one line per stranger address, then only counted
    assert took < 10
