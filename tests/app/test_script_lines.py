"""A script runs through one output, told each line's place (issue 23: it was a new
Output subclass per line)."""

from __future__ import annotations

import asyncio
import io
import json

from kshell.app import cli
from kshell.errors import TargetError
from kshell.ui import runner
from kshell.ui.output import Output


def test_one_output_is_told_each_lines_label(tmp_path, monkeypatch):
    script = tmp_path / "evening.ksh"
    script.write_text("on Kitchen\n# a comment\n\noff Hall\nled Desk off\n")
    seen: list[tuple[int, str]] = []

    async def run_line(session, text, output):
        seen.append((id(output), output.line_label))
        output.error(TargetError(f"no plug for '{text}'"))
        return True

    monkeypatch.setattr(runner, "run_line", run_line)
    output = Output(io.StringIO(), io.StringIO())
    code = asyncio.run(cli._run_script(None, str(script), output, keep_going=True))  # type: ignore[arg-type]
    assert code == cli.EXIT_OK
    assert seen == [
        (id(output), f"{script}:1"),
        (id(output), f"{script}:4"),
        (id(output), f"{script}:5"),
    ]
    assert output.line_label == ""  # nothing after the script is labelled
    errors = output.err.getvalue().splitlines()  # type: ignore[attr-defined]
    assert errors == [
        f"error: {script}:1: no plug for 'on Kitchen'",
        f"error: {script}:4: no plug for 'off Hall'",
        f"error: {script}:5: no plug for 'led Desk off'",
    ]


def test_a_labelled_error_keeps_its_kind_in_json():
    output = Output(io.StringIO(), io.StringIO(), as_json=True)
    output.line_label = "evening.ksh:3"
    output.error(TargetError("no plug named Hall"))
    error = json.loads(output.err.getvalue())["error"]  # type: ignore[attr-defined]
    assert error["message"] == "evening.ksh:3: no plug named Hall"
    assert error["kind"] == "target"  # not the plain "error" a new KshellError has
