"""The transient HTTP server: one image at a secret path per plug, 404 for anything else."""

from __future__ import annotations

import asyncio

import pytest
from helpers.ports import port_is_free
from helpers.waiting import eventually

from kshell.work.firmware.staging import StagingError, StagingServer, choose_local_address

BIND = "127.40.9.1"
IMAGE = bytes(range(256)) * 1200  # 300 KiB: several chunks


async def http(port: int, raw: bytes, host: str = BIND) -> tuple[int, bytes]:
    """Send a raw request, return (status, body)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(raw)
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head else 0
    return status, body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def run(coro):
    return asyncio.run(coro)


def test_serves_the_image_at_each_plugs_path_and_counts_the_bytes():
    async def scenario():
        seen = []
        async with StagingServer(IMAGE, "hs110 v2.bin", [BIND], on_request=seen.append) as srv:
            url_a = srv.issue("Kitchen", BIND)
            url_b = srv.issue("Fridge", BIND)
            path_a = url_a.split(str(srv.port), 1)[1]
            path_b = url_b.split(str(srv.port), 1)[1]
            status, body = await http(srv.port, get(path_a))
            head = f"HEAD {path_b} HTTP/1.0\r\n\r\n".encode()
            status_head, head_body = await http(srv.port, head)
            await eventually(lambda: len(seen) == 2 and srv.complete("Kitchen"))
            return url_a, url_b, status, body, status_head, head_body, srv, seen

    url_a, url_b, status, body, status_head, head_body, srv, seen = run(scenario())
    assert url_a.startswith(f"http://{BIND}:{srv.port}/") and url_a.endswith("/hs110%20v2.bin")
    assert url_a != url_b and len(url_a.split("/")[3]) >= 32  # a long random token per plug
    assert status == 200 and body == IMAGE
    assert status_head == 200 and head_body == b""
    assert srv.complete("Kitchen") and srv.bytes_sent("Kitchen") == len(IMAGE)
    assert not srv.complete("Fridge") and srv.bytes_sent("Fridge") == 0
    assert [t.plug for t in seen] == ["Kitchen", "Fridge"]
    assert port_is_free(BIND, srv.port)


@pytest.mark.parametrize(
    "raw",
    [
        get("/"),
        get("/hs110.bin"),
        get("/../../../../etc/passwd"),
        get("/%2e%2e/%2e%2e/etc/passwd"),
        get("/manifest.json"),
        b"GET http://evil/../etc/passwd HTTP/1.1\r\n\r\n",
    ],
)
def test_anything_but_a_plugs_path_is_404(raw):
    async def scenario():
        async with StagingServer(IMAGE, "img.bin", [BIND]) as srv:
            srv.issue("Kitchen", BIND)
            return await http(srv.port, raw), srv.transfers

    (status, body), transfers = run(scenario())
    assert status == 404 and IMAGE[:64] not in body
    assert transfers[0].status == 404 and transfers[0].bytes_sent == 0


def test_traversal_and_tricks_around_the_real_path_are_404():
    async def scenario():
        async with StagingServer(IMAGE, "img.bin", [BIND]) as srv:
            path = srv.issue("Kitchen", BIND).split(str(srv.port), 1)[1]
            token = path.split("/")[1]
            tries = [
                get(path + "?x=1"),
                get(path + "/"),
                get(f"/{token}/"),
                get(f"/{token}/../img.bin"),
                get(f"/x/../{token}/img.bin"),
                f"POST {path} HTTP/1.1\r\nContent-Length: 0\r\n\r\n".encode(),
                f"DELETE {path} HTTP/1.1\r\n\r\n".encode(),
            ]
            return [await http(srv.port, raw) for raw in tries]

    for status, body in run(scenario()):
        assert status == 404 and not body.startswith(IMAGE[:16])


def test_malformed_and_oversized_requests_get_400_and_the_server_goes_on():
    async def scenario():
        async with StagingServer(IMAGE, "img.bin", [BIND]) as srv:
            path = srv.issue("Kitchen", BIND).split(str(srv.port), 1)[1]
            huge = await http(srv.port, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n")
            garbage = await http(srv.port, b"\x00\x01\x02 nonsense\r\n\r\n")
            good = await http(srv.port, get(path))
            return huge, garbage, good

    huge, garbage, good = run(scenario())
    assert huge[0] == 400 and garbage[0] == 404 and good == (200, IMAGE)


def test_close_aborts_a_transfer_in_flight_and_frees_the_port():
    async def scenario():
        srv = StagingServer(IMAGE * 40, "big.bin", [BIND])  # 12 MiB: more than socket buffers
        await srv.start()
        path = srv.issue("Slow", BIND).split(str(srv.port), 1)[1]
        reader, writer = await asyncio.open_connection(BIND, srv.port)
        writer.write(get(path))
        await reader.read(1000)  # the transfer has begun; we stop reading...
        # ...until the server is stuck mid-image with bytes it cannot send
        await eventually(lambda: any(w.transport.get_write_buffer_size() for w in srv._writers))
        srv.close()  # synchronous: what a finally block calls
        free_at_once = port_is_free(BIND, srv.port)
        rest = await reader.read()
        writer.close()
        await srv.aclose()
        return srv, free_at_once, rest

    srv, free_at_once, rest = run(scenario())
    assert free_at_once
    assert len(rest) < len(IMAGE * 40)
    assert not srv.complete("Slow") and 0 < srv.bytes_sent("Slow") < len(IMAGE * 40)


def test_one_port_for_several_bind_addresses():
    async def scenario():
        async with StagingServer(IMAGE, "img.bin", [BIND, "127.40.9.2"]) as srv:
            url = srv.issue("Other", "127.40.9.2")
            status, body = await http(srv.port, get(url.split(str(srv.port), 1)[1]), "127.40.9.2")
            return srv.port, url, status, body

    port, url, status, body = run(scenario())
    assert url.startswith(f"http://127.40.9.2:{port}/") and status == 200 and body == IMAGE
    assert port_is_free(BIND, port) and port_is_free("127.40.9.2", port)


def test_a_taken_port_is_a_clear_error():
    async def scenario():
        async with StagingServer(IMAGE, "img.bin", [BIND]) as first:
            with pytest.raises(StagingError, match=r"cannot listen on 127\.40\.9\.1 port"):
                await StagingServer(IMAGE, "img.bin", [BIND], first.port).start()

    run(scenario())


def test_the_local_address_for_a_loopback_plug_is_on_lo():
    address, why = choose_local_address("127.40.3.7")
    assert address.startswith("127.") and "lo" in why
