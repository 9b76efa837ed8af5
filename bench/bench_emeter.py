"""Energy readings per second across many simulated plugs: kshell's watch vs python-kasa.

    python bench/bench_emeter.py [--plugs 100] [--seconds 10] [--sim npm|kshell]

Three figures from the same plugs in the same run:

* python-kasa at its best: every plug queried concurrently in one asyncio loop with
  ``protocol.query({"emeter": {"get_realtime": {}}})`` on kept-open connections;
* python-kasa naive: one loop calling ``update()`` on each plug in turn;
* kshell: ``shell.py --json -c "emeter watch HOSTS --interval 0"``, the whole pipeline
  (pacing, normalising, plausibility, statistics, one JSON line per sample on a pipe),
  counted from the JSON lines it prints, over the steady part of the run.

``--user`` measures as a user sees it instead: every reading kshell delivered over a whole
``emeter watch HOSTS --interval 0 --duration S --json`` run divided by the run's wall time
from process start to exit (start-up, first connections and the stop included), against
python-kasa's concurrent loop over the same plugs for the same S seconds (connections
included, its imports not), each side in its own process. The pairs: by default kshell with
its ``speedups`` extra (kasa-crypt, orjson, uvloop) against python-kasa with its own
(orjson, kasa-crypt; it runs on the standard loop); ``--plain``, each without: orjson,
kasa-crypt and uvloop made unimportable on both sides. CPU per reading is the process's
whole CPU time (start-up included) over its readings. kshell's bytecode is compiled first,
as an installed package has it (an editable checkout under PYTHONDONTWRITEBYTECODE would
compile every module again in every run), and each run's fresh home has been used once
(``help``), as a user's has: its command index exists (a home's very first command imports
every command module to find its verb). Its device store stays empty.

The plugs run in another process (the npm ``tplink-smarthome-simulator``, or kshell's own
simulator), so the client under test has a CPU to itself on a two-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = Path(os.environ.get("KSHELL_NPM_PEER", ROOT / "tests" / "peer"))
BASE = "127.30.100"  # this benchmark's loopback range: 127.30.100.1 and up
REQUEST = {"emeter": {"get_realtime": {}}}


def hosts(n: int) -> list[str]:
    return [f"127.30.{100 + i // 250}.{i % 250 + 1}" for i in range(n)]


def start_npm(addresses: list[str]) -> subprocess.Popen[str]:
    devices = [
        {
            "address": a,
            "port": 9999,
            "model": "hs110v2" if i % 2 else "hs110",
            "data": {
                "alias": f"Bench {i + 1}",
                "mac": f"50:c7:bf:30:{i // 256:02x}:{i % 256:02x}",
                "deviceId": f"B{i:04d}",
            },
        }
        for i, a in enumerate(addresses)
    ]
    spec = json.dumps({"udpPort": 0, "devices": devices})
    proc = subprocess.Popen(
        ["node", str(PEER / "npm_sim.js"), spec],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=PEER,
    )
    return _ready(proc)


def start_kshell(addresses: list[str]) -> subprocess.Popen[str]:
    code = (
        "import sys, time\n"
        "from kshell.simulator.runner import SimulatorThread, bulk_specs\n"
        # single-meter models only: each plug gives one reading per request to both clients
        f"specs = bulk_specs({len(addresses)}, base={addresses[0]!r}, udp_port=None, "
        "models=('HS110(EU) 1.0', 'HS110(EU) 2.0', 'KP115(EU) 1.0'))\n"
        "with SimulatorThread(specs) as sim:\n"
        "    print('ready', flush=True)\n"
        "    sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    return _ready(proc)


def _ready(proc: subprocess.Popen[str]) -> subprocess.Popen[str]:
    line = proc.stdout.readline() if proc.stdout else ""
    if line.strip() != "ready":
        proc.kill()
        sys.exit(f"the simulator did not start: {line!r}")
    return proc


async def kasa_best(addresses: list[str], seconds: float) -> tuple[float, float]:
    from kasa.deviceconfig import DeviceConfig
    from kasa.protocols import IotProtocol
    from kasa.transports import XorTransport

    protocols = [IotProtocol(transport=XorTransport(config=DeviceConfig(a))) for a in addresses]
    count = 0
    stop = time.perf_counter() + seconds

    async def loop(proto: IotProtocol) -> None:
        nonlocal count
        while time.perf_counter() < stop:
            answer = await proto.query(REQUEST)
            if (
                "power" in answer["emeter"]["get_realtime"]
                or "power_mw" in answer["emeter"]["get_realtime"]
            ):
                count += 1

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(loop(p) for p in protocols))
    rate = count / (time.perf_counter() - start)
    cpu_each = (time.process_time() - cpu) / max(1, count)
    for proto in protocols:
        await proto.close()
    return rate, cpu_each


async def kasa_naive(addresses: list[str], seconds: float) -> float:
    from kasa.iot import IotPlug

    plugs = [IotPlug(a) for a in addresses]
    count = 0
    start = time.perf_counter()
    stop = start + seconds
    while time.perf_counter() < stop:
        for plug in plugs:
            await plug.update()
            if plug.has_emeter:
                _ = plug.modules["Energy"].current_consumption  # the reading a user wants
                count += 1
            if time.perf_counter() >= stop:
                break
    rate = count / (time.perf_counter() - start)
    for plug in plugs:
        await plug.disconnect()
    return rate


def kshell_watch(addresses: list[str], seconds: float, home: Path) -> tuple[float, int, int, float]:
    """Readings per second of the watch pipeline, from the JSON lines it printed.

    Its stdout goes to a file, read afterwards: a reader process parsing the lines as
    they come would compete for the CPU the shell and the simulator need.
    """
    home.mkdir(parents=True, exist_ok=True)
    (home / "kshell.ini").write_text("[shell]\ntimeout = 5\n[discovery]\nrefresh_on_start = no\n")
    cmd = [
        sys.executable,
        str(ROOT / "shell.py"),
        "--home",
        str(home),
        "--json",
        "-c",
        "emeter watch " + " ".join(addresses) + f" --interval 0 --duration {seconds + 2}",
    ]
    out_path = home / "samples.jsonl"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with out_path.open("wb") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, cwd=ROOT, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    stamps: list[float] = []
    flagged = 0
    with out_path.open("rb") as lines:
        for raw in lines:
            if raw.startswith(b'{"t":'):
                sample = json.loads(raw)
                if sample.get("status") == "ok":
                    stamps.append(sample["t"])
                    flagged += not sample["plausible"]
    if not stamps:
        sys.exit(f"kshell printed no samples: {proc.stderr.decode()[-500:]}")
    # the steady part: skip the first second (connecting, sysinfo) and the last half second
    lo, hi = stamps[0] + 1.0, stamps[-1] - 0.5
    steady = [t for t in stamps if lo <= t <= hi]
    # CPU per reading over the whole run (start-up included, so a little pessimistic)
    return len(steady) / max(1e-9, hi - lo), len(stamps), flagged, cpu / len(stamps)


# python-kasa's concurrent loop in a process of its own, so its CPU time can be read and its
# speedups (orjson, kasa-crypt) blocked like ours
KASA_LOOP = """
import asyncio, json, resource, sys, time
if {plain}:
    sys.modules.update(dict.fromkeys(("orjson", "kasa_crypt", "uvloop")))
from kasa.deviceconfig import DeviceConfig
from kasa.protocols import IotProtocol
from kasa.transports import XorTransport

async def main(addresses, seconds):
    global elapsed, loop_cpu
    started, cpu = time.perf_counter(), time.process_time()
    protocols = [IotProtocol(transport=XorTransport(config=DeviceConfig(a))) for a in addresses]
    count = 0
    stop = time.perf_counter() + seconds

    async def loop(proto):
        nonlocal count
        while time.perf_counter() < stop:
            answer = await proto.query({request!r})
            if "power" in answer["emeter"]["get_realtime"] or "power_mw" in answer["emeter"][
                "get_realtime"
            ]:
                count += 1

    await asyncio.gather(*(loop(p) for p in protocols))
    elapsed, loop_cpu = time.perf_counter() - started, time.process_time() - cpu
    for proto in protocols:
        await proto.close()
    return count

count = asyncio.run(main({addresses!r}, {seconds!r}))
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"count": count, "seconds": elapsed, "cpu": usage.ru_utime + usage.ru_stime,
                  "loop_cpu": loop_cpu}}))
"""

# kshell's entry point (shell.py's: ``run``, the program a user starts, not ``main`` alone)
# with the speedups made unimportable (a plain install)
PLAIN_SHELL = (
    "import sys; sys.modules.update(dict.fromkeys(('orjson', 'kasa_crypt', 'uvloop'))); "
    "from kshell.app.cli import run; sys.exit(run())"
)


def kasa_user(addresses: list[str], seconds: float, plain: bool) -> tuple[float, float, float]:
    """python-kasa's readings per second over its loop's own time (``seconds`` and the last
    answers; connections included, imports not); CPU each: the whole process's (imports
    included, as kshell's is) and its loop's alone."""
    code = KASA_LOOP.format(plain=plain, request=REQUEST, addresses=addresses, seconds=seconds)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"python-kasa failed: {proc.stderr[-500:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    count = max(1, int(result["count"]))
    return (
        count / float(result["seconds"]),
        float(result["cpu"]) / count,
        float(result["loop_cpu"]) / count,
    )


def kshell_user(
    addresses: list[str], seconds: float, home: Path, plain: bool
) -> tuple[float, int, float]:
    """kshell's readings per second over the whole run, from process start to exit."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "kshell.ini").write_text("[shell]\ntimeout = 5\n[discovery]\nrefresh_on_start = no\n")
    entry = ["-c", PLAIN_SHELL] if plain else [str(ROOT / "shell.py")]
    # a home kshell has run in before, as a user's is: its command index made (without it
    # the first run of a new home imports every command module to find the verb)
    subprocess.run(
        [sys.executable, *entry, "--home", str(home), "-c", "help"],
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
        check=True,
    )
    line = "emeter watch " + " ".join(addresses) + f" --interval 0 --duration {seconds:g}"
    cmd = [sys.executable, *entry, "--home", str(home), "--json", "-c", line]
    out_path = home / "samples.jsonl"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with out_path.open("wb") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, cwd=ROOT, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    with out_path.open("rb") as lines:
        count = sum(1 for raw in lines if raw.startswith(b'{"t":') and b'"status":"ok"' in raw)
    if not count:
        sys.exit(f"kshell printed no samples: {proc.stderr.decode()[-500:]}")
    return count / wall, count, cpu / count


def main_user(args: argparse.Namespace, addresses: list[str]) -> None:
    import statistics
    import tempfile

    label = "without speedups" if args.plain else "with speedups"
    pairing = (
        "kshell plain vs python-kasa plain (orjson, kasa-crypt, uvloop unimportable on both)"
        if args.plain
        else "kshell with its speedups extra (kasa-crypt, orjson, uvloop) vs python-kasa with "
        "its own (orjson, kasa-crypt; standard loop)"
    )
    print(f"pairing: {pairing}")
    subprocess.run(  # the bytecode an installed kshell has
        [sys.executable, "-m", "compileall", "-q", "kshell", "commands", "history"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    theirs: list[float] = []
    ours: list[float] = []
    # whoever goes first in a round tends to do better on this machine: an even number of
    # rounds, so that each side goes first as often as the other
    rounds = args.rounds + args.rounds % 2
    for r in range(rounds):  # alternate who goes first, a fresh simulator each time
        for who in ("kasa", "kshell") if r % 2 == 0 else ("kshell", "kasa"):
            sim = start_npm(addresses) if args.sim == "npm" else start_kshell(addresses)
            try:
                if who == "kasa":
                    rate, cpu, loop_cpu = kasa_user(addresses, args.seconds, args.plain)
                    theirs.append(rate)
                    print(
                        f"  round {r + 1}: python-kasa {rate:9,.0f} readings/s, "
                        f"{cpu * 1e6:6.1f} us CPU each ({loop_cpu * 1e6:.1f} in its loop)"
                    )
                else:
                    with tempfile.TemporaryDirectory(prefix="kshell-bench-") as tmp:
                        rate, total, cpu = kshell_user(
                            addresses, args.seconds, Path(tmp) / "home", args.plain
                        )
                    ours.append(rate)
                    print(
                        f"  round {r + 1}: kshell      {rate:9,.0f} readings/s, "
                        f"{cpu * 1e6:6.1f} us CPU each ({total} readings)"
                    )
            finally:
                if sim.stdin:
                    sim.stdin.close()
                sim.terminate()
                sim.wait(10)
    best, rate = statistics.median(theirs), statistics.median(ours)
    # each round's two runs come back to back, under the same load: their ratio is the pair
    paired = [o / t for o, t in zip(ours, theirs)]
    print(f"  per round, kshell / python-kasa: {', '.join(f'{p:.2f}' for p in paired)}")
    print(
        f"as a user sees it, {label}: {statistics.median(paired):.2f}x median of the paired "
        f"rounds; medians kshell {rate:,.0f}/s, python-kasa {best:,.0f}/s: {rate / best:.2f}x "
        f"({args.plugs} plugs, {args.seconds:g} s, {rounds} rounds, {args.sim} simulator)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sim", choices=("npm", "kshell"), default="npm")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--user", action="store_true", help="whole runs, from process start")
    parser.add_argument("--plain", action="store_true", help="--user without any speedups")
    args = parser.parse_args()
    addresses = hosts(args.plugs)
    if args.user:
        main_user(args, addresses)
        return
    import statistics
    import tempfile

    def fresh() -> subprocess.Popen[str]:
        # a fresh simulator for every measurement: the npm one slows down as it ages, so
        # whoever ran second on a shared one would be measured against a tired peer
        return start_npm(addresses) if args.sim == "npm" else start_kshell(addresses)

    def stop(sim: subprocess.Popen[str]) -> None:
        if sim.stdin:
            sim.stdin.close()
        sim.terminate()
        sim.wait(10)

    theirs, ours = [], []
    for r in range(args.rounds):  # alternate who goes first
        for who in ("kasa", "kshell") if r % 2 == 0 else ("kshell", "kasa"):
            sim = fresh()
            try:
                if who == "kasa":
                    best, best_cpu = asyncio.run(kasa_best(addresses, args.seconds))
                    theirs.append(best)
                    print(
                        f"  round {r + 1}: python-kasa best {best:10,.0f} readings/s, "
                        f"{best_cpu * 1e6:5.1f} us CPU each"
                    )
                else:
                    with tempfile.TemporaryDirectory(prefix="kshell-bench-") as tmp:
                        rate, total, flagged, cpu = kshell_watch(
                            addresses, args.seconds, Path(tmp) / "home"
                        )
                    ours.append(rate)
                    print(
                        f"  round {r + 1}: kshell watch      {rate:10,.0f} readings/s, "
                        f"{cpu * 1e6:5.1f} us CPU each ({total} samples, {flagged} flagged)"
                    )
            finally:
                stop(sim)
    best, rate = statistics.median(theirs), statistics.median(ours)
    print(f"python-kasa best (concurrent protocol.query): {best:10,.0f} readings/s (median)")
    if not args.skip_naive:
        sim = fresh()
        try:
            naive = asyncio.run(kasa_naive(addresses, min(args.seconds, 5.0)))
        finally:
            stop(sim)
        print(f"python-kasa naive (update() loop):            {naive:10,.0f} readings/s")
    print(f"kshell emeter watch --interval 0 --json:      {rate:10,.0f} readings/s (median)")
    print(
        f"kshell / python-kasa best: {rate / best:.2f}  ({args.plugs} plugs, {args.sim} "
        f"simulator, {args.rounds} rounds, fresh simulator each)"
    )


if __name__ == "__main__":
    main()
