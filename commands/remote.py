"""Remote mode: the same command lines by mail, from trusted senders only, each run once.

``remote on`` starts listening in the background of the interactive shell (each mail's
commands and results are printed above the prompt); ``python shell.py --listen`` does the
same without a prompt. The mail stack is imported only here, inside the commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kshell.core.session import Session
from kshell.errors import KshellError, UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, command
from kshell.results import Failure, Record, Result, Table, Text

if TYPE_CHECKING:
    from kshell.app.remote.service import RemoteService


def _service(session: Session) -> RemoteService | None:
    return session.remote


@command("remote on", permission="admin", examples=("remote on",), by_mail=ByMail.NO)
async def remote_on(session: Session, args: Args) -> Result:
    """Start listening for command mail ([remote] in the config) in the background."""
    from kshell.app.remote.service import RemoteService, printer

    old = _service(session)
    if old is not None and old.running:
        return Text(
            f"remote: already on, listening on {old.describe()}",
            {"remote": "on", "source": old.describe()},
        )
    if old is not None:  # stopped by a failure: let go of its journal before starting again
        await old.stop()
    if not session.interactive:
        raise UsageError(
            "remote on keeps listening in the interactive shell; "
            "without a prompt use: python shell.py --listen"
        )
    service = RemoteService(session, printer(session))
    await service.start()
    note = "" if service.settings.senders else " (no [senders] yet: every mail will be rejected)"
    return Text(
        f"remote: on, listening on {service.describe()}{note}",
        {"remote": "on", "source": service.describe()},
    )


@command("remote off", permission="admin", examples=("remote off",), by_mail=ByMail.NO)
async def remote_off(session: Session, args: Args) -> Result:
    """Stop listening for command mail."""
    service = _service(session)
    if service is None:
        return Text("remote: already off", {"remote": "off"})
    await service.stop()
    return Text("remote: off", {"remote": "off"})


@command("remote status", permission="read", examples=("remote status",), by_mail=ByMail.NO)
async def remote_status(session: Session, args: Args) -> Result:
    """Whether remote mode is on, where it listens, and what it has handled."""
    service = _service(session)
    if service is None:
        from kshell.app.remote.service import RemoteService

        service = RemoteService(session, lambda _text: None)  # only reads the config
    return Record("remote", service.status())


@command("remote test", permission="admin", examples=("remote test",), by_mail=ByMail.NO)
async def remote_test(session: Session, args: Args) -> list[Result]:
    """Check each configured path: log in to the source, reach the reply server."""
    service = _service(session)
    if service is None:
        from kshell.app.remote.service import RemoteService

        service = RemoteService(session, lambda _text: None)
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


@command(
    "remote totp",
    args=(
        Arg("action", "choice", "add: make a secret for a sender", choices=("add",)),
        Arg("address", "word", "the sender's bare mail address"),
    ),
    permission="admin",
    examples=("remote totp add boss@example.org",),
    by_mail=ByMail.NO,
)
async def remote_totp(session: Session, args: Args) -> Result:
    """Make a sender's own TOTP secret, store it (0600) and print its otpauth URI once."""
    from kshell.app.remote.settings import load_settings
    from kshell.app.remote.totp import add_secret, provisioning_uri

    if session.invocation.by_mail:  # a secret is never made, nor shown, by mail (ByMail.NO too)
        raise UsageError("remote totp cannot be run by mail")
    settings = load_settings(session.config, session.paths.data)
    address = args.address.strip().lower()
    if address in settings.totp:
        raise UsageError(f"{address} already has a TOTP secret in [totp] of kshell.ini")
    secret = add_secret(settings.totp_file, address)
    uri = provisioning_uri(secret, address)
    note = "" if address in settings.senders else f" ({address} is not in [senders] yet)"
    return Text(
        f"TOTP secret for {address} stored in {settings.totp_file}{note}.\n"
        f"Add it to the sender's authenticator app (shown once):\n{uri}",
        {"address": address, "file": str(settings.totp_file), "uri": uri},
    )


@command(
    "remote unlock",
    args=(Arg("address", "word", "the sender whose TOTP was locked after wrong codes"),),
    permission="admin",
    examples=("remote unlock boss@example.org",),
    by_mail=ByMail.NO,
)
async def remote_unlock(session: Session, args: Args) -> Result:
    """Let a sender prove itself by TOTP code again after too many wrong codes."""
    from kshell.app.remote.audit import AuditLog
    from kshell.app.remote.journal import unlock_totp
    from kshell.app.remote.service import AUDIT_NAME, JOURNAL_NAME

    address = args.address.strip().lower()
    was_locked = unlock_totp(session.paths.data / JOURNAL_NAME, address)
    AuditLog(session.paths.data / AUDIT_NAME).write(
        sender=address,
        message_id="",
        command=None,
        verdict="totp",
        outcome="unlocked by the operator" if was_locked else "unlock asked; was not locked",
    )
    text = f"TOTP unlocked for {address}" if was_locked else f"TOTP was not locked for {address}"
    return Text(text, {"address": address, "unlocked": was_locked})
