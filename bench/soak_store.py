"""Soak: one home, three kshell processes editing it at once; no edit may be lost.

    python bench/soak_store.py [--minutes 60] [--seed 1]

Two one-shot loops (``shell.py -c ...`` again and again) and an open shell in a real
terminal (tmux) share one state folder and run mixed commands: add, forget, alias,
discover. Each one-shot loop owns a few plugs that broadcast cannot find (so only its own
add and forget decide whether they are known) and renames them; the open shell owns a few
more, and renames the broadcast-visible plugs between discoveries. At the end the store must
hold exactly what the last successful command on each plug left: known or not, and its
name as the plug itself reports it. ``tests/store/test_store.py`` runs the same work for ~30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from kshell.simulator import PlugSpec, SimulatorThread

BASE = "127.62"  # this soak's loopback range: 127.62.W.N, W = 1 and 2 one-shot, 3 the shell


@dataclass
class Ledger:
    """What the last successful command on each plug left: known, and under which name."""

    known: dict[str, bool] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    commands: int = 0
    failures: list[str] = field(default_factory=list)


def house(per_worker: int = 3, visible: int = 3) -> list[PlugSpec]:
    """Broadcast-visible plugs first (the fleet's UDP port is the first plug's), then each
    worker's hidden plugs (no UDP: only add and forget say whether they are known)."""
    specs = [
        PlugSpec(host=f"{BASE}.9.{i + 2}", alias=f"Seen {i + 1}", udp_port=0)
        for i in range(visible)
    ]
    for worker in (1, 2, 3):
        specs += [
            PlugSpec(host=f"{BASE}.{worker}.{i + 2}", alias=f"W{worker} {i + 1}", udp_port=None)
            for i in range(per_worker)
        ]
    return specs


def write_home(home: Path, udp_port: int) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "kshell.ini").write_text(
        "[shell]\ntimeout = 2\n\n"
        f"[discovery]\nbroadcast = 127.255.255.255\nport = {udp_port}\ntimeout = 0.3\n"
        "refresh_on_start = no\n"
    )


def one_shot(home: Path, line: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - the caller reads the status
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home), "-c", line],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )


def one_shot_loop(home: Path, worker: int, hosts: list[str], until: float, seed: int) -> Ledger:
    """Random add / forget / alias / discover on this worker's plugs until ``until``."""
    rng = random.Random(seed * 100 + worker)
    ledger = Ledger()
    round_ = 0
    while time.monotonic() < until:
        round_ += 1
        host = rng.choice(hosts)
        verb = rng.choice(("add", "forget", "alias", "discover"))
        name = f"W{worker} {hosts.index(host) + 1} r{round_}"
        line = {
            "add": f"add {host}",
            "forget": f"forget {host}",
            "alias": f'alias {host} "{name}"',
            "discover": "discover",
        }[verb]
        out = one_shot(home, line)
        ledger.commands += 1
        if verb == "forget":  # fails only when it was not known: not known either way
            ledger.known[host] = False
        elif out.returncode != 0:
            ledger.failures.append(f"{line}: {out.stderr.strip()}")
        elif verb in ("add", "alias"):
            ledger.known[host] = True  # alias reached the plug at its address: it is known
            if verb == "alias":
                ledger.names[host] = name
    return ledger


def shell_loop(terminal: object, hosts: list[str], seen: list[str], until: float) -> Ledger:
    """The open shell: adds and forgets its own plugs, discovers, renames the visible plugs.

    The shell runs lines one after another, so the unique answer to each round's last line
    (the rename) says the whole round is done.
    """
    ledger = Ledger()
    round_ = 0
    while time.monotonic() < until:
        round_ += 1
        host = hosts[round_ % len(hosts)]
        visible = seen[round_ % len(seen)]
        name = f"Seen {seen.index(visible) + 1} s{round_}"
        verb = "add" if round_ % 4 in (1, 2) else "forget"
        for line in (f"{verb} {host}", "discover", f'alias {visible} "{name}"'):
            terminal.send(line)  # type: ignore[attr-defined]
            terminal.key("Enter")  # type: ignore[attr-defined]
        terminal.expect(re.escape(f"renamed to {name}"), timeout=60)  # type: ignore[attr-defined]
        ledger.commands += 3
        ledger.known[host] = verb == "add"
        ledger.names[visible] = name
    # one more discovery after everyone else stopped: a shell that wrote back its stale copy
    # of the store would undo the others' edits here
    terminal.send("discover; alias " + seen[0] + ' "Seen 1 last"')  # type: ignore[attr-defined]
    terminal.key("Enter")  # type: ignore[attr-defined]
    terminal.expect(re.escape("renamed to Seen 1 last"), timeout=60)  # type: ignore[attr-defined]
    ledger.names[seen[0]] = "Seen 1 last"
    return ledger


def stored(home: Path) -> dict[str, dict[str, object]]:
    """What a fresh process sees in the store, by host."""
    out = subprocess.run(  # noqa: PLW1510 - an empty answer fails below
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home), "--json", "-c", "devices"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    devices = json.loads(out.stdout.splitlines()[0])["devices"] if out.stdout.strip() else []
    return {d["host"]: d for d in devices}


def lost_edits(home: Path, sim: SimulatorThread, ledgers: list[Ledger]) -> list[str]:
    """Every way the store differs from what the commands left; empty when nothing was lost."""
    now = stored(home)
    actual = {p.host: p.alias for p in sim.plugs}
    problems = []
    for ledger in ledgers:
        problems += ledger.failures
        for host, known in ledger.known.items():
            if known != (host in now):
                problems.append(f"{host}: {'known' if known else 'forgotten'} but store says not")
        for host, name in ledger.names.items():
            if actual[host] != name:
                problems.append(f"{host}: plug says {actual[host]!r}, last rename {name!r}")
    for host, record in now.items():
        if record["alias"] != actual[host]:
            problems.append(f"{host}: store says {record['alias']!r}, plug {actual[host]!r}")
    return problems


def run(home: Path, sim: SimulatorThread, seconds: float, seed: int, terminal: object) -> dict:
    """The three processes for ``seconds``; returns the ledgers' totals and what was lost."""
    hidden = {
        w: [p.host for p in sim.plugs if p.host.startswith(f"{BASE}.{w}.")] for w in (1, 2, 3)
    }
    seen = [p.host for p in sim.plugs if p.host.startswith(f"{BASE}.9.")]
    assert one_shot(home, "discover").returncode == 0
    until = time.monotonic() + seconds
    results: dict[int, Ledger] = {}
    threads = [
        threading.Thread(
            target=lambda w=w: results.__setitem__(
                w, one_shot_loop(home, w, hidden[w], until, seed)
            )
        )
        for w in (1, 2)
    ]
    for thread in threads:
        thread.start()
    shell = shell_loop(terminal, hidden[3], seen, until)
    for thread in threads:
        thread.join()
    ledgers = [results[1], results[2], shell]
    return {
        "commands": sum(ledger.commands for ledger in ledgers),
        "lost": lost_edits(home, sim, ledgers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from helpers.terminal import Terminal

    with SimulatorThread(house()) as sim, tempfile.TemporaryDirectory(prefix="kshell-soak-") as tmp:
        home = Path(tmp) / "home"
        write_home(home, sim.udp_port or 9999)
        terminal = Terminal(home)
        try:
            started = time.monotonic()
            outcome = run(home, sim, args.minutes * 60, args.seed, terminal)
            terminal.leave()
        finally:
            terminal.close()
        elapsed = time.monotonic() - started
    print(f"{outcome['commands']} commands in {elapsed:.0f} s by 3 processes on one home")
    if outcome["lost"]:
        print(f"LOST {len(outcome['lost'])} edit(s):")
        for problem in outcome["lost"]:
            print("  " + problem)
        sys.exit(1)
    print("nothing lost")


if __name__ == "__main__":
    main()
