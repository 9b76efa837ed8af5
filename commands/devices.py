"""Finding and keeping track of plugs: discover, add, devices, forget, use."""

from __future__ import annotations

import time
from typing import Any

from kshell.cache import DeviceRecord
from kshell.context import Context
from kshell.errors import KshellError, TargetError, UsageError
from kshell.output import clean
from kshell.registry import Arg, ByMail, Opt, command
from kshell.results import Failure, Result, Table, Text
from kshell.targets import parse_address, resolve, resolve_all

DEVICE_HEADERS = ["alias", "host", "model", "hw", "firmware", "state", "mac", "seen"]


def _device_row(r: DeviceRecord) -> list[Any]:
    state = r.state or "?"
    if not r.online:
        state = "offline"
    if r.kind == "bulb":
        state = "unsupported (bulb)"
    return [r.alias, r.address, r.model, r.hw_ver, r.sw_ver, state, r.mac, _ago(r.last_seen)]


def _ago(stamp: float) -> str:
    if not stamp:
        return "never"
    seconds = max(0, int(time.time() - stamp))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _record_json(r: DeviceRecord) -> dict[str, Any]:
    return {
        "alias": r.alias,
        "host": r.host,
        "port": r.port,
        "mac": r.mac,
        "model": r.model,
        "hw_ver": r.hw_ver,
        "sw_ver": r.sw_ver,
        "kind": r.kind,
        "state": r.state or None,
        "online": r.online,
        "emeter": r.emeter,
        "last_seen": r.last_seen,
        "children": r.children,
    }


@command(
    "discover",
    args=(
        Arg(
            "cidr",
            "word",
            "sweep this network over TCP instead of broadcasting",
            optional=True,
            reaches="network",
        ),
    ),
    options=(
        Opt(
            "--target",
            "str",
            "broadcast to this address only (repeatable)",
            repeat=True,
            reaches="address",
        ),
        Opt("--timeout", "float", "seconds to wait for answers"),
        Opt("--port", "int", "UDP port to broadcast to (default 9999)", reaches="port"),
        Opt("--tcp-port", "int", "TCP port the plugs answer on (default 9999)", reaches="port"),
        Opt("--verbose", help="list every address sent to and every odd answer"),
    ),
    permission="read",
    examples=("discover", "discover --target 192.168.1.255", "discover 192.168.7.0/24"),
    by_mail=ByMail.YES,
)
async def discover(ctx: Context, args: Any) -> Result:
    """Find plugs: broadcast on every interface, or sweep a CIDR with TCP probes.

    Broadcast reaches only the plugs on this machine's own subnets; a plug with a static
    address on another subnet is found by sweeping that subnet: discover 10.0.7.0/24.
    """
    from kshell import discovery

    port = args.port or ctx.discovery_port
    tcp_port = args.tcp_port or ctx.config.getint("discovery", "tcp_port", fallback=9999)
    timeout = args.timeout if args.timeout is not None else ctx.discovery_timeout
    if timeout <= 0 or timeout > 120:
        raise UsageError("discover: --timeout must be between 0 and 120 seconds")
    if args.cidr:
        report = await discovery.sweep(args.cidr, tcp_port, min(timeout, 2.0))
    else:
        plan = broadcast_plan(ctx, args.target)
        report = await discovery.broadcast(plan, port, timeout, tcp_port=tcp_port)
    return _merge_report(ctx, report, args.verbose, full_scan=not args.cidr and not args.target)


def broadcast_plan(ctx: Context, chosen: list[str]) -> list[tuple[str, str]]:
    """Where to broadcast: --target, else the config, else every interface."""
    from kshell import discovery

    wanted = chosen or ctx.broadcast_setting()
    if wanted == ["auto"]:
        return discovery.broadcast_targets()
    return [("target", address) for address in wanted]


def _merge_report(ctx: Context, report: Any, verbose: bool, full_scan: bool) -> Table:
    from kshell.discovery import record_of

    answered = set()
    rows = []
    for found in report.found:
        record = ctx.cache.merge(record_of(found))
        answered.add(record.key)
        if found.tcp_ok is False:
            ctx.cache.set_offline(record)
        rows.append(_device_row(record))
    if full_scan:
        for record in ctx.cache.all():
            if record.key not in answered and record.online:
                ctx.cache.set_offline(record)  # stopped answering: marked, never forgotten
    ctx.cache.save()
    refused = [f.host for f in report.found if f.tcp_ok is False]
    sent = ", ".join(f"{addr} ({name})" for name, addr in report.sent_to)
    what = f"swept {report.probed} addresses in {sent}" if report.probed else f"sent to {sent}"
    footer = [f"{what}; {len(report.found)} answered in {report.elapsed:.2f} s"]
    if refused:
        footer.append(f"{len(refused)} answered UDP but refused TCP: {', '.join(refused)}")
    bulbs = [f.host for f in report.found if f.kind == "bulb"]
    if bulbs:
        footer.append(f"{len(bulbs)} bulb(s) answered, not supported: {', '.join(bulbs)}")
    if report.send_errors:
        footer.append(
            "could not send to " + ", ".join(f"{a} ({why})" for a, why in report.send_errors)
        )
    if verbose and report.garbled:  # what a plug said: each one line of the footer
        footer += [f"unreadable answer: {clean(g, 300)}" for g in report.garbled]
    elif report.garbled:
        footer.append(f"{len(report.garbled)} unreadable answer(s) (--verbose lists them)")
    data = {
        "sent_to": [{"interface": n, "address": a} for n, a in report.sent_to],
        "answered": len(report.found),
        "elapsed_s": round(report.elapsed, 3),
        "tcp_refused": refused,
        "unreadable": report.garbled,
        "devices": [_record_json(ctx.cache.by_address(f.host, f.port)) for f in report.found],  # type: ignore[arg-type]
    }
    return Table(DEVICE_HEADERS, rows, data, footer="\n".join(footer))


@command(
    "add",
    args=(Arg("host", "word", "HOST or HOST:PORT of the plug", reaches="address"),),
    permission="read",
    examples=("add 192.168.1.50", "add plug.lan:9999"),
    by_mail=ByMail.YES,
)
async def add(ctx: Context, args: Any) -> Result:
    """Add one plug by address (asks it for sysinfo, then remembers it)."""
    address = parse_address(args.host)
    if address is None:
        raise UsageError(f"add: '{args.host}' is not HOST or HOST:PORT")
    host, port = address
    port, info = await _identify(ctx, host, port)
    record = ctx.cache.merge(DeviceRecord.from_sysinfo(host, port, info.summary()))
    ctx.cache.save()
    return Table(DEVICE_HEADERS, [_device_row(record)], _record_json(record))


async def _identify(ctx: Context, host: str, port: int) -> tuple[int, Any]:
    """Find out what a plug speaks: its UDP 20002 announcement (KLAP or AES, IOT or SMART
    inside), asked while the old protocol is tried on PORT; returns (port, its Info)."""
    import asyncio

    from kshell.device import tdp
    from kshell.device.transports.xor import HTTP_PORT
    from kshell.transport import DEFAULT_PORT

    announced = asyncio.ensure_future(tdp.probe(host, ctx.tdp_port, min(1.0, ctx.timeout)))
    try:
        if port != HTTP_PORT:
            try:
                return port, await ctx.devices.get(host, port).update()
            except KshellError:
                if await announced is None:
                    raise
        found = await announced
        if found is None:  # never handshake with a host that did not announce itself
            raise KshellError(
                "did not announce itself on UDP 20002: not a plug kshell can talk to",
                target=f"{host}:{port}",
            )
        port = found.http_port if port == DEFAULT_PORT else port
        ctx.devices.learn(host, port, found.link)
        return port, await ctx.devices.get(host, port).update()
    finally:
        announced.cancel()


@command("devices", permission="read", examples=("devices",), by_mail=ByMail.YES)
async def devices(ctx: Context, args: Any) -> Result:
    """List the known plugs (the device cache), online or not."""
    records = ctx.cache.all()
    rows = [_device_row(r) for r in records]
    online = sum(1 for r in records if r.online)
    footer = f"{len(records)} known, {online} online" if records else "no plugs known: run discover"
    return Table(
        DEVICE_HEADERS, rows, {"devices": [_record_json(r) for r in records]}, footer=footer
    )


@command(
    "forget",
    args=(Arg("targets", "targets", "plugs to drop from the device list"),),
    permission="control",
    examples=("forget 'Old Lamp'",),
    by_mail=ByMail.YES,
)
async def forget(ctx: Context, args: Any) -> list[Result]:
    """Drop plugs from the device list (discover finds them again if they answer)."""
    out: list[Result] = []
    for word in args.targets:
        try:
            targets = resolve(ctx, word)
        except KshellError as exc:
            out.append(Failure(exc))
            continue
        for t in targets:
            if t.record is None:
                out.append(Failure(TargetError(f"{t.address} is not in the device list")))
                continue
            ctx.cache.remove(t.record)
            out.append(Text(f"forgot {t.label} ({t.address})", {"forgot": t.label, "host": t.host}))
    ctx.cache.save()
    return out


@command(
    "use",
    args=(Arg("target", "target", "plug that later commands act on; 'none' clears it"),),
    permission="read",
    examples=("use Kitchen", "use none"),
    by_mail=ByMail.YES,
)
async def use(ctx: Context, args: Any) -> Result:
    """Set the current plug: commands may then leave their target out."""
    if args.target.lower() in ("none", "-"):
        ctx.current = None
        return Text("no current plug", {"current": None})
    targets = resolve_all(ctx, [args.target])
    if len(targets) != 1:
        raise UsageError("use: name one plug, not several")
    ctx.current = args.target
    return Text(f"using {targets[0].label} ({targets[0].address})", {"current": args.target})
