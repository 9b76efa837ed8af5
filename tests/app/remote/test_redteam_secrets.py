"""Red team, secrets (issue 9): a password never reaches output, even from a mistyped URL.

``[remote] source = imap:/user:PASSWORD@host`` (one slash) or ``imap//...`` (no colon)
was echoed whole in the one-line error, with ``--debug`` and ``--json`` alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.shell import run_shell, write_config

PASSWORD = "hunter2pass"
GOOD_SOURCE = "maildir:/tmp/nowhere-kshell-redteam"


@pytest.mark.parametrize(
    ("source", "reply"),
    [
        (f"imap:/user:{PASSWORD}@127.0.0.1/INBOX", ""),
        (f"imap//user:{PASSWORD}@127.0.0.1", ""),
        (f"IMAP:user:{PASSWORD}@127.0.0.1", ""),
        (GOOD_SOURCE, f"smtp//user:{PASSWORD}@127.0.0.1:25"),
        (GOOD_SOURCE, f"smtp:/user:{PASSWORD}@127.0.0.1:25"),
    ],
)
def test_a_mistyped_url_is_refused_without_its_password(
    tmp_path: Path, source: str, reply: str
) -> None:
    home = tmp_path / "home"
    write_config(
        home,
        extra=f"\n[remote]\nsource = {source}\n"
        + (f"reply = {reply}\n" if reply else "")
        + "\n[senders]\na@home.test = read\n",
    )
    for args in (
        ["-c", "remote status"],
        ["--json", "-c", "remote status"],
        ["--debug", "--listen"],
    ):
        result = run_shell(home, *args, timeout=20)
        assert result.returncode != 0, args
        assert PASSWORD not in result.stdout + result.stderr, (args, result.stderr)
        assert "***" in result.stdout + result.stderr, (args, result.stderr)
