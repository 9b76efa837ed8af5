"""Completion and highlighting latency with 1,000 known plugs (goal: p99 under 10 ms),
with unique-prefix and accent folding and capability filtering (``emeter day`` offers only
plugs with a meter).

    python bench/bench_completion.py [--plugs N] [--rounds N]

Measures what one keystroke costs at the prompt: the prompt_toolkit Completer over the
engine (every Completion built, as the menu needs them) and the lexer over the line.
The device index is built once per command, not per keystroke; its build time is shown
on its own.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from kshell.app.repl.lexer import KshellLexer
from kshell.lang.registry import build_registry
from kshell.store.devices import DeviceRecord
from kshell.ui.completer.engine import Model
from kshell.ui.completer.prompt import KshellCompleter
from kshell.ui.completer.targets import TargetIndex

MODELS = ("HS100(US)", "HS105(US)", "HS110(EU)", "KP115(EU)", "HS300(US)")
METERED = ("HS110(EU)", "KP115(EU)", "HS300(US)")  # completion filters meter commands by these
LINES = (
    "",
    "o",
    "on ",
    "on Pl",
    "on plug 09",
    "on kit",
    "on 127.30.1.",
    "on 50:C7:BF:00:0",
    "info Strip 12",
    "led Plug 0500 ",
    "discover --",
    "emeter",
    "emeter day ",
    "emeter day pl",
    "emeter watch Plug 0001 ",
    "led pl",
    "on bu",
    "on büro 01",
    "on Plug 0001 Plug 0002 P",
)


def fleet(n: int) -> list[DeviceRecord]:
    out = []
    for i in range(n):
        strip = i % 25 == 0
        kids = (
            [
                {"number": k, "id": f"{i:04d}{k:02d}", "alias": f"Socket {k}", "state": "on"}
                for k in range(1, 7)
            ]
            if strip
            else []
        )
        out.append(
            DeviceRecord(
                f"127.30.{i // 250}.{i % 250 + 1}",
                alias=f"Strip {i:04d}"
                if strip
                else (f"Büro {i:04d}" if i % 10 == 3 else f"Plug {i:04d}"),
                mac=f"50:C7:BF:00:{i // 256:02X}:{i % 256:02X}",
                model=MODELS[i % len(MODELS)],
                kind="strip" if strip else "plug",
                emeter=strip or MODELS[i % len(MODELS)] in METERED,
                state="on" if i % 3 else "off",
                online=i % 17 != 0,
                children=kids,
            )
        )
    return out


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=40)
    opts = parser.parse_args()
    records = fleet(opts.plugs)
    registry = build_registry()
    model = Model(registry, lambda: records, max_age=3600)
    completer = KshellCompleter(model)
    lexer = KshellLexer(model)

    builds = []
    for _ in range(10):
        started = time.perf_counter()
        TargetIndex.build(records)
        builds.append((time.perf_counter() - started) * 1000)
    model.index()

    complete_ms: list[float] = []
    lex_ms: list[float] = []
    shown = 0
    event = CompleteEvent(text_inserted=True)
    for _ in range(opts.rounds):
        for line in LINES:
            document = Document(line)
            started = time.perf_counter()
            found = list(completer.get_completions(document, event))
            complete_ms.append((time.perf_counter() - started) * 1000)
            shown = max(shown, len(found))
            started = time.perf_counter()
            list(lexer.get_tokens_unprocessed(line))  # as typed: the last word unfinished
            lex_ms.append((time.perf_counter() - started) * 1000)

    print(
        f"completion with {opts.plugs} known plugs ({len(complete_ms)} keystrokes, "
        f"{len(LINES)} kinds of line, menus of up to {shown} items)"
    )
    for name, samples in (("complete", complete_ms), ("highlight", lex_ms)):
        print(
            f"  {name:<10} p50 {statistics.median(samples):6.2f} ms   "
            f"p99 {percentile(samples, 99):6.2f} ms   max {max(samples):6.2f} ms"
        )
    print(f"  index build (once per command): median {statistics.median(builds):.2f} ms")
    p99 = percentile(complete_ms, 99)
    print(f"goal p99 < 10 ms: {'met' if p99 < 10 else 'NOT met'} ({p99:.2f} ms)")


if __name__ == "__main__":
    main()
