"""The owner's cloud credentials for plugs of the current generation (KLAP and AES)."""

from __future__ import annotations

from typing import Any

from kshell.core.session import Session
from kshell.errors import AuthenticationError, UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, Opt, command
from kshell.results import Result, Text

MAX_FIELD = 256


@command(
    "login",
    args=(Arg("username", "word", "the cloud account's e-mail", optional=True),),
    options=(
        Opt("--save", "flag", "also keep them for later sessions (a file only you can read)"),
    ),
    permission="admin",
    examples=("login me@example.com", "login me@example.com --save"),
    by_mail=ByMail.NO,  # a password is typed at the terminal, never sent by mail
)
async def login(session: Session, args: Args) -> Result:
    """Type the owner's cloud e-mail and password (hidden) for KLAP and AES plugs.

    They are kept for this session only, unless --save writes them to their own file in the
    state folder (mode 0600; kshell.ini is never rewritten). KSHELL_USERNAME and
    KSHELL_PASSWORD, when set, still win. The password is never shown, logged or recorded.
    """
    from kshell.device.transports.base import Credentials
    from kshell.store import credentials

    if session.read_secret is None:
        raise UsageError(
            "login: needs a terminal to type the password; otherwise set KSHELL_USERNAME "
            "and KSHELL_PASSWORD, or [credentials] username/password in kshell.ini (chmod 600)"
        )
    username = args.username or await session.read_secret("cloud e-mail:") or ""
    password = await session.read_secret(f"password for {username[:80]}:") if username else None
    if not username or not password:
        raise UsageError("login: nothing typed; the credentials are unchanged")
    if len(username) > MAX_FIELD or len(password) > MAX_FIELD:
        raise UsageError(f"login: at most {MAX_FIELD} characters each")
    if any(ord(ch) < 32 for ch in username + password):
        raise UsageError("login: control characters cannot be part of the e-mail or password")
    before = session.login
    session.login = Credentials(username, password)
    session.devices.close_all()  # sessions made with the old credentials are dropped
    accepted, refused = await _check(session)
    if refused and not accepted:  # every plug that can tell said no: keep what was there
        session.login = before
        session.devices.close_all()
        raise AuthenticationError(
            f"login failed: refused by {', '.join(refused)} (the e-mail or the password is "
            "wrong: both are case-sensitive); the credentials are unchanged"
        )
    text = f"logged in as {username} for this session"
    if accepted:
        text += f" (accepted by {len(accepted)} plug{'s' if len(accepted) > 1 else ''})"
    else:
        text += " (not checked: no KLAP plug known yet)"
    if refused:
        text += f"; login failed on {', '.join(refused)}"
    data: dict[str, Any] = {
        "username": username,
        "saved": None,
        "accepted": accepted,
        "refused": refused,
    }
    if args.save:
        path = credentials.save(session, session.login)
        text += f"; saved to {path} (mode 0600)"
        data["saved"] = str(path)
    if credentials.source(session).startswith("KSHELL_USERNAME"):
        text += " (KSHELL_USERNAME / KSHELL_PASSWORD are set and still win)"
    return Text(text, data)


async def _check(session: Session) -> tuple[list[str], list[str]]:
    """The known KLAP plugs that took the credentials and those that refused them.

    Only KLAP plugs are asked: a KLAP handshake proves the plug knows the owner's login, so
    a wrong password is told from a stranger's plug. AES plugs cannot prove that, and a
    plug that does not answer says nothing about the password either way.
    """
    from kshell.core.targets import for_each, refresh, resolve_all
    from kshell.results import Failure

    klap = [
        t
        for t in (resolve_all(session, ["all"]) if session.store.all() else [])
        if t.record is not None and t.record.transport == "klap"
    ]
    if not klap:
        return [], []

    async def ask(target: Any) -> Result:
        await refresh(session, target)
        return Text("answered")

    results = await for_each(session, klap, ask)
    accepted = [t.label for t, r in zip(klap, results, strict=True) if not isinstance(r, Failure)]
    refused = [
        t.label
        for t, r in zip(klap, results, strict=True)
        if isinstance(r, Failure) and isinstance(r.error, AuthenticationError)
    ]
    return accepted, refused
