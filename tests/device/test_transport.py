"""Transport against hostile and flaky peers on real loopback sockets."""

import asyncio
import struct

import pytest
from helpers.waiting import eventually

from kshell.device import codec as protocol
from kshell.device.protocols.iot import IotProtocol
from kshell.device.transports.xor import XorTransport
from kshell.device.udp import udp_query
from kshell.errors import DeviceTimeout, ProtocolError, TransportError, UnsupportedDevice

HOST = "127.61.0.1"


def Connection(host, port, timeout):
    """The IOT protocol over the XOR transport: a whole answer per request."""
    return IotProtocol(XorTransport(host, port, timeout))


async def serve(handler, host=HOST, port=0):
    server = await asyncio.start_server(handler, host, port)
    return server, server.sockets[0].getsockname()[1]


def answering(answer_bytes_for, counter=None):
    async def handler(reader, writer):
        try:
            while True:
                header = await reader.readexactly(4)
                body = await reader.readexactly(struct.unpack(">I", header)[0])
                request = protocol.decode(header + body)
                if counter is not None:
                    counter.append(request)
                reply = answer_bytes_for(request)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    return handler


def ok(request):
    return protocol.encode({"system": {"get_sysinfo": {"alias": "x", "err_code": 0}}})


def run(coro):
    return asyncio.run(coro)


def test_kept_open_connection_serves_many_requests():
    async def go():
        connections = []

        async def handler(reader, writer):
            connections.append(1)
            await answering(ok)(reader, writer)

        server, port = await serve(handler)
        conn = Connection(HOST, port, 2)
        for _ in range(5):
            assert (await conn.raw({"system": {"get_sysinfo": {}}}))["system"]["get_sysinfo"][
                "alias"
            ] == "x"
        conn.close()
        server.close()
        return len(connections)

    assert run(go()) == 1


@pytest.mark.parametrize(
    "reply, message",
    [
        (b"\x00\x00\x00\x20" + b"short", "truncated frame"),
        (struct.pack(">I", 50 * 1024 * 1024), "more than"),
        (struct.pack(">I", 8) + b"\xff" * 8, "not valid JSON"),
        (b"\x00\x01", "truncated frame header"),
    ],
)
def test_malformed_answers_are_protocol_errors_naming_the_host(reply, message):
    async def go():
        server, port = await serve(_once(reply))
        try:
            with pytest.raises(ProtocolError, match=message) as info:
                await Connection(HOST, port, 2).raw({"a": {}})
            assert HOST in str(info.value)
        finally:
            server.close()

    run(go())


def _once(raw):
    async def handler(reader, writer):
        await reader.read(100)
        writer.write(raw)
        await writer.drain()
        writer.close()

    return handler


def test_silent_plug_times_out_within_the_deadline():
    async def go():
        async def silent(reader, writer):
            await asyncio.sleep(10)

        server, port = await serve(silent)
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(DeviceTimeout, match="within 0.3 s"):
            await Connection(HOST, port, 0.3).raw({"a": {}})
        server.close()
        return loop.time() - start

    assert run(go()) < 2.0  # the deadline held; a hang would hit pytest-timeout


def test_connection_found_stale_before_sending_reconnects():
    async def go():
        seen, connections = [], []

        async def one_answer_then_close(reader, writer):
            connections.append(1)
            header = await reader.readexactly(4)
            body = await reader.readexactly(struct.unpack(">I", header)[0])
            seen.append(protocol.decode(header + body))
            writer.write(ok(None))
            await writer.drain()
            writer.close()  # like a plug closing an idle connection

        server, port = await serve(one_answer_then_close)
        conn = Connection(HOST, port, 2)
        await conn.raw({"system": {"get_sysinfo": {}}})
        # the close reaches us while idle: the line is stale before the switch is sent
        await eventually(lambda: not conn.transport._proto.is_usable())
        await conn.raw({"system": {"set_relay_state": {"state": 1}}})
        server.close()
        return seen, connections

    seen, connections = run(go())
    assert len(seen) == 2 and len(connections) == 2


def test_state_change_is_never_sent_twice_when_the_answer_is_lost():
    async def go():
        seen = []

        async def swallow(reader, writer):
            header = await reader.readexactly(4)
            body = await reader.readexactly(struct.unpack(">I", header)[0])
            seen.append(protocol.decode(header + body))
            if len(seen) == 1:  # first connection: answer, keep open
                writer.write(ok(None))
                await writer.drain()
                header = await reader.readexactly(4)
                body = await reader.readexactly(struct.unpack(">I", header)[0])
                seen.append(protocol.decode(header + body))
            writer.close()  # second request: closed without answer

        server, port = await serve(swallow)
        conn = Connection(HOST, port, 2)
        await conn.raw({"system": {"get_sysinfo": {}}})
        with pytest.raises(TransportError, match="without an answer"):
            await conn.raw({"system": {"set_relay_state": {"state": 1}}})
        await eventually(lambda: len(seen) == 2)
        server.close()
        return seen

    seen = run(go())
    assert [list(r["system"]) for r in seen] == [["get_sysinfo"], ["set_relay_state"]]


def test_refused_port_is_a_transport_error():
    async def go():
        server, port = await serve(answering(ok))
        server.close()
        await server.wait_closed()
        with pytest.raises(TransportError, match="refused"):
            await Connection(HOST, port, 1).raw({"a": {}})

    run(go())


def test_klap_plug_is_named_as_unsupported():
    async def go():
        async def http(reader, writer):
            writer.close()

        server, _ = await serve(http, "127.61.0.2", 80)  # 9999 closed, 80 open: newer firmware
        with pytest.raises(UnsupportedDevice, match="KLAP"):
            await Connection("127.61.0.2", 9999, 2).raw({"a": {}})
        server.close()

    run(go())


def test_udp_unicast_collects_the_answer_from_the_plug_address():
    async def go():
        loop = asyncio.get_running_loop()

        class Plug(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                self.transport = transport

            def datagram_received(self, data, addr):
                assert protocol.decode_datagram(data) == {"system": {"get_sysinfo": {}}}
                self.transport.sendto(
                    protocol.encode_datagram({"system": {"get_sysinfo": {"alias": "u"}}}), addr
                )

        transport, _ = await loop.create_datagram_endpoint(Plug, local_addr=("127.61.0.3", 0))
        port = transport.get_extra_info("sockname")[1]
        answers, errors = await udp_query(
            ["127.61.0.3"], {"system": {"get_sysinfo": {}}}, port=port, timeout=0.4
        )
        transport.close()
        return answers, errors

    answers, errors = run(go())
    assert errors == [] and [
        (a.host, a.answer["system"]["get_sysinfo"]["alias"]) for a in answers
    ] == [("127.61.0.3", "u")]
