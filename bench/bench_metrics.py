"""A Prometheus scrape of many simulated plugs: kshell's exporter vs python-kasa's best.

    python bench/bench_metrics.py [--plugs 500] [--slow 10] [--scrapes 5] [--soak SECONDS]

* kshell: ``kshell --serve-metrics`` over a device store of ``--plugs`` plugs, of which
  ``--slow`` answer only after 10 s (longer than the scrape deadline); each scrape is a GET
  of ``/metrics`` (``[metrics] min_interval = 0``: every scrape polls every plug). Reported:
  the time until the page is complete (goal: the deadline + 0.1 s at most, whatever the
  slow plugs do), the plugs up on the page, and the exporter's CPU time per plug per scrape
  (from /proc, the whole process: polling, judging, the exposition).
* python-kasa at its best, as the reference for what polling costs: every plug read
  concurrently in one asyncio loop (``IotProtocol.query`` of sysinfo and the realtime meter
  in one request, kept-open connections), one round per "scrape", slow plugs left out (it
  has no deadline of its own to bound them).
* ``--soak S``: scrape every 5 s for S seconds and print the exporter's resident memory
  over time (flat is the goal; an hour is ``--soak 3600``).

The plugs run in another process (kshell's simulator), on 127.81.x.x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = "127.81.0.1"  # this benchmark's loopback range
DEADLINE = 5.0
REQUEST = {"system": {"get_sysinfo": {}}, "emeter": {"get_realtime": {}}}
MODELS = ("HS110(EU) 1.0", "HS110(EU) 2.0", "KP115(EU) 1.0")


def start_simulator(n: int, slow: int) -> tuple[subprocess.Popen[str], list[str]]:
    """The plugs in a process of their own; a line "slow" on its stdin makes the first
    ``slow`` of them answer only after 10 s (once the store knows them)."""
    code = (
        "import sys\n"
        "from kshell.simulator.runner import SimulatorThread, bulk_specs\n"
        f"specs = bulk_specs({n}, base={BASE!r}, udp_port=None, models={MODELS!r})\n"
        "with SimulatorThread(specs, start_timeout=120) as sim:\n"
        "    print(' '.join(s.host for s in specs), flush=True)\n"
        "    for line in sys.stdin:\n"
        f"        for spec in specs[:{slow}]:\n"
        "            sim.set_fault(spec.host, 'delay', 10.0)\n"
        "        print('ok', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.strip():
        proc.kill()
        sys.exit("the simulator did not start")
    return proc, line.split()


def make_home(hosts: list[str]) -> Path:
    """A state folder whose device store knows every plug, through the shell's own `add`."""
    home = Path(tempfile.mkdtemp(prefix="kshell-bench-metrics-"))
    (home / "kshell.ini").write_text(
        "[shell]\ntimeout = 10\n[discovery]\nbroadcast = 127.255.255.255\n"
        "refresh_on_start = no\n[metrics]\nmin_interval = 0\n"
    )
    script = home / "add.txt"
    script.write_text("".join(f"add {host}\n" for host in hosts))
    subprocess.run(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home), str(script)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return home


def start_exporter(home: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home)]
        + ["--serve-metrics", "127.0.0.1:0", "--scrape-timeout", str(DEADLINE)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    found = re.search(r"http://\S+/metrics", line)
    if not found:
        proc.kill()
        sys.exit(f"the exporter did not start: {line!r}")
    return proc, found.group(0)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scrape(url: str) -> tuple[float, int, int]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.perf_counter()
    page = opener.open(url, timeout=DEADLINE + 10).read().decode()
    took = time.perf_counter() - started
    up = page.count("} 1.0\n", page.find("# TYPE kasa_up"), page.find("# HELP kasa_scrape"))
    plugs = page.count("\nkasa_up{")
    return took, up, plugs


async def kasa_rounds(hosts: list[str], rounds: int) -> tuple[float, float]:
    """python-kasa: every plug concurrently, one request each per round; best round time,
    and CPU per plug per round."""
    from kasa.deviceconfig import DeviceConfig
    from kasa.protocols import IotProtocol
    from kasa.transports import XorTransport

    protocols = [IotProtocol(transport=XorTransport(config=DeviceConfig(h))) for h in hosts]
    await asyncio.gather(*(p.query(REQUEST) for p in protocols))  # connect once
    times = []
    cpu = time.process_time()
    for _ in range(rounds):
        started = time.perf_counter()
        answers = await asyncio.gather(*(p.query(REQUEST) for p in protocols))
        times.append(time.perf_counter() - started)
        assert all("emeter" in a for a in answers)
    cpu_each = (time.process_time() - cpu) / (rounds * len(hosts))
    for proto in protocols:
        await proto.close()
    return min(times), cpu_each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plugs", type=int, default=500)
    parser.add_argument("--slow", type=int, default=10, help="plugs slower than the deadline")
    parser.add_argument("--scrapes", type=int, default=5)
    parser.add_argument("--soak", type=float, default=0, help="seconds of scrapes every 5 s")
    args = parser.parse_args()

    sim, hosts = start_simulator(args.plugs, args.slow)
    exporter = None
    try:
        home = make_home(hosts)
        assert sim.stdin and sim.stdout
        sim.stdin.write("slow\n")
        sim.stdin.flush()
        sim.stdout.readline()
        exporter, url = start_exporter(home)
        scrape(url)  # the first scrape opens the connections
        cpu = cpu_seconds(exporter.pid)
        runs = [scrape(url) for _ in range(args.scrapes)]
        cpu_each = (cpu_seconds(exporter.pid) - cpu) / (args.scrapes * args.plugs)
        took = [r[0] for r in runs]
        print(f"kshell exporter, {args.plugs} plugs ({args.slow} slower than the deadline):")
        print(
            f"  page complete in {statistics.median(took):.3f} s median, {max(took):.3f} s max "
            f"(deadline {DEADLINE:.0f} s; goal <= {DEADLINE + 0.1:.1f} s)"
        )
        print(f"  plugs on the page {runs[-1][2]}, up {runs[-1][1]}")
        print(f"  exporter CPU per plug per scrape: {cpu_each * 1e6:.0f} us")
        best, kasa_cpu = asyncio.run(kasa_rounds(hosts[args.slow :], args.scrapes))
        print(f"python-kasa best, {len(hosts) - args.slow} plugs concurrently (no slow ones):")
        print(f"  best round {best:.3f} s; CPU per plug per round: {kasa_cpu * 1e6:.0f} us")
        if args.soak > 0:
            print("soak: seconds, scrape s, RSS MiB")
            end = time.monotonic() + args.soak
            while time.monotonic() < end:
                took_s, _, _ = scrape(url)
                elapsed = args.soak - (end - time.monotonic())
                print(f"  {elapsed:7.0f}  {took_s:6.3f}  {rss_mib(exporter.pid):7.1f}", flush=True)
                time.sleep(max(0.0, 5.0 - took_s))
    finally:
        if exporter is not None:
            exporter.terminate()
            exporter.wait(10)
        if sim.stdin:
            sim.stdin.close()
        sim.wait(30)


if __name__ == "__main__":
    main()
