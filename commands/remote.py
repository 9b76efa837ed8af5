"""Remote mode: the same command lines by mail, from trusted senders only, each run once.

``remote on`` starts listening in the background of the interactive shell (each mail's
commands and results are printed above the prompt); ``python shell.py --listen`` does the
same without a prompt. The mail stack is imported only here, inside the commands.
"""

from __future__ import annotations

from kshell.core.services import MailService, MailStack
from kshell.core.session import Session
from kshell.errors import KshellError, UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, command
from kshell.results import Failure, QrCode, Record, Result, Table, Text


def _service(session: Session) -> MailService | None:
    return session.remote


def _stack(session: Session) -> MailStack:
    if session.mail is None:
        raise UsageError("remote: no mail stack in this session (kshell.app.build adds it)")
    return session.mail


@command("remote on", permission="admin", examples=("remote on",), by_mail=ByMail.NO)
async def remote_on(session: Session, args: Args) -> Result:
    """Start listening for command mail ([remote] in the config) in the background."""
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
    service = _stack(session).service()
    await service.start()
    note = "" if service.has_senders else " (no [senders] yet: every mail will be rejected)"
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
    service = _service(session) or _stack(session).service()  # a new one only reads the config
    return Record("remote", service.status())


@command("remote test", permission="admin", examples=("remote test",), by_mail=ByMail.NO)
async def remote_test(session: Session, args: Args) -> list[Result]:
    """Check each configured path: log in to the source, reach the reply server."""
    service = _service(session) or _stack(session).service()
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
    """Make a sender's own TOTP secret, store it (0600) and show it once to scan.

    It is shown as a QR code and as its otpauth URI."""
    if session.invocation.by_mail:  # a secret is never made, nor shown, by mail (ByMail.NO too)
        raise UsageError("remote totp cannot be run by mail")
    address = args.address.strip().lower()
    added = _stack(session).add_totp(address)
    note = "" if added.is_sender else f" ({address} is not in [senders] yet)"
    return QrCode(
        f"TOTP secret for {address} stored in {added.file}{note}.\n"
        "Scan the code above with the sender's authenticator app, or add this URI "
        f"(shown once):\n{added.uri}",
        {"address": address, "file": str(added.file), "uri": added.uri},
        uri=added.uri,
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
    address = args.address.strip().lower()
    was_locked = _stack(session).unlock_totp(address)
    text = f"TOTP unlocked for {address}" if was_locked else f"TOTP was not locked for {address}"
    return Text(text, {"address": address, "unlocked": was_locked})
