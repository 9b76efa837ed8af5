"""The session holds what lives above core behind interfaces, and the app hands them in."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest
from kshell.history import record
from kshell.history.replay import Step, run_steps

from kshell.app.build import build_session
from kshell.core.session import Session
from kshell.errors import KshellError
from kshell.results import Text


def _session(tmp_path: Path) -> Session:
    return build_session(argparse.Namespace(home=str(tmp_path / "h"), config=None, commands=[]))


async def _collect(session: Session, steps: list[Step]) -> list[object]:
    return [item async for item in run_steps(session, steps)]


def test_replay_runs_its_lines_through_the_runner_the_app_installed(tmp_path):
    session = _session(tmp_path)
    ran: list[str] = []

    async def runner(session: Session, text: str, deliver) -> bool:  # type: ignore[no-untyped-def]
        ran.append(text)
        deliver(Text(f"ran {text}"))
        return True

    session.run_line = runner
    out = asyncio.run(_collect(session, [Step("#1", "help"), Step("#2", "version")]))
    assert ran == ["help", "version"]
    assert [o.text for o in out if isinstance(o, Text)][1] == "ran help"


def test_a_session_no_app_built_says_replay_has_no_runner(tmp_path):
    session = _session(tmp_path)
    session.run_line = None
    with pytest.raises(KshellError, match="no runner"):
        asyncio.run(_collect(session, [Step("#1", "help")]))


def test_build_session_hands_in_the_runner_and_the_mail_stack(tmp_path):
    session = _session(tmp_path)
    assert session.run_line is not None and session.mail is not None


def test_the_recorder_is_an_after_command_hook(tmp_path):
    session = _session(tmp_path)
    recorder = record.start(session, tmp_path / "s.kshell")
    assert session.after_command == [recorder] and record.active(session) is recorder
    assert record.stop(session) is recorder
    assert session.after_command == [] and record.active(session) is None
