"""Core benchmarks, kshell beside python-kasa on the same simulated plugs in one run.

1. One-shot sysinfo: wall time of ``kshell -c "info HOST"`` against
   ``kasa --host HOST --type plug sysinfo``, paired runs, alternating, medians.
2. Discovery of 200 simulated plugs by broadcast on loopback: how many were found and the
   wall time of the whole command, against ``kasa discover list`` on the same plugs.

Everything stays on 127.0.0.0/8. Run: ``python bench/bench_core.py [--runs N] [--plugs N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kshell.simulator import SimulatorThread, bulk_specs, demo_specs

PY = sys.executable
KASA = shutil.which("kasa", path=os.path.dirname(PY)) or shutil.which("kasa")


def bytecode_env() -> dict[str, str]:
    """The environment with bytecode written and read, as an installed package has it
    (start-up is measured: PYTHONDONTWRITEBYTECODE would make every run compile afresh)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(
        cmd, check=False, capture_output=True, text=True, env=env or bytecode_env(), timeout=120
    )
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return elapsed, out.stdout


def home_for(udp_port: int, timeout: float) -> str:
    home = tempfile.mkdtemp(prefix="kshell-bench-")
    Path(home, "kshell.ini").write_text(
        f"[discovery]\nbroadcast = 127.255.255.255\nport = {udp_port}\ntimeout = {timeout}\n"
    )
    return home


def bench_info(runs: int, before: Path | None = None) -> None:
    with SimulatorThread(demo_specs(1, "127.71.0.2", udp_port=None)) as sim:
        host = sim.hosts[0]
        home = home_for(9999, 1)
        ours = [PY, str(ROOT / "shell.py"), "--home", home, "-c", f"info {host}"]
        timed(ours)  # warm the bytecode and the command index, as any second run would be
        kasa = [KASA, "--host", host, "--type", "plug", "sysinfo"] if KASA else None
        if kasa:
            timed(kasa)
        earlier = None
        if before is not None:  # an earlier checkout, its own home (its store may differ)
            earlier = [PY, str(before / "shell.py"), "--home", home_for(9999, 1)]
            earlier += ["-c", f"info {host}"]
            timed(earlier)
        mine, theirs, then = [], [], []
        for _ in range(runs):  # taking turns: all see the same load
            mine.append(timed(ours)[0])
            if kasa:
                theirs.append(timed(kasa)[0])
            if earlier:
                then.append(timed(earlier)[0])
    print(f"one-shot sysinfo of one plug, {runs} paired runs (median, min):")
    print(
        f"  kshell -c 'info HOST'            {statistics.median(mine) * 1000:7.1f} ms  "
        f"{min(mine) * 1000:7.1f} ms"
    )
    if theirs:
        print(
            f"  kasa --host HOST sysinfo         {statistics.median(theirs) * 1000:7.1f} ms  "
            f"{min(theirs) * 1000:7.1f} ms"
        )
        print(
            f"  ratio kshell/kasa (medians)      {statistics.median(mine) / statistics.median(theirs):7.2f}"
            "   (goal: at most 0.25)"
        )
    else:
        print("  python-kasa's CLI not installed: pip install 'python-kasa[speedups]'")
    if then:
        print(
            f"  kshell before ({before})  {statistics.median(then) * 1000:7.1f} ms  "
            f"{min(then) * 1000:7.1f} ms; now / before "
            f"{statistics.median(mine) / statistics.median(then):.2f}"
        )


def bench_discovery(count: int, timeout: float) -> None:
    with SimulatorThread(bulk_specs(count, "127.72.0.1", udp_port=9999)) as sim:
        home = home_for(9999, timeout)
        ours = [PY, str(ROOT / "shell.py"), "--home", home, "--json", "-c", "discover"]
        elapsed, out = timed(ours)
        import json

        report = json.loads(out.splitlines()[0])
        found = report["answered"]
        print(
            f"discovery of {len(sim.plugs)} simulated plugs by broadcast to 127.255.255.255, "
            f"timeout {timeout:g} s:"
        )
        print(
            f"  kshell discover   found {found:4d}   whole command {elapsed:6.2f} s "
            f"(timeout + {elapsed - timeout:.2f} s; inside the command {report['elapsed_s']:.2f} s)"
        )
        if KASA:
            cmd = [
                KASA,
                "--target",
                "127.255.255.255",
                "--discovery-timeout",
                str(int(timeout)),
                "discover",
                "list",
            ]
            elapsed_k, out_k = timed(cmd)
            found_k = sum(1 for line in out_k.splitlines() if line.startswith("127.72."))
            print(
                f"  kasa discover     found {found_k:4d}   whole command {elapsed_k:6.2f} s "
                f"(timeout + {elapsed_k - int(timeout):.2f} s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--plugs", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument(
        "--before",
        type=Path,
        help="also time the one-shot of an earlier checkout (a directory with its shell.py, "
        "e.g. from 'git archive COMMIT | tar -x -C DIR'), in the same turns",
    )
    args = parser.parse_args()
    bench_info(args.runs, args.before.resolve() if args.before else None)
    bench_discovery(args.plugs, args.timeout)


if __name__ == "__main__":
    main()
