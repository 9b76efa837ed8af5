"""The exporter's own promises, over real sockets: one deadline per scrape, a minimum
interval between real polls, a bounded HTTP server, the commands that start and stop it.

Plugs live on 127.80.1.x (this file's range); the exporter runs in the test's event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time

import pytest
from helpers.shell import ROOT, json_lines, run_shell, write_config
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.exposition import generate_latest

from kshell.core.invocation import Invocation
from kshell.simulator.runner import SimulatorThread
from kshell.simulator.spec import PlugSpec

FAST, SLOW, STRIP = (f"127.80.1.{n}" for n in range(2, 5))


@pytest.fixture(scope="module")
def sim():
    specs = [
        PlugSpec(host=FAST, model="HS110(EU) 2.0", alias="Fast", udp_port=0, seed=1),
        PlugSpec(host=SLOW, model="HS110(EU) 2.0", alias="Slow", udp_port=0, seed=2),
        PlugSpec(host=STRIP, model="HS300(US) 1.0", alias="Strip", udp_port=0, seed=3),
    ]
    with SimulatorThread(specs) as running:
        yield running


@pytest.fixture(scope="module")
def home(sim, tmp_path_factory):
    path = tmp_path_factory.mktemp("exporter") / "home"
    write_config(
        path, udp_port=sim.udp_port or 9999, extra="\n[metrics]\nmin_interval = 2\nhosts = x\n"
    )
    assert run_shell(path, "-c", "discover").returncode == 0
    return path


@pytest.fixture(autouse=True)
def clean_faults(sim):
    yield
    for host in (FAST, SLOW, STRIP):
        sim.clear_faults(host)


def _context(home):
    from kshell.app.build import build_session

    return build_session(argparse.Namespace(home=str(home), config=None, timeout=3.0))


async def _get(port: int, raw: bytes, *, read: bool = True) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10) if read else b""
    writer.close()
    status = int(data.split(b" ", 2)[1]) if data else 0
    return status, data.partition(b"\r\n\r\n")[2]


def _request(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


async def _serving(home, scrape_timeout: float = 5.0):
    from kshell.work.metrics.server import start_server

    ctx = _context(home)
    server = await start_server(ctx, "127.0.0.1:0", scrape_timeout)
    assert server.address is not None
    return ctx, server, server.address[1]


def test_a_slow_plug_costs_the_deadline_and_never_fails_the_page(sim, home):
    sim.set_fault(SLOW, "delay", 2.5)

    async def go() -> None:
        ctx, server, port = await _serving(home, scrape_timeout=0.5)
        try:
            started = time.monotonic()
            status, page = await _get(port, _request("/metrics"))
            took = time.monotonic() - started
            assert status == 200 and took < 0.5 + 0.1
            text = page.decode()
            assert f'kasa_up{{alias="Slow",family="iot",host="{SLOW}"' in text
            assert f'host="{SLOW}",mac=' in text
            up = {
                line.split("host=")[1][:12]: line[-3:]
                for line in text.splitlines()
                if line.startswith("kasa_up{")
            }
            assert up[f'"{SLOW}"'] == "0.0" and up[f'"{FAST}"'] == "1.0"
            duration = next(
                line
                for line in text.splitlines()
                if line.startswith("kasa_scrape_duration_seconds") and SLOW in line
            )
            assert float(duration.rsplit(" ", 1)[1]) == pytest.approx(0.5, abs=0.1)
            # Prometheus's own timeout header shortens the deadline further
            started = time.monotonic()
            headers = "X-Prometheus-Scrape-Timeout-Seconds: 0.3\r\n"
            status, _ = await _get(port, _request("/metrics", headers))
            assert status == 200 and time.monotonic() - started < 0.3 + 0.3
        finally:
            await server.stop()
            ctx.close_connections()

    asyncio.run(go())


def test_repeated_scrapes_within_the_minimum_interval_reuse_the_readings(home):
    async def go() -> None:
        ctx, server, port = await _serving(home)
        try:
            _, first = await _get(port, _request("/metrics"))
            polls = server.poller.polls
            assert polls == 3  # one per plug (a strip's outlets in the same poll)
            _, second = await _get(port, _request("/metrics"))
            assert server.poller.polls == polls  # within min_interval = 2 s: no new poll
            assert second == first
            _, probed = await _get(port, _request("/probe?target=Fast"))
            assert server.poller.polls == polls and b'alias="Strip"' not in probed
            assert b'kasa_up{alias="Fast"' in probed
        finally:
            await server.stop()
            ctx.close_connections()

    asyncio.run(go())


def test_http_is_bounded_and_answers_only_its_two_paths(home):
    async def go() -> None:
        ctx, server, port = await _serving(home)
        server.http.read_timeout = 0.3
        try:
            assert (await _get(port, _request("/")))[0] == 200
            assert (await _get(port, _request("/metrics/../etc/passwd")))[0] == 404
            assert (await _get(port, _request("/favicon.ico")))[0] == 404
            assert (await _get(port, _request("/probe")))[0] == 400
            assert (await _get(port, _request("/probe?target=all")))[0] == 400
            ctx.invocation = Invocation(typed=True)  # as at the prompt, where `metrics on` runs
            assert (await _get(port, _request("/probe?target=Fas")))[0] == 400  # no prefixes
            assert (await _get(port, _request("/probe?target=Fast")))[0] == 200
            status, body = await _get(port, _request("/probe?target=Nowhere%0a"))
            assert status == 400 and body.count(b"\n") == 1  # one line, the name escaped
            assert (await _get(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))[0] == 405
            assert (await _get(port, b"GARBAGE\r\n\r\n"))[0] == 400
            huge = _request("/metrics", "X-Big: " + "a" * 20_000 + "\r\n")
            assert (await _get(port, huge))[0] == 431
            started = time.monotonic()  # a client that never finishes its request
            assert (await _get(port, b"GET /metrics HTTP/1.1\r\n"))[0] == 408
            assert time.monotonic() - started < 1.5
            assert (await _get(port, b"HEAD /metrics HTTP/1.1\r\n\r\n"))[1] == b""
        finally:
            await server.stop()
            ctx.close_connections()

    asyncio.run(go())


def test_metrics_commands_are_admin_and_never_by_mail(home):
    from kshell.lang.registry import ByMail, build_registry

    registry = build_registry([], index=None)
    for name in ("metrics on", "metrics off", "metrics status"):
        cmd, _ = registry.lookup(name.split())
        assert cmd.by_mail is ByMail.NO
    assert registry.lookup(["metrics", "on"])[0].permission == "admin"
    result = run_shell(home, "--json", "-c", "metrics status; metrics on 0")
    assert json_lines(result.stdout) == [{"state": "off"}]
    assert "--serve-metrics" in result.stderr and result.returncode == 1


def test_one_shot_commands_do_not_import_prometheus_client(home):
    probe = (
        "import sys; from kshell.app.cli import main; main(['--home', sys.argv[1], '-c', "
        "'devices; emeter Fast']); assert 'prometheus_client' not in sys.modules, 'imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(home)],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr


def test_a_bad_listen_address_is_one_line(home):
    result = run_shell(home, "--serve-metrics", "127.0.0.1:notaport")
    assert result.returncode == 2 or result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "[ADDR:]PORT" in result.stderr


HOSTILE_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from('\\ ,="}{\n\r#'),
    min_size=1,
    max_size=40,
)


@settings(max_examples=10, deadline=None)
@given(aliases=st.lists(HOSTILE_TEXT, min_size=5, max_size=20))
def test_any_alias_keeps_the_exposition_format(aliases):
    """Whatever a plug calls itself, the page parses, promtool accepts it, and the label
    reads back as the alias kshell shows (one line)."""
    from prometheus_client.parser import text_string_to_metric_families

    from kshell.core.target import Target
    from kshell.device import meter_rules as emeter
    from kshell.ui.output import clean
    from kshell.work.metrics.collector import PlugCollector, new_registry
    from kshell.work.metrics.poll import PlugResult
    from kshell.work.metrics.read import PlugReading, RelayReading

    reading = emeter.normalise({"power": 1.5, "voltage": 230.0, "current": 0.1, "total": 2})
    collector = PlugCollector()
    for n, alias in enumerate(aliases):
        relay = RelayReading(None, clean(alias, 120), True, 5.0, reading, False)
        plug = PlugReading(clean(alias, 120), "HS110(EU)", "", "iot", -60.0, (relay,))
        collector.results.append(PlugResult(Target(f"127.80.1.{100 + n}"), plug, "", 0.01, 0))
    page = generate_latest(new_registry(collector)).decode()
    found = {
        s.labels["host"]: s.labels["alias"]
        for family in text_string_to_metric_families(page)
        if family.name == "kasa_up"
        for s in family.samples
    }
    assert found == {f"127.80.1.{100 + n}": clean(a, 120) for n, a in enumerate(aliases)}
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    checked = subprocess.run(
        [promtool, "check", "metrics"], check=False, input=page.encode(), capture_output=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
