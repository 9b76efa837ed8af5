"""A peer the suite needs but cannot find is one clear failure naming it: never a hang, never
a silent skip. The suite is run again in a child process whose PATH holds only Python."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_a_missing_peer_stops_the_run_and_is_named(tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(bare)}  # no node, no tmux, no influxd on this PATH
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(HERE / "lang" / "test_grammar.py"),
        ],
        check=False,
        cwd=HERE.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    said = run.stdout + run.stderr
    assert run.returncode == 4, said
    assert "test peers missing" in said and "run tests/peers.sh" in said, said
    assert "tmux (Debian package tmux)" in said and "node (Debian package nodejs)" in said, said
    assert "passed" not in said and "skipped" not in said, said
