"""Current-generation plugs (KLAP, SMART): kshell beside python-kasa, on the same plugs.

    python bench/bench_current.py [--only info,watch,discover] [--runs 10] [--plugs 100]

Three pairs, each against the same simulated plugs (kshell's simulator, in a separate
process so the client under test has a core to itself on a two-core machine):

* info: one-shot ``shell.py -c "info HOST"`` of a KLAP v2 plug (a P110) against
  ``kasa --host HOST --username U --password P state``; wall time from process start to
  exit, runs alternating. Beside it, the old generation's one-shot (``info`` of an HS110
  on TCP 9999), which must not have got worse.
* watch: ``emeter watch HOSTS --interval 0 --duration S --json`` over N SMART plugs on
  KLAP, readings counted as a user sees them: every reading printed, divided by the
  process's whole wall time (start-up, handshakes and all). Against python-kasa at its
  best: one ``Device`` per plug, connected and updated once beforehand (sessions kept),
  then every plug read concurrently in one asyncio loop for the same S seconds, both
  with the energy module's own query and with ``dev.update()``.
* discover: 200 mixed plugs (100 old on UDP 9999, 100 current on UDP 20002), kshell's
  ``discover --target 127.255.255.255 --timeout T`` against ``kasa --target
  127.255.255.255 --discovery-timeout T discover list`` (which,
  like kshell's, reads every plug it hears, with the credentials); every plug must be found, within
  T + 0.1 s of the command's own time.

Loopback only. The plugs sit on port 80 and discovery on UDP 20002, the ports the real
plugs and python-kasa use, so the script runs itself in a private network namespace
(``unshare -n``, or ``unshare -rn`` as an ordinary user) where those ports are free and
nothing leaves 127.0.0.0/8. Each part is bounded (the whole run takes about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

USER, PASSWORD = "demo@kshell.invalid", "demo-password"  # the simulator's DEMO_ACCOUNT
INFO_HOST, OLD_HOST = "127.32.0.2", "127.32.0.3"
WATCH_BASE = "127.33.0.1"
OLD_BASE, NEW_BASE = "127.34.0.1", "127.35.0.1"
BROADCAST = "127.255.255.255"
IN_NAMESPACE = "KSHELL_BENCH_NETNS"


# -- the simulator, in its own process ---------------------------------------------------
def serve(kind: str, n: int) -> None:
    """Run the plugs of one part until stdin closes (``--serve``; internal)."""
    from kshell.simulator.runner import METERED_SMART_MODELS, SimulatorThread, bulk_specs

    if kind == "info":
        specs = bulk_specs(1, INFO_HOST, udp_port=None, models=("P110(AU) 1.0",))
        specs += bulk_specs(1, OLD_HOST, udp_port=None, models=("HS110(EU) 2.0",))
    elif kind == "watch":
        specs = bulk_specs(n, WATCH_BASE, udp_port=None, models=METERED_SMART_MODELS)
    else:
        specs = bulk_specs(n // 2, OLD_BASE, udp_port=9999, tdp_port=None)
        specs += bulk_specs(n - n // 2, NEW_BASE, udp_port=None, models=METERED_SMART_MODELS)
    with SimulatorThread(specs):
        print("ready", flush=True)
        sys.stdin.read()


class Plugs:
    """``with Plugs("watch", 100):`` the simulator process for one part."""

    def __init__(self, kind: str, n: int) -> None:
        self.argv = [sys.executable, __file__, "--serve", kind, "--plugs", str(n)]
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if line.strip() != "ready":
            self.proc.kill()
            sys.exit(f"the simulator did not start: {line!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            if self.proc.stdin:
                self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- helpers -------------------------------------------------------------------------------
def make_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="kshell-bench-"))
    (home / "kshell.ini").write_text("[shell]\ntimeout = 5\n[discovery]\nrefresh_on_start = no\n")
    return home


def env() -> dict[str, str]:
    """The credentials; and bytecode written as a user's install has it (a warm-up run
    writes it), even where the caller's environment says PYTHONDONTWRITEBYTECODE."""
    out = dict(os.environ, KSHELL_USERNAME=USER, KSHELL_PASSWORD=PASSWORD)
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    return out


def kshell(home: Path, command: str) -> list[str]:
    return [sys.executable, str(ROOT / "shell.py"), "--home", str(home), "-c", command]


def kasa_cli() -> str:
    found = shutil.which("kasa") or str(Path(sys.executable).with_name("kasa"))
    if not Path(found).exists():
        sys.exit("python-kasa's 'kasa' CLI is not installed (pip install python-kasa)")
    return found


def timed(argv: list[str], check: Callable[[str], bool], cpu: list[float] | None = None) -> float:
    """Wall time of one run (and its CPU time appended to ``cpu``: on a shared machine
    the wall time moves with the others' load, the CPU time much less)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, cwd=ROOT, env=env(), check=False
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or not check(done.stdout):
        sys.exit(f"{' '.join(argv[:6])}... failed: {(done.stdout + done.stderr)[-400:]}")
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return elapsed


def showing(text: str) -> Callable[[str], bool]:
    return lambda out: text in out


def spread(samples: list[float], unit: float = 1000, fmt: str = "6.0f") -> str:
    return (
        f"median {statistics.median(samples) * unit:{fmt}}  "
        f"min {min(samples) * unit:{fmt}}  max {max(samples) * unit:{fmt}}"
    )


# -- 1. one-shot info ------------------------------------------------------------------
def bench_info(runs: int, before: Path | None) -> dict[str, float]:
    home, old_home = make_home(), make_home()
    login = ["--username", USER, "--password", PASSWORD]
    # name -> (argv, what its output must show)
    commands: dict[str, tuple[list[str], str]] = {
        "kshell": (kshell(home, f"info {INFO_HOST}"), "P110"),
        "kasa": ([kasa_cli(), "--host", INFO_HOST, *login, "state"], "P110"),
        "old": (kshell(home, f"info {OLD_HOST}"), "HS110"),
        "old kasa": ([kasa_cli(), "--host", OLD_HOST, "--type", "plug", "sysinfo"], "HS110"),
    }
    if before is not None:
        argv = kshell(old_home, f"info {OLD_HOST}")
        argv[1] = str(before / "shell.py")
        commands["old before"] = (argv, "HS110")
    samples: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    try:
        with Plugs("info", 2):
            for argv, shows in commands.values():  # warm up; our home now knows the plugs
                timed(argv, showing(shows))
            for r in range(runs):
                for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate
                    argv, shows = commands[name]
                    samples[name].append(timed(argv, showing(shows), cpu[name]))
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(old_home, ignore_errors=True)
    median = {name: statistics.median(values) for name, values in samples.items()}
    ratio = median["kshell"] / median["kasa"]
    cpu_median = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"1. one-shot info, {runs} runs each, order rotated every run; wall ms")
    print(f"   KLAP v2 plug (P110), kshell -c 'info HOST'      {spread(samples['kshell'])}")
    print(f"   KLAP v2 plug (P110), kasa --host H ... state    {spread(samples['kasa'])}")
    verdict = "met" if ratio <= 0.25 else "NOT met"
    print(f"   kshell / python-kasa: {ratio:.3f}  (goal <= 0.25: {verdict})")
    print(
        f"   CPU ms (median): kshell {cpu_median['kshell'] * 1000:.0f}, "
        f"python-kasa {cpu_median['kasa'] * 1000:.0f}, "
        f"ratio {cpu_median['kshell'] / cpu_median['kasa']:.3f}"
    )
    print(f"   old plug (HS110, 9999), kshell -c 'info HOST'   {spread(samples['old'])}")
    print(f"   old plug, kasa --host H --type plug sysinfo     {spread(samples['old kasa'])}")
    print(f"   old-generation ratio: {median['old'] / median['old kasa']:.3f}")
    print(
        f"   old plug CPU ms (median): kshell {cpu_median['old'] * 1000:.0f}, "
        f"python-kasa {cpu_median['old kasa'] * 1000:.0f}"
    )
    if before is not None:
        print(f"   old plug, kshell before ({before})  {spread(samples['old before'])}")
        print(f"   old plug, now / before: {median['old'] / median['old before']:.3f}")
        print(
            f"   old plug CPU ms (median): now {cpu_median['old'] * 1000:.0f}, "
            f"before {cpu_median['old before'] * 1000:.0f}"
        )
    return median


# -- 2. emeter watch -----------------------------------------------------------------------
def hosts_of(base: str, n: int) -> list[str]:
    from kshell.simulator.runner import addresses

    return addresses(base, n)


def kshell_watch(home: Path, seconds: float) -> tuple[float, float, int, float]:
    """(readings per second of wall time from process start, the same over the steady
    part, readings, CPU seconds per reading), from the JSON lines printed to a file (a
    reader would steal CPU)."""
    # 'all': the home knows exactly these plugs. (Addresses as targets do not reach a KLAP
    # plug in 'emeter watch' today: it stops at "did not announce itself on UDP 20002".)
    argv = kshell(home, f"emeter watch all --interval 0 --duration {seconds:g}")
    argv.insert(4, "--json")
    out_path = home / "samples.jsonl"
    try:
        started, before = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
        with out_path.open("wb") as out:
            done = subprocess.run(
                argv,
                stdout=out,
                stderr=subprocess.PIPE,
                cwd=ROOT,
                env=env(),
                timeout=60,
                check=False,
            )
        wall, after = time.time() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
        stamps = []
        with out_path.open("rb") as lines:
            for raw in lines:
                if raw.startswith(b'{"t":'):
                    sample = json.loads(raw)
                    if sample.get("status") == "ok":
                        stamps.append(sample["t"])
    finally:
        out_path.unlink(missing_ok=True)
    if not stamps:
        sys.exit(f"kshell printed no readings: {done.stderr.decode()[-400:]}")
    lo, hi = stamps[0] + 0.5, stamps[-1]
    steady = sum(lo <= t <= hi for t in stamps) / max(1e-9, hi - lo)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return len(stamps) / wall, steady, len(stamps), cpu / len(stamps)


async def kasa_watch(hosts: list[str], seconds: float) -> tuple[float, float, float, float]:
    """(get_emeter_data reads/s, CPU seconds per such read, energy-module reads/s,
    update()/s), all over the same kept sessions, made beforehand."""
    from kasa import Credentials, Device, DeviceConfig
    from kasa.deviceconfig import DeviceConnectionParameters

    params = DeviceConnectionParameters.from_values("SMART.TAPOPLUG", "KLAP", login_version=2)
    creds = Credentials(USER, PASSWORD)
    devices = await asyncio.gather(
        *(
            Device.connect(config=DeviceConfig(h, credentials=creds, connection_type=params))
            for h in hosts
        )
    )

    async def run(read: Callable[[Device], Awaitable[None]]) -> tuple[float, float]:
        count = 0
        stop = time.perf_counter() + seconds

        async def loop(dev: Device) -> None:
            nonlocal count
            while time.perf_counter() < stop:
                await read(dev)
                count += 1

        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(loop(d) for d in devices))
        rate = count / (time.perf_counter() - start)
        return rate, (time.process_time() - cpu) / max(1, count)

    async def energy(dev: Device) -> None:
        module = dev.modules["Energy"]
        answer = await dev.protocol.query(module.query())
        if not answer:
            raise RuntimeError("no energy answer")

    async def update(dev: Device) -> None:
        await dev.update()
        _ = dev.modules["Energy"].current_consumption  # type: ignore[attr-defined]

    async def one_method(dev: Device) -> None:
        # the one request kshell's reading makes: python-kasa's lightest possible read
        answer = await dev.protocol.query("get_emeter_data")
        if "power_mw" not in answer.get("get_emeter_data", {}):
            raise RuntimeError(f"no power in {answer}")

    best, cpu = await run(one_method)
    module, _ = await run(energy)
    full, _ = await run(update)
    for dev in devices:
        await dev.disconnect()
    return best, cpu, module, full


def bench_watch(n: int, seconds: float, rounds: int) -> dict[str, float]:
    hosts = hosts_of(WATCH_BASE, n)
    ours: list[float] = []
    steady: list[float] = []
    theirs: list[float] = []
    modules: list[float] = []
    full: list[float] = []
    home = make_home()  # a user's home: the plugs discovered once beforehand
    with Plugs("watch", n):
        timed(kshell(home, f"discover --target {BROADCAST} --timeout 2"), lambda out: True)
    try:
        watch_rounds(home, hosts, seconds, rounds, (ours, steady, theirs, modules, full))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return report_watch(n, seconds, rounds, ours, steady, theirs, modules, full)


def watch_rounds(
    home: Path,
    hosts: list[str],
    seconds: float,
    rounds: int,
    into: tuple[list[float], list[float], list[float], list[float], list[float]],
) -> None:
    ours, steady, theirs, modules, full = into
    n = len(hosts)
    for r in range(rounds):
        for who in ("kasa", "kshell") if r % 2 == 0 else ("kshell", "kasa"):
            with Plugs("watch", n):  # a fresh simulator for each measurement
                if who == "kshell":
                    rate, steady_rate, count, cpu = kshell_watch(home, seconds)
                    ours.append(rate)
                    steady.append(steady_rate)
                    print(
                        f"   round {r + 1}: kshell       {rate:7,.0f} readings/s from process "
                        f"start ({count} readings; steady {steady_rate:,.0f}/s; "
                        f"{cpu * 1e6:.0f} us CPU each, start-up included)"
                    )
                else:
                    best, cpu, module, upd = asyncio.run(kasa_watch(hosts, seconds))
                    theirs.append(best)
                    modules.append(module)
                    full.append(upd)
                    print(
                        f"   round {r + 1}: python-kasa  {best:7,.0f} get_emeter_data/s, "
                        f"{module:,.0f} energy-module reads/s, "
                        f"{upd:,.0f} update()/s; {cpu * 1e6:.0f} us CPU each get_emeter_data"
                    )


def report_watch(
    n: int,
    seconds: float,
    rounds: int,
    ours: list[float],
    steady: list[float],
    theirs: list[float],
    modules: list[float],
    full: list[float],
) -> dict[str, float]:
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"2. emeter watch over {n} SMART/KLAP plugs, {seconds:g} s, {rounds} rounds, readings/s")
    print(f"   kshell watch (from process start) {spread(ours, 1, '7,.0f')}")
    print(f"   kshell watch (steady part)        {spread(steady, 1, '7,.0f')}")
    print(f"   python-kasa get_emeter_data       {spread(theirs, 1, '7,.0f')}")
    print(f"   python-kasa energy module's query {spread(modules, 1, '7,.0f')}")
    print(f"   python-kasa dev.update(), gather  {spread(full, 1, '7,.0f')}")
    print(
        f"   kshell / python-kasa best: {ratio:.2f}  (goal >= 1: {'met' if ratio >= 1 else 'NOT met'})"
    )
    return {"watch_kshell": statistics.median(ours), "watch_kasa": statistics.median(theirs)}


# -- 3. discovery ----------------------------------------------------------------------
def kshell_discover(timeout: float) -> tuple[float, float, int]:
    """(wall time of the process, the command's own elapsed_s, plugs found)."""
    home = make_home()
    argv = kshell(home, f"discover --target {BROADCAST} --timeout {timeout:g}")
    argv.insert(4, "--json")
    try:
        started = time.perf_counter()
        done = subprocess.run(
            argv, capture_output=True, text=True, cwd=ROOT, env=env(), timeout=60, check=False
        )
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(home, ignore_errors=True)
    found: set[str] = set()
    own = float("nan")
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            report = json.loads(line)
            own = float(report.get("elapsed_s", own))
            found.update(_hosts_in(report.get("devices", [])))
    if not found:
        sys.exit(f"kshell discover found nothing: {(done.stdout + done.stderr)[-400:]}")
    return wall, own, len(found)


def _hosts_in(data: object) -> set[str]:
    """Every 127.x address a JSON document names (the report's shape may vary)."""
    out: set[str] = set()
    if isinstance(data, dict):
        for value in data.values():
            out |= _hosts_in(value)
    elif isinstance(data, list):
        for value in data:
            out |= _hosts_in(value)
    elif isinstance(data, str) and data.startswith(("127.34.", "127.35.")):
        out.add(data.split(":")[0])
    return out


def kasa_discover(timeout: int) -> tuple[float, int]:
    argv = [kasa_cli(), "--target", BROADCAST, "--discovery-timeout", str(timeout)]
    argv += ["--username", USER, "--password", PASSWORD, "discover", "list"]
    started = time.perf_counter()
    done = subprocess.run(
        argv, capture_output=True, text=True, cwd=ROOT, env=env(), timeout=60, check=False
    )
    wall = time.perf_counter() - started
    found = set()
    for word in done.stdout.replace('"', " ").replace(",", " ").split():
        if word.startswith(("127.34.", "127.35.")):
            found.add(word.split(":")[0])
    return wall, len(found)


def bench_discover(n: int, timeout: int, rounds: int) -> dict[str, float]:
    ours: list[float] = []
    own: list[float] = []
    theirs: list[float] = []
    ours_found: list[int] = []
    theirs_found: list[int] = []
    with Plugs("discover", n):
        for r in range(rounds):
            for who in ("kshell", "kasa") if r % 2 == 0 else ("kasa", "kshell"):
                if who == "kshell":
                    wall, elapsed, found = kshell_discover(timeout)
                    ours.append(wall)
                    own.append(elapsed)
                    ours_found.append(found)
                else:
                    wall, found = kasa_discover(timeout)
                    theirs.append(wall)
                    theirs_found.append(found)
    within = max(own) <= timeout + 0.1
    print(
        f"3. discovery of {n} mixed plugs ({n // 2} old, {n - n // 2} KLAP), "
        f"timeout {timeout} s, {rounds} alternating rounds"
    )
    print(
        f"   kshell discover: found {min(ours_found)}-{max(ours_found)}, process ms {spread(ours)}"
    )
    print(f"      the command's own time, ms {spread(own)}")
    print(
        f"   kasa discover list: found {min(theirs_found)}-{max(theirs_found)}, process ms {spread(theirs)}"
    )
    print(
        f"   all {n} found by kshell every round: {'yes' if min(ours_found) == n else 'NO'}; "
        f"within timeout + 0.1 s: {'yes' if within else 'NO'} (max {max(own) * 1000:.0f} ms)"
    )
    return {"discover_kshell": statistics.median(ours), "discover_found": min(ours_found)}


# -- main ------------------------------------------------------------------------------
def in_namespace(argv: list[str]) -> None:
    """Run again inside a fresh network namespace with only lo, unless already in one."""
    if os.environ.get(IN_NAMESPACE):
        return
    unshare = shutil.which("unshare")
    if unshare is None:
        sys.exit("needs 'unshare' (util-linux) to run in a private network namespace")
    flags = "-n" if os.geteuid() == 0 else "-rn"
    inner = "ip link set lo up && exec " + shlex.join([sys.executable, __file__, *argv])
    env_ = dict(os.environ, **{IN_NAMESPACE: "1"})
    sys.exit(subprocess.run([unshare, flags, "sh", "-c", inner], env=env_, check=False).returncode)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="Runs in its own network namespace on loopback; about a minute with defaults.",
    )
    parser.add_argument("--only", default="info,watch,discover", help="parts to run (comma list)")
    parser.add_argument("--runs", type=int, default=10, help="info: runs each (default 10)")
    parser.add_argument("--plugs", type=int, default=100, help="watch: plugs (default 100)")
    parser.add_argument("--seconds", type=float, default=3.0, help="watch: seconds (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="watch/discover rounds (default 3)")
    parser.add_argument("--discover-plugs", type=int, default=200, help="default 200")
    parser.add_argument("--timeout", type=int, default=1, help="discover: seconds (default 1)")
    parser.add_argument(
        "--before",
        type=Path,
        help="info: also time the old-generation one-shot of an earlier kshell checkout "
        "(a directory with its shell.py, e.g. from 'git archive COMMIT | tar -x -C DIR')",
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.plugs)
        return
    in_namespace(sys.argv[1:])
    parts = {p.strip() for p in args.only.split(",")}
    if "info" in parts:
        bench_info(args.runs, args.before.resolve() if args.before else None)
    if "watch" in parts:
        bench_watch(args.plugs, args.seconds, args.rounds)
    if "discover" in parts:
        bench_discover(args.discover_plugs, args.timeout, args.rounds)


if __name__ == "__main__":
    main()
