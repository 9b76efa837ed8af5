"""Issue 18, item 4: the exporter is not a port scanner, and whoever connects cannot starve it.

Real HTTP requests over loopback against the real exporter (in this test's event loop, or
``kshell --serve-metrics`` as a subprocess where its descriptors are counted). Plugs live on
127.83.1.x (stored) and 127.83.2.x (not stored); listeners that must never see a connection
sit on 127.83.9.x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.shell import ROOT, run_shell, write_config

from kshell.simulator.runner import SimulatorThread
from kshell.simulator.spec import PlugSpec

LAMP, STRANGER = "127.83.1.2", "127.83.2.5"
TRAP = "127.83.9.1"  # a listener standing for whatever a scanner would look for


@pytest.fixture(scope="module")
def sim():
    specs = [
        PlugSpec(host=LAMP, model="HS110(EU) 2.0", alias="Lamp", udp_port=0, seed=1),
        PlugSpec(host=STRANGER, model="HS110(EU) 2.0", alias="Next Door", udp_port=None),
    ]
    with SimulatorThread(specs) as running:
        yield running


def make_home(sim, root: Path, metrics: str = "") -> Path:
    home = root / "home"
    extra = "\n[metrics]\nmin_interval = 0.5\n" + metrics
    write_config(home, udp_port=sim.udp_port or 9999, extra=extra)
    assert run_shell(home, "-c", "discover").returncode == 0
    return home


@pytest.fixture(scope="module")
def home(sim, tmp_path_factory):
    return make_home(sim, tmp_path_factory.mktemp("guard"))


def _context(home: Path):
    from kshell.app.build import build_session

    return build_session(argparse.Namespace(home=str(home), config=None, timeout=2.0))


async def get(
    port: int,
    path: str,
    *,
    host: str | None = None,
    headers: str = "",
    source: str = "127.0.0.1",
) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        head = (
            f"Host: {host if host is not None else f'127.0.0.1:{port}'}\r\n" if host != "" else ""
        )
        writer.write(f"GET {path} HTTP/1.1\r\n{head}{headers}\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 15)
    except ConnectionError:
        return 0, b""
    finally:
        writer.close()
    status = int(data.split(b" ", 2)[1]) if data else 0
    return status, data.partition(b"\r\n\r\n")[2]


def serve(home: Path, check) -> None:  # type: ignore[no-untyped-def]
    """Run ``check(server, port)`` against an exporter on 127.0.0.1 in this event loop."""

    async def go() -> None:
        from kshell.work.metrics.server import start_server

        ctx = _context(home)
        server = await start_server(ctx, "127.0.0.1:0", 3.0)
        assert server.address is not None
        try:
            await check(server, server.address[1])
        finally:
            await server.stop()
            ctx.close_connections()

    asyncio.run(go())


class Trap:
    """A listening socket that records every connection made to it."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_server((host, port))
        self.sock.setblocking(False)

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    def close(self) -> None:
        self.sock.close()


def test_an_unknown_target_is_refused_and_never_connected_to(home):
    traps = [Trap(TRAP, 9999), Trap(TRAP, 22), Trap(STRANGER, 22)]

    async def check(server, port: int) -> None:
        for target in (
            f"{TRAP}",
            f"{TRAP}:22",
            f"{STRANGER}:22",
            STRANGER,  # a plug, but not one the store holds
            "localhost:9999",  # a host name: never resolved unless configured
            "0.0.0.0:22",
            "255.255.255.255",
            f"127.0.0.1:{port}",  # the exporter itself
        ):
            status, body = await get(port, f"/probe?target={target}")
            assert status in (400, 404), (target, status)
            assert body.count(b"\n") == 1 and b"kasa_up" not in body
        await asyncio.sleep(0.3)
        assert server.poller.polls == 0

    try:
        serve(home, check)
        assert [t.connections() for t in traps] == [0, 0, 0]
    finally:
        for trap in traps:
            trap.close()


def test_a_stored_plug_is_served_by_alias_host_and_mac(home):
    from kshell.store.devices import DeviceStore

    [mac] = [r.mac for r in DeviceStore(home / "devices.db").all() if r.alias == "Lamp"]

    async def check(server, port: int) -> None:
        for target in ("Lamp", LAMP, f"{LAMP}:9999", mac):
            status, body = await get(port, f"/probe?target={target}")
            assert status == 200, (target, body)
            assert f'kasa_up{{alias="Lamp",family="iot",host="{LAMP}"'.encode() in body
            assert b"} 1.0" in body.split(b"kasa_up{", 1)[1].split(b"\n", 1)[0] + b"\n"

    serve(home, check)


def test_probe_networks_let_the_owner_read_a_plug_the_store_lacks(sim, tmp_path):
    home = make_home(sim, tmp_path, "probe_networks = 127.83.2.0/24\n")
    trap = Trap(STRANGER, 80)

    async def check(server, port: int) -> None:
        status, body = await get(port, f"/probe?target={STRANGER}")
        assert status == 200 and f'host="{STRANGER}"'.encode() in body
        assert b'alias="Next Door"' in body
        # outside the networks, or off the plugs' port (an encrypted plug's HTTP port:
        # never a handshake with a plug nobody stored): refused, nothing connected
        for target in (f"{TRAP}", f"{STRANGER}:80", f"{STRANGER}:22"):
            assert (await get(port, f"/probe?target={target}"))[0] == 404, target

    try:
        serve(home, check)
        assert trap.connections() == 0
    finally:
        trap.close()
    from kshell.store.devices import DeviceStore

    stored = DeviceStore(home / "devices.db").all()
    assert STRANGER not in {r.host for r in stored}  # a probe never adds a plug


def test_the_host_header_must_name_the_exporter(sim, tmp_path):
    home = make_home(sim, tmp_path, "hosts = metrics.home.arpa\n")

    async def check(server, port: int) -> None:
        assert (await get(port, "/probe?target=Lamp", host="evil.example"))[0] == 421
        assert (await get(port, "/metrics", host=f"evil.example:{port}"))[0] == 421
        assert (await get(port, "/metrics", host=f"127.0.0.2:{port}"))[0] == 421
        assert (await get(port, "/metrics", host=f"127.0.0.1:{port + 1}"))[0] == 421
        assert (await get(port, "/metrics", host=""))[0] == 400  # no Host at all
        for good in (f"127.0.0.1:{port}", f"localhost:{port}", "metrics.home.arpa"):
            assert (await get(port, "/probe?target=Lamp", host=good))[0] == 200, good

    serve(home, check)


def test_a_bearer_token_is_required_when_configured(sim, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    token.chmod(0o600)
    home = make_home(sim, tmp_path, f"bearer_token_file = {token}\n")

    async def check(server, port: int) -> None:
        assert (await get(port, "/metrics"))[0] == 401
        assert (await get(port, "/metrics", headers="Authorization: Bearer wrong\r\n"))[0] == 401
        assert (await get(port, "/metrics", headers="Authorization: Basic czNjcmV0\r\n"))[0] == 401
        good = "Authorization: Bearer s3cret-token\r\n"
        assert (await get(port, "/probe?target=Lamp", headers=good))[0] == 200

    serve(home, check)
    token.chmod(0o644)  # others can read it: the exporter does not start, one line says why
    refused = run_shell(home, "--serve-metrics", "127.0.0.1:0", timeout=20)
    assert refused.returncode != 0 and "chmod 600" in refused.stderr
    assert refused.stderr.strip().count("\n") == 0 and "Traceback" not in refused.stderr


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_burst_of_probes_keeps_descriptors_bounded_and_answers_every_request(sim, tmp_path):
    home = make_home(sim, tmp_path, "probe_networks = 127.83.3.0/24\n")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home)]
        + ["--serve-metrics", "127.0.0.1:0", "--scrape-timeout", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline() if proc.stderr else ""  # a service logs to stderr
        found = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", line)
        assert found, line
        port = int(found.group(1))
        idle = _descriptors(proc.pid)
        peak = [idle]

        async def burst() -> list[int]:
            async def sample() -> None:
                while True:
                    peak[0] = max(peak[0], _descriptors(proc.pid))
                    await asyncio.sleep(0.005)

            sampler = asyncio.create_task(sample())
            targets = ["Lamp", LAMP, "127.83.3.7", "127.83.9.9", "nowhere.example"]
            jobs = [
                get(
                    port,
                    f"/probe?target={targets[n % len(targets)]}",
                    source=f"127.0.0.{10 + n % 25}",
                )
                for n in range(200)
            ]
            answers = await asyncio.gather(*jobs)
            sampler.cancel()
            return [status for status, _ in answers]

        statuses = asyncio.run(burst())
        assert all(s in (200, 404, 429, 503) for s in statuses), sorted(set(statuses))
        assert statuses.count(200) >= 80  # Lamp, its host and the probe network's address
        assert peak[0] - idle < 64 + 32 + 16, (idle, peak[0])
        time.sleep(0.5)
        assert _descriptors(proc.pid) - idle < 8  # nothing left behind
        assert asyncio.run(get(port, "/probe?target=Lamp"))[0] == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_slow_clients_do_not_fail_real_scrapes(home):
    async def check(server, port: int) -> None:
        async def slowloris(n: int) -> None:
            source = "127.0.0.1" if n % 2 else f"127.0.0.{2 + n % 9}"
            try:
                _reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, local_addr=(source, 0)
                )
                writer.write(b"GET /metrics HTTP/1.1\r\n")
                for line in range(10):
                    await asyncio.sleep(1)
                    writer.write(f"X-Slow-{line}: a\r\n".encode())
                    await writer.drain()
            except ConnectionError:
                pass  # dropped: what a slow client gets

        slow = [asyncio.create_task(slowloris(n)) for n in range(70)]
        await asyncio.sleep(1.0)  # they hold their connections when the scrapes come
        statuses = []
        for _ in range(20):
            statuses.append((await get(port, "/probe?target=Lamp"))[0])
            await asyncio.sleep(0.2)
        for task in slow:
            task.cancel()
        await asyncio.gather(*slow, return_exceptions=True)
        assert statuses == [200] * 20

    serve(home, check)
