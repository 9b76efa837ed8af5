"""Red team, the staging server (issue 9, found by reading): "the whole image went out" is
credited to a plug only for a transfer to that plug's own address.

Before, any client that knew (or sniffed) a plug's URL could fetch the image and the flow
counted it as the plug's download: a plug that reported 100% while a stranger had taken
the bytes was flashed. Now only the plug's address is served (anyone else is closed at
accept and logged, issue 18), over real sockets on loopback.
"""

from __future__ import annotations

import asyncio

from helpers.waiting import eventually

from kshell.work.firmware.staging import StagingServer

BIND = "127.40.9.1"
PLUG = "127.40.9.5"
STRANGER = "127.40.9.9"
IMAGE = bytes(range(256)) * 600


async def _fetch(port: int, path: str, source: str) -> int:
    """The status answered, 0 when the server closed the connection without one."""
    reader, writer = await asyncio.open_connection(BIND, port, local_addr=(source, 0))
    try:
        writer.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        await writer.drain()
        response = await reader.read()
    except ConnectionError:
        return 0
    finally:
        writer.close()
    return int(response.split(b" ", 2)[1]) if response else 0


def test_only_the_plugs_own_address_gets_its_image_and_credits_it() -> None:
    async def scenario() -> tuple[int, bool, int, StagingServer]:
        async with StagingServer(IMAGE, "img.bin", [BIND]) as srv:
            path = srv.issue("Kitchen", BIND, client=PLUG).split(str(srv.port), 1)[1]
            stranger = await _fetch(srv.port, path, STRANGER)
            await eventually(lambda: any(t.client.startswith(STRANGER) for t in srv.transfers))
            credited = srv.complete("Kitchen") or srv.bytes_sent("Kitchen") > 0
            plug = await _fetch(srv.port, path, PLUG)
            await eventually(lambda: srv.complete("Kitchen"))
            return stranger, credited, plug, srv

    stranger, credited, plug, srv = asyncio.run(scenario())
    assert stranger == 0 and not credited  # closed at accept (issue 18): not even a 404
    assert plug == 200 and srv.complete("Kitchen") and srv.bytes_sent("Kitchen") == len(IMAGE)
    [refused] = [t for t in srv.transfers if t.client.startswith(STRANGER)]
    assert refused.plug is None and refused.status == 403 and refused.bytes_sent == 0
