"""The watch's fast path keeps every bound: deadlines, sizes, one request in flight.

A read on a kept XOR connection is one future with one deadline watchdog per connection
(not a timer per request), and requests take turns without an asyncio.Lock; these tests
hold that path to what the slower one promised. Plugs on 127.30.13.x (the simulator) and
127.61.7.1 (bare servers that misbehave on cue).
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import subprocess
import sys

import pytest
from helpers.shell import ROOT, json_lines

from kshell.device import codec as protocol
from kshell.device.protocols.iot import IotProtocol
from kshell.device.transports.xor import XorTransport
from kshell.errors import DeviceTimeout, ProtocolError
from kshell.results import Failure
from kshell.simulator.runner import SimulatorThread
from kshell.simulator.spec import PlugSpec
from kshell.work.watch import Sample

pytestmark = pytest.mark.timeout(30)  # a broken turn or deadline hangs: fail it sooner

HOST = "127.61.7.1"
STEADY, STALLING = "127.30.13.2", "127.30.13.3"


async def _serve(handler):
    server = await asyncio.start_server(handler, HOST, 0)
    return server, server.sockets[0].getsockname()[1]


async def _requests(reader):
    """Each framed request a client sends, decoded, until it hangs up."""
    try:
        while True:
            header = await reader.readexactly(4)
            body = await reader.readexactly(struct.unpack(">I", header)[0])
            yield protocol.decode(header + body)
    except (asyncio.IncompleteReadError, ConnectionError):
        return


def _answer(n: int) -> bytes:
    return protocol.encode({"system": {"get_sysinfo": {"n": n, "err_code": 0}}})


def test_a_plug_that_stalls_on_a_kept_connection_times_out_at_its_deadline():
    """The watchdog re-arms across many quick answers and still fires for the one that
    never comes: not early, not late, and never for an answered request."""
    timeout = 0.3

    async def go():
        stall = asyncio.Event()

        async def handler(reader, writer):
            async for _ in _requests(reader):
                if stall.is_set():
                    continue  # read, never answered
                writer.write(_answer(0))
                await writer.drain()

        server, port = await _serve(handler)
        conn = IotProtocol(XorTransport(HOST, port, timeout))
        loop = asyncio.get_running_loop()
        start = loop.time()
        answered = 0
        while loop.time() - start < 3 * timeout:  # several deadlines' worth of answers
            await conn.query("system", "get_sysinfo", idempotent=True)
            answered += 1
        stall.set()
        asked = loop.time()
        with pytest.raises(DeviceTimeout, match=f"within {timeout:g} s"):
            await conn.query("system", "get_sysinfo", idempotent=True)
        waited = loop.time() - asked
        conn.close()
        server.close()
        return answered, waited

    answered, waited = asyncio.run(go())
    assert answered > 10
    assert timeout - 0.01 <= waited < timeout + 0.5


def test_an_oversized_answer_on_a_kept_connection_is_refused():
    """An answer that claims more than the frame limit is refused, whether it comes after
    good answers on the same connection or as one chunk, and the connection is dropped."""

    async def go():
        connections = []

        async def handler(reader, writer):
            connections.append(1)
            n = 0
            async for _ in _requests(reader):
                n += 1
                if n < 3:
                    writer.write(_answer(n))
                else:  # a whole chunk claiming 2 MiB, with a little of it sent
                    writer.write(struct.pack(">I", 2 * 1024 * 1024) + b"x" * 64)
                await writer.drain()

        server, port = await _serve(handler)
        conn = IotProtocol(XorTransport(HOST, port, 2))
        for n in (1, 2):
            assert (await conn.query("system", "get_sysinfo"))["n"] == n
        with pytest.raises(ProtocolError, match="more than the") as info:
            await conn.query("system", "get_sysinfo", idempotent=True)
        assert HOST in str(info.value)
        assert (await conn.query("system", "get_sysinfo"))["n"] == 1  # a fresh connection
        conn.close()
        server.close()
        return len(connections)

    assert asyncio.run(go()) == 2


def test_requests_on_one_plug_take_turns_and_a_cancelled_one_passes_its_turn_on():
    """Callers that ask at once each get the answer to their own request (one in flight,
    first come first served), and one cancelled while waiting holds nobody up."""

    async def go():
        async def echo(reader, writer):
            async for request in _requests(reader):
                await asyncio.sleep(0.01)  # a second request would be in flight by now
                writer.write(_answer(request["system"]["get_sysinfo"]["n"]))
                await writer.drain()

        server, port = await _serve(echo)
        conn = IotProtocol(XorTransport(HOST, port, 2))

        async def ask(n):
            return (await conn.query("system", "get_sysinfo", {"n": n}))["n"]

        assert await ask(0) == 0  # the kept connection they all share
        tasks = [asyncio.create_task(ask(n)) for n in range(1, 7)]
        await asyncio.sleep(0)  # every task has started and all but one wait their turn
        tasks[3].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        conn.close()
        server.close()
        return done

    done = asyncio.run(go())
    assert isinstance(done[3], asyncio.CancelledError)
    assert [d for i, d in enumerate(done) if i != 3] == [1, 2, 3, 5, 6]


@pytest.fixture(scope="module")
def sim():
    specs = [
        PlugSpec(host=STEADY, model="HS110(EU) 1.0", alias="Steady", udp_port=None, seed=1),
        PlugSpec(host=STALLING, model="HS110(EU) 2.0", alias="Stalling", udp_port=None, seed=2),
    ]
    with SimulatorThread(specs) as running:
        yield running


def test_a_plug_that_stalls_mid_watch_goes_offline_at_its_deadline(home, sim):
    """Mid-watch, a plug that stops answering on its kept connection is reported offline
    once its deadline has passed, while the other plug goes on being read."""
    from kshell.app.build import build_session
    from kshell.lang.binding import parse_args

    async def main():
        ctx = build_session(
            argparse.Namespace(
                home=str(home), config=None, commands=[], timeout=0.5, yes=False, debug=False
            )
        )
        cmd, rest = ctx.registry.lookup(["emeter", "watch", STEADY, STALLING, "--interval", "0"])
        stream = await cmd.func(ctx, parse_args(cmd, rest))
        loop = asyncio.get_running_loop()
        stalled_at = failure = None
        steady_after = 0
        first = loop.time()
        async for item in stream:
            now = loop.time()
            if isinstance(item, Failure):
                assert stalled_at is not None, item.error
                failure = (item.error, now - stalled_at)
                break
            assert isinstance(item, Sample)
            if stalled_at is None and now - first > 1.2:  # past two deadlines of answers
                sim.set_fault(STALLING, "drop")
                stalled_at = now
            elif stalled_at is not None and item.label == "Steady":
                steady_after += 1
        await stream.stop()
        return failure, steady_after

    try:
        (error, waited), steady_after = asyncio.run(main())
    finally:
        sim.clear_faults(STALLING)
    assert isinstance(error, DeviceTimeout) and "Stalling" in str(error.target)
    assert 0.4 <= waited < 1.5  # its own deadline (0.5 s), not sooner, not much later
    assert steady_after > 10  # the other plug was read all the while


BLOCKED = "import sys; sys.modules.update(dict.fromkeys(('orjson', 'kasa_crypt', 'uvloop')))\n"


def test_without_the_speedups_the_watch_delivers_the_same_lines(home, sim):
    """A plain install (no orjson, kasa-crypt or uvloop) reads and writes what the speedups do."""
    script = BLOCKED + "from kshell.app.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    line = f"emeter watch {STEADY} {STALLING} --interval 0 --count 3"
    done = subprocess.run(  # noqa: PLW1510 - checked below
        [sys.executable, "-c", script, "--home", str(home), "--json", "-c", line],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stdout)
    samples = [obj for obj in lines if obj.get("status") == "ok"]
    assert len(samples) == 6 and {s["target"] for s in samples} == {"Steady", "Stalling"}
    assert {s["schema"] for s in samples} == {"v1", "v2"} and all(s["plausible"] for s in samples)
    assert lines[-1]["summary"]["samples"] == 6


def test_without_orjson_an_answer_that_is_not_utf8_is_refused():
    """The standard library's parser reads UTF-8 only, as orjson does: nothing else slips in."""
    check = BLOCKED + (
        "from kshell.device import codec as protocol\n"
        "from kshell.errors import ProtocolError\n"
        "assert protocol.parse_payload(b'{\"a\": {\"b\": 1}}') == {'a': {'b': 1}}\n"
        "for bad in (b'{\"a\": \"\\xff\"}', '{\"a\": 1}'.encode('utf-16'), b'[1]', b'{'):\n"
        "    try:\n"
        "        protocol.parse_payload(bad)\n"
        "    except ProtocolError:\n"
        "        continue\n"
        "    raise SystemExit(f'accepted {bad!r}')\n"
    )
    done = subprocess.run(  # noqa: PLW1510 - checked below
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
