"""Remote mode: the same command lines by mail, from trusted senders only, each run once.

``remote on`` starts listening in the background of the interactive shell (each mail's
commands and results are printed above the prompt); ``python shell.py --listen`` does the
same without a prompt. The mail stack is imported only here, inside the commands.
"""

from __future__ import annotations

from typing import Any

from kshell.context import Context
from kshell.errors import KshellError, UsageError
from kshell.registry import ByMail, command
from kshell.results import Failure, Record, Result, Table, Text


def _service(ctx: Context) -> Any:
    return ctx.extras.get("remote_service")


@command("remote on", permission="admin", examples=("remote on",), by_mail=ByMail.NO)
async def remote_on(ctx: Context, args: Any) -> Result:
    """Start listening for command mail ([remote] in the config) in the background."""
    from kshell.remote.service import RemoteService, printer

    old = _service(ctx)
    if old is not None and old.running:
        return Text(
            f"remote: already on, listening on {old.describe()}",
            {"remote": "on", "source": old.describe()},
        )
    if old is not None:  # stopped by a failure: let go of its journal before starting again
        await old.stop()
    if not ctx.interactive:
        raise UsageError(
            "remote on keeps listening in the interactive shell; "
            "without a prompt use: python shell.py --listen"
        )
    service = RemoteService(ctx, printer(ctx))
    await service.start()
    note = "" if service.settings.senders else " (no [senders] yet: every mail will be rejected)"
    return Text(
        f"remote: on, listening on {service.describe()}{note}",
        {"remote": "on", "source": service.describe()},
    )


@command("remote off", permission="admin", examples=("remote off",), by_mail=ByMail.NO)
async def remote_off(ctx: Context, args: Any) -> Result:
    """Stop listening for command mail."""
    service = _service(ctx)
    if service is None:
        return Text("remote: already off", {"remote": "off"})
    await service.stop()
    return Text("remote: off", {"remote": "off"})


@command("remote status", permission="read", examples=("remote status",), by_mail=ByMail.NO)
async def remote_status(ctx: Context, args: Any) -> Result:
    """Whether remote mode is on, where it listens, and what it has handled."""
    service = _service(ctx)
    if service is None:
        from kshell.remote.service import RemoteService

        service = RemoteService(ctx, lambda _text: None)  # only reads the config
    return Record("remote", service.status())


@command("remote test", permission="admin", examples=("remote test",), by_mail=ByMail.NO)
async def remote_test(ctx: Context, args: Any) -> list[Result]:
    """Check each configured path: log in to the source, reach the reply server."""
    service = _service(ctx)
    if service is None:
        from kshell.remote.service import RemoteService

        service = RemoteService(ctx, lambda _text: None)
    steps = await service.test()
    rows = [[step, "ok" if ok else "FAILED", detail] for step, ok, detail in steps]
    failed = [row for row in rows if row[1] != "ok"]
    table = Table(
        ["step", "result", "detail"],
        rows,
        [{"step": s, "ok": ok, "detail": d} for s, ok, d in steps],
        title="remote test",
        footer=f"{len(failed)} step(s) failed" if failed else "every step worked",
    )
    if failed:  # so that `-c "remote test"` exits non-zero
        return [table, Failure(KshellError(f"remote test: {len(failed)} step(s) failed"))]
    return [table]
