"""Soak: a long ``emeter watch`` over many plugs, one of them dropping in and out.

    python bench/soak_watch.py [--minutes 10] [--plugs 50] [--interval 1]

The plugs are kshell's simulator, in this process; the shell runs as its own process
(``shell.py --json -c "emeter watch ... --duration S"``), so its resident memory and open
file descriptors are its own. Every 10 s they are read from /proc; the figures at the start
(after a short warm-up) and at the end are what a watch that runs for days must keep flat.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kshell.simulator.models import MODELS, PLUG_MODELS
from kshell.simulator.runner import SimulatorThread, bulk_specs

BASE = "127.30.150.1"  # this soak's loopback range
WARM_UP = 15.0  # seconds before the start figures are taken: connections open, caches filled


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--plugs", type=int, default=50)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--down", type=float, default=20.0, help="seconds the flaky plug is off")
    parser.add_argument("--up", type=float, default=40.0, help="seconds it is back")
    args = parser.parse_args()
    seconds = args.minutes * 60
    metered = [m for m in PLUG_MODELS if MODELS[m].has_emeter]  # plugs without a meter: no rows
    specs = bulk_specs(args.plugs, base=BASE, udp_port=None, models=metered)
    flaky = specs[len(specs) // 2].host
    flaky_alias = specs[len(specs) // 2].alias or flaky
    with SimulatorThread(specs) as sim, tempfile.TemporaryDirectory(prefix="kshell-soak-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "kshell.ini").write_text(
            "[shell]\ntimeout = 2\n[discovery]\nrefresh_on_start = no\n"
        )
        out_path = Path(tmp) / "samples.jsonl"
        hosts = " ".join(p.host for p in sim.plugs)
        cmd = [
            sys.executable,
            str(ROOT / "shell.py"),
            "--home",
            str(home),
            "--json",
            "-c",
            f"emeter watch {hosts} --interval {args.interval:g} --duration {seconds:g}",
        ]
        with out_path.open("wb") as out, open(Path(tmp) / "stderr.txt", "wb") as err:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
            start = time.monotonic()
            figures: list[tuple[float, int, int]] = []
            down = False
            next_flip = start + args.up
            print(
                f"soak: {args.plugs} plugs, every {args.interval:g} s, {args.minutes:g} min; "
                f"{flaky} drops out for {args.down:g} s every {args.up + args.down:g} s",
                flush=True,
            )
            print(f"{'elapsed s':>9} {'RSS KiB':>9} {'open fds':>9}  flaky plug", flush=True)
            next_probe = start + WARM_UP
            while proc.poll() is None:
                now = time.monotonic()
                if now >= next_flip:
                    if down:
                        sim.clear_faults(flaky, "offline")
                    else:
                        sim.set_fault(flaky, "offline")
                    down = not down
                    next_flip = now + (args.down if down else args.up)
                if now >= next_probe:
                    try:
                        figures.append((now - start, rss_kib(proc.pid), open_fds(proc.pid)))
                    except OSError:
                        break
                    t, rss, fds = figures[-1]
                    print(f"{t:9.0f} {rss:9d} {fds:9d}  {'down' if down else 'up'}", flush=True)
                    next_probe = now + 10.0
                time.sleep(0.2)
            proc.wait()
        samples = offline = flagged = 0
        for line in out_path.read_text().splitlines():
            if line.startswith('{"t":'):
                sample = json.loads(line)
                samples += sample["status"] == "ok"
                flagged += sample["status"] == "ok" and not sample["plausible"]
        errors = [
            line
            for line in (Path(tmp) / "stderr.txt").read_text().splitlines()
            if '"error"' in line
        ]
        offline = sum(flaky_alias in line or flaky in line for line in errors)
        others = len(errors) - offline
        meters = len(
            {
                json.loads(line)["target"]
                for line in out_path.read_text().splitlines()
                if line.startswith('{"t":')
            }
        )
    if not figures:
        sys.exit("the watch ended before the first measurement")
    (t0, rss0, fd0), (t1, rss1, fd1) = figures[0], figures[-1]
    peak = max(f[1] for f in figures)
    print(f"start ({t0:.0f} s): RSS {rss0} KiB, {fd0} open fds")
    print(f"end   ({t1:.0f} s): RSS {rss1} KiB, {fd1} open fds  (peak RSS {peak} KiB)")
    print(
        f"{samples} readings from {meters} meters, {flagged} flagged; {offline} failed "
        f"attempts of the flaky plug, {others} other errors; exit status {proc.returncode} "
        "(1: some plug failed)"
    )


if __name__ == "__main__":
    main()
