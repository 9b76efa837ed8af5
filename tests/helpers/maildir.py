"""Remote mode over the default Maildir source, in this process: a RemoteService on a test
home and one simulated plug's address on 127.50.1.x."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

from helpers.dovecot import ReplySink
from helpers.mail import SECRET
from helpers.shell import write_config
from kshell.app.build import build_session
from kshell.app.remote.service import AUDIT_NAME, RemoteService

PLUG = "127.50.1.2"


class Listener:
    """A running RemoteService on a test home; ``deliver`` waits until the mail is handled."""

    def __init__(self, home: Path) -> None:
        args = SimpleNamespace(
            home=str(home), config=None, commands=[], timeout=None, yes=False, debug=False
        )
        self.home = home
        self.session = build_session(args)
        self.lines: list[str] = []
        self.service = RemoteService(self.session, self.lines.append)
        self.maildir = home / "Maildir"
        self.count = 0

    async def deliver(self, raw: bytes) -> None:
        await self.until_moved(self.drop(raw))

    def drop(self, raw: bytes) -> Path:
        """Deliver ``raw`` without waiting; returns where it lands once handled."""
        self.count += 1
        name = f"{time.time():.6f}.T{self.count}.test"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(raw)
        os.replace(tmp, self.maildir / "new" / name)
        self.service.source.wake()
        return self.maildir / ".Executed" / "cur" / f"{name}:2,S"

    async def until_moved(self, done: Path, seconds: float = 15) -> None:
        name = done.name.split(":", 1)[0]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if done.exists():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{name} was not handled; listener said: {self.lines[-5:]}")

    def audit(self) -> list[dict]:
        path = self.home / AUDIT_NAME
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def configure(
    home: Path,
    sink: ReplySink,
    extra: str = "",
    senders: str = "",
    totp: str = "",
    udp_port: int = 9999,
) -> None:
    write_config(
        home,
        udp_port=udp_port,
        extra=(
            "\n[remote]\n"
            f"reply = smtp://127.0.0.1:{sink.port}\nreply_from = kshell@home.test\n"
            "trusted_authserv_id = mx.home.test\n"
            + extra
            + f"\n[totp]\nboss@home.test = {SECRET}\n{totp}"
            + "\n[senders]\n"
            + (
                senders
                or "boss@home.test = control\nreader@home.test = read\nroot@home.test = admin\n"
            )
        ),
    )


async def _listening(home: Path) -> AsyncIterator[Listener]:
    listener = Listener(home)
    await listener.service.start()
    try:
        yield listener
    finally:
        await listener.service.stop()


def run(home: Path, scenario) -> Listener:  # type: ignore[no-untyped-def]
    """Run ``scenario(listener)`` with a listener on ``home``; returns the listener after."""

    async def main() -> Listener:
        gen = _listening(home)
        listener = await gen.__anext__()
        try:
            await scenario(listener)
        finally:
            await gen.aclose()
        return listener

    return asyncio.run(main())


def ran(listener: Listener) -> list[str]:
    return [a["command"] for a in listener.audit() if a["command"] and a["outcome"] == "ok"]
