"""The exporter: ``/metrics`` for every known plug, ``/probe?target=T`` for one.

Started by ``kshell --serve-metrics [ADDR:]PORT`` (headless, beside ``--listen`` or alone)
or ``metrics on`` at the prompt. Each server owns its registry, collector and poller;
nothing is global. Every request must name this exporter in its Host header (and carry the
bearer token when one is configured, see kshell.work.metrics.guard); a probe names a plug the
device store holds, or an address in ``[metrics] probe_networks``, and nothing else: an
unknown target is refused before any connection is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from kshell.core.invocation import Invocation
from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import resolve
from kshell.device.transports.xor import DEFAULT_PORT
from kshell.errors import KshellError, UsageError
from kshell.store.names import ip_literal
from kshell.text import clean
from kshell.work.metrics.collector import PlugCollector, new_registry
from kshell.work.metrics.guard import Guard
from kshell.work.metrics.http import HttpServer, Request, Response, text
from kshell.work.metrics.poll import Poller

DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_SCRAPE_TIMEOUT = 5.0
DEFAULT_MIN_INTERVAL = 1.0
MAX_TARGET = 256  # a probe's target word


def parse_listen(text_: str) -> tuple[str, int]:
    """'9101', '127.0.0.1:9101', '[::1]:9101' -> (address, port); UsageError otherwise."""
    value = text_.strip()
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host, port_text = DEFAULT_ADDRESS, value
    host = host.strip("[]") or DEFAULT_ADDRESS
    if not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise UsageError(f"metrics: '{clean(value, 60)}' is not [ADDR:]PORT")
    return host, int(port_text)


class NotStored(KshellError):
    """A probe target that is neither a stored plug nor in the probe networks."""


class MetricsServer:
    def __init__(
        self,
        session: Session,
        *,
        scrape_timeout: float = DEFAULT_SCRAPE_TIMEOUT,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        guard: Guard | None = None,
    ) -> None:
        self.session = session
        self.guard = guard or Guard()
        self.scrape_timeout = scrape_timeout
        self.poller = Poller(session, min_interval=min_interval)
        self.collector = PlugCollector()
        self.registry = new_registry(self.collector)
        self.http = HttpServer(self.handle)
        self.address: tuple[str, int] | None = None
        self.scrapes = 0
        self.last_scrape: dict[str, Any] = {}
        self._render_s = 0.0  # how long the last page took to write

    @property
    def running(self) -> bool:
        return self.address is not None

    def describe(self) -> str:
        if self.address is None:
            return "off"
        host, port = self.address
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/metrics"

    async def start(self, host: str, port: int) -> None:
        try:
            self.address = await self.http.start(host, port)
        except OSError as exc:
            raise KshellError(f"metrics: cannot listen on {host}:{port}: {exc.strerror or exc}")

    async def stop(self) -> None:
        await self.http.close()
        await self.poller.close()
        self.address = None

    def status(self) -> dict[str, Any]:
        return {
            "state": "on" if self.running else "off",
            "url": self.describe(),
            "scrape_timeout_s": self.scrape_timeout,
            "min_interval_s": self.poller.min_interval,
            "scrapes": self.scrapes,
            "plug_polls": self.poller.polls,
            **({"last_scrape": self.last_scrape} if self.last_scrape else {}),
        }

    # -- HTTP ------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        started = time.monotonic()
        refusal = self.refusal(request)
        if refusal is not None:
            return refusal
        if request.path == "/metrics":
            return await self.page(self.known_plugs(), self.deadline(request), started, whole=True)
        if request.path == "/probe":
            words = request.query.get("target", [])
            if len(words) != 1 or not words[0] or len(words[0]) > MAX_TARGET:
                return text(400, "probe: give one target=ALIAS, HOST or HOST:PORT")
            try:
                targets = await self.probe_targets(words[0])
            except NotStored as exc:
                return text(404, f"probe: {clean(exc.message, 200)}")
            except KshellError as exc:
                return text(400, f"probe: {clean(exc.message, 200)}")
            return await self.page(targets, self.deadline(request), started, whole=False)
        if request.path == "/":
            return text(200, "kshell exporter: /metrics (every plug), /probe?target=PLUG (one)")
        return text(404, "not found: /metrics or /probe?target=PLUG")

    def refusal(self, request: Request) -> Response | None:
        """The answer to a request that did not name this exporter or lacks the token."""
        assert self.address is not None
        host = request.headers.get("host")
        if not host:
            return text(400, "a Host header is required")
        if not self.guard.host_ok(host, self.address):
            # a name nobody listed: a web page's request after DNS rebinding, or a typo
            return text(421, "wrong Host: list the name in [metrics] hosts to allow it")
        if not self.guard.token_ok(request.headers.get("authorization")):
            return Response(
                401, b"a bearer token is required\n", headers={"WWW-Authenticate": "Bearer"}
            )
        return None

    def deadline(self, request: Request) -> float:
        """The scrape timeout, shortened to what the scraper says it will wait (its header)."""
        deadline = self.scrape_timeout
        with contextlib.suppress(KeyError, ValueError):
            offered = float(request.headers["x-prometheus-scrape-timeout-seconds"])
            if offered > 0:
                deadline = min(deadline, max(0.1, offered - 0.5))
        return deadline

    def known_plugs(self) -> list[Target]:
        """Every plug the store knows (bulbs aside), read afresh at each scrape."""
        targets = [Target(r.host, r.port, r) for r in self.session.store.all() if r.kind != "bulb"]
        self.poller.forget_except({(t.host, t.port) for t in targets})
        return targets

    async def probe_targets(self, word: str) -> list[Target]:
        """The stored plug ``word`` names (alias, host[:port], MAC), or an address in the
        probe networks; NotStored for anything else, before any connection is made."""
        if word.lower() == "all":
            raise UsageError("name one plug; /metrics has them all")
        # a scraper's word names a plug exactly (no unique prefixes: a later alias must not
        # change what a scrape config means); resolve is synchronous, so the swap is private
        typed, self.session.invocation = self.session.invocation, Invocation(permission="read")
        try:
            targets = resolve(self.session, word)
        finally:
            self.session.invocation = typed
        if all(t.record is not None for t in targets):
            plugs = {(t.host, t.port): t for t in targets}  # an outlet probes its whole strip
            return [Target(t.host, t.port, t.record) for t in plugs.values()]
        [target] = targets  # only an address the store does not hold lacks a record
        host = target.host
        if ip_literal(host) is None:
            if not self.guard.resolve_names:
                raise NotStored(
                    f"'{word}' is not a stored plug (host names are not resolved: "
                    "[metrics] resolve_names = yes)"
                )
            host = await self._lookup(host)
            record = self.session.store.by_address(host, target.port)
            if record is not None:
                return [Target(host, target.port, record)]
        if self.guard.allows(host) and target.port in self._plug_ports() and not self._own(host):
            return [Target(host, target.port, None)]  # read over XOR only (read.py)
        raise NotStored(
            f"'{word}' is not a stored plug (add it, or list its network in "
            "[metrics] probe_networks)"
        )

    def _plug_ports(self) -> set[int]:
        from kshell.store.config import number

        return {DEFAULT_PORT, int(number(self.session.config, "discovery", "tcp_port"))}

    def _own(self, host: str) -> bool:
        return self.address is not None and host == self.address[0]

    async def _lookup(self, name: str) -> str:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(min(2.0, self.scrape_timeout)):
                infos = await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError):
            raise NotStored(f"'{name}' does not resolve") from None
        return str(infos[0][4][0])

    async def page(
        self, targets: list[Target], deadline: float, started: float, *, whole: bool
    ) -> Response:
        # the page itself is due by the deadline: the plugs get what is left once reading
        # the store and writing the page (as long as it took last time) are counted
        spent = time.monotonic() - started
        results = await self.poller.scrape(targets, max(0.0, deadline - spent - self._render_s))
        self.collector.results = results  # generate_latest reads it synchronously: no race
        rendering = time.monotonic()
        try:
            body = generate_latest(self.registry)
        finally:
            self.collector.results = []
        self._render_s = min(deadline / 2, time.monotonic() - rendering)
        if whole:
            self.scrapes += 1
            self.last_scrape = {
                "plugs": len(results),
                "up": sum(1 for r in results if r.reading is not None),
                "seconds": round(time.monotonic() - started, 3),
            }
        return Response(200, body, CONTENT_TYPE_PLAIN_0_0_4)


async def serve_headless(session: Session, output: Any, listen: str, scrape_timeout: float) -> int:
    """``--serve-metrics`` alone: serve until SIGTERM or SIGINT, then exit 0."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    server = await start_server(session, listen, scrape_timeout)
    output.note(f"metrics: serving {server.describe()}; stop with Ctrl-C or SIGTERM")
    try:
        await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        await server.stop()
    output.note("metrics: stopped")
    return 0


async def start_server(
    session: Session, listen: str, scrape_timeout: float | None
) -> MetricsServer:
    from kshell.store.config import number

    host, port = parse_listen(listen)
    timeout = scrape_timeout or number(session.config, "metrics", "scrape_timeout")
    if not 0 < timeout <= 300:
        raise UsageError("metrics: the scrape timeout must be 0-300 seconds")
    min_interval = number(session.config, "metrics", "min_interval")
    server = MetricsServer(
        session,
        scrape_timeout=timeout,
        min_interval=max(0.0, min_interval),
        guard=Guard.from_config(session.config),
    )
    await server.start(host, port)
    session.metrics = server
    return server
