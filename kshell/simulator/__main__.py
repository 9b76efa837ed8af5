"""``python -m kshell.simulator``: run simulated plugs on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from kshell.simulator.firmware import FirmwareConfig
from kshell.simulator.runner import bulk_specs, demo_specs, house_specs
from kshell.simulator.server import BROADCAST, Simulator


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m kshell.simulator",
        description="Run simulated Kasa plugs on 127.0.0.0/8 until interrupted.",
    )
    p.add_argument("--count", "-n", type=int, default=5, help="number of plugs (default 5)")
    p.add_argument(
        "--base", default=None, help="first address (default 127.0.0.2; bulk fleets 127.0.1.1)"
    )
    p.add_argument("--port", type=int, default=9999, help="TCP port of every plug")
    p.add_argument("--udp-port", type=int, default=9999, help="UDP discovery port")
    p.add_argument(
        "--http-port", type=int, default=80, help="HTTP port of KLAP/AES plugs (--mix house)"
    )
    p.add_argument(
        "--tdp-port", type=int, default=20002, help="UDP discovery port of KLAP/AES plugs"
    )
    p.add_argument(
        "--mix",
        choices=("demo", "house", "bulk"),
        default=None,
        help="demo: a mixed house of old plugs; house: old and current generation "
        "(KLAP/AES, the demo account); bulk: numbered plugs of every model "
        "(default: demo up to 8 plugs, bulk above)",
    )
    p.add_argument("--flash-time", type=float, default=2.0, help="seconds a flash takes")
    p.add_argument("--reboot-time", type=float, default=3.0, help="seconds a reboot takes")
    return p


async def _serve(args: argparse.Namespace) -> None:
    mix = args.mix or ("demo" if args.count <= 8 else "bulk")
    if mix == "house":
        specs = house_specs(
            args.count,
            args.base or "127.0.0.2",
            port=args.port,
            udp_port=args.udp_port,
            http_port=args.http_port,
            tdp_port=args.tdp_port,
        )
    elif mix == "demo":
        specs = demo_specs(
            args.count, args.base or "127.0.0.2", port=args.port, udp_port=args.udp_port
        )
    else:
        specs = bulk_specs(
            args.count, args.base or "127.0.1.1", port=args.port, udp_port=args.udp_port
        )
    firmware = FirmwareConfig(flash_time=args.flash_time, reboot_time=args.reboot_time)
    sim = Simulator(specs, firmware=firmware)
    await sim.start()
    try:
        for plug in sim.plugs:
            where = f"{plug.transport}:{plug.http_port}" if plug.is_http else str(plug.port)
            print(f"{plug.host}:{where}\t{plug.kind.key}\t{plug.alias}", flush=True)
        if any(plug.is_http for plug in sim.plugs):
            account = sim.account
            print(f"# KLAP/AES account: {account.username} / {account.password}", flush=True)
        print(
            f"# {len(sim.plugs)} plugs; discovery: UDP {BROADCAST}:{sim.plugs[0].udp_port}; "
            "Ctrl-C stops",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    except (OSError, ValueError) as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
