"""Benchmark: one staging server hands the same 2 MiB image to 50 simulated plugs at once.

    python bench/bench_firmware.py [--plugs 50] [--size-mib 2] [--rate-kib 0]

Runs the whole ``firmware stage`` flow in-process (check, serve, download over real HTTP on
loopback, flash, reboot, verify) and prints the time of each phase and the bytes served.
``--rate-kib`` caps each simulated plug's download speed (0: as fast as the server sends;
real plugs manage a few hundred KiB/s on Wi-Fi).

python-kasa is not run beside it: it has no firmware staging for these (IOT protocol) plugs,
so there is nothing of the same job to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kshell.app.build import build_session
from kshell.simulator import FirmwareConfig, SimulatorThread, bulk_specs, make_image
from kshell.ui.output import Collector
from kshell.ui.runner import run_line

BASE = "127.40.100.1"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugs", type=int, default=50)
    parser.add_argument("--size-mib", type=float, default=2.0)
    parser.add_argument("--rate-kib", type=float, default=0.0)
    opts = parser.parse_args()
    size = int(opts.size_mib * 1024 * 1024)
    rate = opts.rate_kib * 1024 or None
    with tempfile.TemporaryDirectory(prefix="kshell-bench-fw-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "kshell.ini").write_text(
            "[shell]\ntimeout = 10\n[discovery]\nbroadcast = 127.255.255.255\n"
            f"[firmware]\nlibrary = {Path(tmp) / 'lib'}\npoll_interval = 0.25\n"
            "stall_timeout = 60\nreboot_grace = 30\n"
        )
        image = Path(tmp) / "bench.bin"
        image.write_bytes(make_image("HS110(EU)", "2.0", "1.5.10", size=size))
        specs = bulk_specs(opts.plugs, BASE, udp_port=None, models=["HS110(EU) 2.0"])
        firmware = FirmwareConfig(flash_time=1.0, reboot_time=1.0, download_rate=rate)
        with SimulatorThread(specs, firmware=firmware) as sim:
            hosts = " ".join(sim.hosts)
            line = (
                f"firmware add {image} --model 'HS110(EU)' --hw 2.0 --version 1.5.10; "
                f"firmware stage {hosts} bench.bin --yes"
            )
            elapsed, marks, ok, lines = asyncio.run(run(home, line))
    report(opts, size, elapsed, marks, ok, lines)
    return 0 if ok else 1


async def run(home: Path, line: str) -> tuple[float, dict[str, float], bool, list[dict]]:
    session = build_session(SimpleNamespace(home=str(home), config=None, commands=[]))
    out = _Timed(as_json=True)
    start = time.perf_counter()
    out.start = start
    try:
        ok = await run_line(session, line, out)
    finally:
        session.close_connections()
    elapsed = time.perf_counter() - start
    lines = [json.loads(t) for t in out.text().splitlines() if t.strip()]
    return elapsed, out.marks, ok, lines


class _Timed(Collector):
    """Records when each step first and last appeared."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.start = 0.0
        self.marks: dict[str, float] = {}

    def emit(self, result: object) -> None:
        data = getattr(result, "data", None) or {}
        step = data.get("step") if isinstance(data, dict) else None
        if step:
            now = time.perf_counter() - self.start
            self.marks.setdefault(f"first {step}", now)
            self.marks[f"last {step}"] = now
        super().emit(result)  # type: ignore[arg-type]


def report(
    opts: argparse.Namespace,
    size: int,
    elapsed: float,
    marks: dict[str, float],
    ok: bool,
    lines: list[dict],
) -> None:
    stopped = next((x for x in lines if x.get("step") == "server_stopped"), {})
    requests = [x for x in lines if x.get("step") == "request"]
    done = [x for x in lines if x.get("step") == "done"]
    served = stopped.get("bytes_sent", 0)
    first, last_dl = marks.get("first serve", 0.0), marks.get("last downloaded", 0.0)
    rate = "unlimited" if not opts.rate_kib else f"{opts.rate_kib:g} KiB/s per plug"
    print(
        f"firmware staging: {opts.plugs} simulated plugs, {size / 1048576:g} MiB image, "
        f"plug download rate {rate}"
    )
    print(
        f"  result                 {'ok' if ok else 'FAILED'}: {len(done)}/{opts.plugs} plugs "
        "flashed and verified"
    )
    print(
        f"  requests served        {len(requests)} "
        f"({sum(1 for r in requests if r.get('complete'))} complete)"
    )
    print(f"  bytes served           {served:,} (expected {opts.plugs * size:,})")
    print(f"  checks (sysinfo)       {marks.get('last check', 0):.2f} s")
    print(
        f"  serve -> all downloaded {last_dl - first:.2f} s "
        f"({served / 1048576 / max(last_dl - first, 1e-9):.1f} MiB/s aggregate)"
    )
    slowest = max((r.get("seconds", 0) for r in requests), default=0)
    # the server is done when the kernel holds the last byte; the plug may still be reading
    print(f"  slowest server-side send {slowest:.2f} s (until the socket buffer took it all)")
    flashing = marks.get("last done", 0) - marks.get("first flash", 0)
    print(f"  flash + reboot + verify {flashing:.2f} s (simulated flash 1 s + reboot 1 s)")
    print(f"  total                  {elapsed:.2f} s")
    print("  python-kasa: no firmware staging for IOT plugs, so no figure beside ours")


if __name__ == "__main__":
    sys.exit(main())
