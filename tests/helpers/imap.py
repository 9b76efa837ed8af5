"""Remote mode against a real IMAP server (Dovecot): the config that points a home at a
mailbox, and a listener run in this process while a scenario delivers mail."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace

from helpers.dovecot import Dovecot, ReplySink
from helpers.shell import write_config
from kshell.app.build import build_session
from kshell.app.remote.service import AUDIT_NAME, RemoteService


def configure(
    home: Path, server: Dovecot, user: str, sink: ReplySink, extra: str = "", shared: bool = False
) -> None:
    """``shared`` False: the INBOX is the listener's alone (every mail is handled and moved,
    as in a dedicated folder); True: a shared INBOX, as auto decides (only orders are taken)."""
    url = f"imap://{user}:{server.users[user]}@127.0.0.1:{server.port}/INBOX"
    write_config(
        home,
        extra=(
            f"\n[remote]\nsource = {url}\n"
            + ("" if shared else "folder_shared = no\n")
            + f"reply = smtp://127.0.0.1:{sink.port}\nreply_from = kshell@home.test\n"
            "trusted_authserv_id = mx.home.test\n"
            + extra
            + "\n[senders]\nboss@home.test = control\n"
        ),
    )


LINES: list[str] = []  # what the current listener reported (shown when a wait gives up)


def listen(home: Path, scenario: Callable[[RemoteService], Awaitable[None]]) -> list[str]:
    """Run a listener on ``home`` during ``scenario``; returns what it reported."""
    lines = LINES
    lines.clear()

    async def main() -> None:
        ctx = build_session(
            SimpleNamespace(
                home=str(home), config=None, commands=[], timeout=None, yes=False, debug=False
            )
        )
        service = RemoteService(ctx, lines.append)
        await service.start()
        try:
            await scenario(service)
        finally:
            await service.stop()

    asyncio.run(main())
    return list(lines)


async def until(check: Callable[[], bool], what: str) -> None:
    for _ in range(1500):
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}; the listener said: {LINES[-6:]}")


def audit(home: Path) -> list[dict]:
    path = home / AUDIT_NAME
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
