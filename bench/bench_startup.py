"""Time from start to the first prompt (goal: under half a second), beside python-kasa's.

    python bench/bench_startup.py [--runs N] [--plugs N]

Starts the shell in a pseudo-terminal with a device cache of N known plugs (so the cache
load is part of the figure) and the start-up discovery switched off (it runs in the
background and never delays the prompt anyway), and stops the clock when the prompt is
drawn. For comparison: a bare interpreter, our one-shot command, and python-kasa's
import-to-ready time (``import kasa`` and ``kasa --help``, the point where its CLI can
take a command).
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

import pexpect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_home(plugs: int) -> Path:
    from kshell.store.devices import DeviceRecord, DeviceStore

    home = Path(tempfile.mkdtemp(prefix="kshell-bench-"))
    (home / "kshell.ini").write_text("[discovery]\nrefresh_on_start = no\n")
    cache = DeviceStore(home / "devices.db")
    for i in range(plugs):
        cache.observe(
            DeviceRecord(
                f"127.40.{i // 250}.{i % 250 + 1}",  # never contacted: loopback anyway
                alias=f"Plug {i:04d}",
                mac=f"50:C7:BF:00:{i // 256:02X}:{i % 256:02X}",
                model="HS110(EU)",
            )
        )
    return home


def to_prompt(home: Path) -> float:
    env = dict(os.environ, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
    started = time.perf_counter()
    child = pexpect.spawn(
        sys.executable,
        [str(ROOT / "shell.py"), "--home", str(home)],
        env=env,
        dimensions=(30, 120),
        encoding="utf-8",
        timeout=20,
    )
    child.expect("Ctrl-D exits")
    child.expect("kshell")  # the prompt itself, drawn after the banner
    elapsed = time.perf_counter() - started
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    return elapsed


def wall(argv: list[str]) -> float:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode as an installed package has it
    started = time.perf_counter()
    subprocess.run(argv, check=False, capture_output=True, timeout=60, cwd=ROOT, env=env)
    return time.perf_counter() - started


def figure(name: str, samples: list[float]) -> None:
    print(
        f"  {name:<44} median {statistics.median(samples) * 1000:6.0f} ms   "
        f"min {min(samples) * 1000:6.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--plugs", type=int, default=1000)
    opts = parser.parse_args()
    home = make_home(opts.plugs)
    try:
        to_prompt(home)  # warm the file cache and the command index
        prompt = [to_prompt(home) for _ in range(opts.runs)]
        ours = [sys.executable, "shell.py", "--home", str(home), "-c", "help"]
        kasa_cli = shutil.which("kasa") or str(Path(sys.executable).with_name("kasa"))
        theirs = [kasa_cli, "--help"] if Path(kasa_cli).exists() else None
        wall(ours)  # bytecode written, as a second run would have it
        one_shot, kasa_help = [], []
        for _ in range(opts.runs):  # paired: the two take turns, so both see the same load
            one_shot.append(wall(ours))
            if theirs:
                kasa_help.append(wall(theirs))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    bare = [wall([sys.executable, "-c", "pass"]) for _ in range(opts.runs)]
    kasa_import = [wall([sys.executable, "-c", "import kasa"]) for _ in range(opts.runs)]

    print(f"start-up ({opts.runs} runs each)")
    figure(f"kshell: start to first prompt ({opts.plugs} known plugs)", prompt)
    figure("kshell: one-shot 'shell.py -c help'", one_shot)
    figure("python: bare interpreter ('python -c pass')", bare)
    figure("python-kasa: 'import kasa'", kasa_import)
    if kasa_help:
        figure("python-kasa: 'kasa --help' (CLI ready)", kasa_help)
        ratio = statistics.median(one_shot) / statistics.median(kasa_help)
        print(f"  one-shot ratio kshell/python-kasa (medians, paired runs): {ratio:.2f}")
    else:
        print("  python-kasa's CLI not installed: 'kasa --help' not measured")
    median = statistics.median(prompt)
    print(
        f"goal first prompt < 500 ms: {'met' if median < 0.5 else 'NOT met'} "
        f"({median * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
