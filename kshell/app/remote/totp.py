"""TOTP codes (``!auth CODE``): one secret per sender, each code used once, guesses locked out.

Secrets live in a ``[totp]`` section, ``ADDRESS = BASE32SECRET``, in kshell.ini or in the
file named by ``[remote] totp_file`` (by default ``kshell-totp.ini`` in the state folder);
either must be readable by its owner only. A code proves only the sender whose secret made
it. The old shared ``[remote] secret`` still works, but a code made with it proves ``read``
at most: anyone who holds it can claim any address.

Every code that matches is recorded in the journal, also when the mail was proven another
way, so it is never accepted again. Wrong (or reused) codes count against the claimed
sender: after ``LOCK_AFTER`` in an hour TOTP is locked for that address only (DKIM and
Authentication-Results still prove it, so a stranger cannot lock the owner out), until
``remote unlock ADDRESS``. Wrong codes in total only raise an alert.
"""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from kshell.app.remote.journal import Journal
from kshell.errors import UsageError
from kshell.home import PRIVATE_DIR, write_private
from kshell.lang.registry import PERMISSIONS

TOTP_STEP = 30
EXPIRED_STEPS = 20  # a code of the last ten minutes is called expired, not wrong
LOCK_AFTER = 5  # wrong codes for one claimed sender in an hour
ALERT_AFTER = 20  # wrong codes in total in an hour (then every further 20)
FILE_NAME = "kshell-totp.ini"


def totp_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code this is (this one, or one either side), else None."""
    if not secret or not re.fullmatch(r"\d{6,8}", code):
        return None
    import pyotp

    try:
        totp = pyotp.TOTP(secret)
        now = time.time() if now is None else now
        for offset in (0, -1, 1):
            moment = int(now) + offset * TOTP_STEP
            if totp.at(moment) == code:
                return moment // TOTP_STEP
    except Exception:  # noqa: BLE001 - a bad secret in the config proves nothing
        return None
    return None


def expired_code(secret: str, code: str, now: float | None = None) -> bool:
    """Whether ``code`` was right some time in the last ``EXPIRED_STEPS`` steps (only to
    say "expired" rather than "wrong": such a code proves nothing)."""
    if not secret or not re.fullmatch(r"\d{6,8}", code):
        return False
    import pyotp

    try:
        totp = pyotp.TOTP(secret)
        now = time.time() if now is None else now
        return any(
            totp.at(int(now) - back * TOTP_STEP) == code for back in range(2, EXPIRED_STEPS + 1)
        )
    except Exception:  # noqa: BLE001 - a bad secret in the config proves nothing
        return False


def check_private(path: Path, what: str) -> None:
    """A file holding secrets must be readable by its owner only."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        raise UsageError(f"{what} {path} can be read by others and holds secrets: chmod 600 {path}")


def read_secrets(path: Path) -> dict[str, str]:
    """The ``[totp]`` section of a secrets file (missing file: none)."""
    if not path.exists():
        return {}
    check_private(path, "TOTP file")
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # addresses as written
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError) as exc:
        raise UsageError(f"TOTP file {path}: {str(exc).splitlines()[0][:200]}") from None
    return section_secrets(parser, str(path))


def section_secrets(parser: configparser.ConfigParser, where: str) -> dict[str, str]:
    if not parser.has_section("totp"):
        return {}
    secrets = {}
    for address, secret in parser.items("totp"):
        bare = address.strip().lower()
        value = secret.replace(" ", "").upper()
        if "@" not in bare or not re.fullmatch(r"[A-Z2-7]{16,}=*", value):
            raise UsageError(f"[totp] in {where}: '{address}' needs a bare address = BASE32 secret")
        secrets[bare] = value
    return secrets


@dataclass
class TotpBook:
    """Per-sender secrets (kshell.ini's, then the file's, read again when it changes)."""

    inline: dict[str, str] = field(repr=False)
    path: Path
    shared: str = field(default="", repr=False)
    _stamp: float | None = field(default=None, repr=False)
    _file: dict[str, str] = field(default_factory=dict, repr=False)

    def lookup(self, sender: str) -> tuple[str, bool]:
        """(secret, shared?) for a sender; ('', False) when it has none."""
        own = self._secrets().get(sender)
        if own:
            return own, False
        return (self.shared, True) if self.shared else ("", False)

    def _secrets(self) -> dict[str, str]:
        try:
            stamp: float | None = self.path.stat().st_mtime_ns
        except OSError:
            stamp = None
        if stamp != self._stamp:
            try:
                self._file = read_secrets(self.path)
            except UsageError:
                self._file = {}  # checked at start; a later bad edit proves nothing
            self._stamp = stamp
        return {**self.inline, **self._file}

    def senders(self) -> list[str]:
        return sorted(self._secrets())


def add_secret(path: Path, address: str) -> str:
    """Make a secret for ``address`` and store it in ``path`` (0600), never overwriting
    another process's entries: read, add, write a new file and rename, under a lock."""
    import pyotp

    bare = address.strip().lower()
    if "@" not in bare or any(ch.isspace() or ch in '<>",;=:[]' for ch in bare):
        raise UsageError(f"'{address}' is not a bare mail address")

    path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    lock_flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
    lock = os.open(path.with_name(path.name + ".lock"), lock_flags, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        secrets = read_secrets(path)
        if bare in secrets:
            raise UsageError(f"{bare} already has a TOTP secret in {path}; remove its line first")
        secret = pyotp.random_base32(32)
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if "[totp]" not in text:
            text += ("\n" if text and not text.endswith("\n") else "") + "[totp]\n"
        text += ("" if text.endswith("\n") else "\n") + f"{bare} = {secret}\n"
        write_private(path, text)  # exclusive, unguessable temporary file; no symlink followed
    finally:
        with contextlib.suppress(OSError):
            os.close(lock)
    return secret


def provisioning_uri(secret: str, address: str) -> str:
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=address, issuer_name="kshell")


@dataclass
class TotpOutcome:
    proof: str | None = None  # the code proved the sender
    cap: str | None = None  # the most it proves (the shared secret: read)
    refusal: str | None = None  # why the mail is rejected on account of its code
    kind: str | None = None  # the refusal in one word: locked | used | expired | wrong
    notes: list[str] = field(default_factory=list)  # locks and alerts, for the operator


def lower_permission(permission: str, cap: str | None) -> str:
    if cap is None:
        return permission
    return min(permission, cap, key=PERMISSIONS.index)


class TotpGuard:
    def __init__(self, book: TotpBook, journal: Journal) -> None:
        self.book = book
        self.journal = journal

    def settle(self, sender: str, codes: list[str], proven: bool) -> TotpOutcome:
        """What the mail's one code does for ``sender`` (``proven``: already proven)."""
        if not codes:
            return TotpOutcome()
        code = codes[0]
        secret, shared = self.book.lookup(sender)
        step = totp_step(secret, code) if secret else None
        key = f"{'shared' if shared else sender}:{step}:{code}"
        if proven:  # used up all the same, so that nobody can use it again
            if step is not None:
                self.journal.use_code(key)
            return TotpOutcome()
        if self.journal.totp_locked(sender):
            return TotpOutcome(
                refusal=f"TOTP is locked for {sender} after wrong codes "
                f"(remote unlock {sender} lifts it)",
                kind="locked",
            )
        if not secret:
            return TotpOutcome(refusal="no TOTP secret for this sender")
        if step is not None and self.journal.use_code(key):
            if shared:
                return TotpOutcome(
                    proof="TOTP code of the shared secret (read at most)", cap="read"
                )
            return TotpOutcome(proof="TOTP code")
        if step is not None:
            kind, why = "used", "TOTP code already used"
        elif expired_code(secret, code):
            kind, why = "expired", "TOTP code expired"
        else:
            kind, why = "wrong", "wrong TOTP code"
        mine, total = self.journal.totp_failure(sender)
        notes = []
        if mine >= LOCK_AFTER and self.journal.lock_totp(sender, mine):
            notes.append(
                f"TOTP locked for {sender} after {mine} wrong codes in an hour; "
                f"`remote unlock {sender}` lifts it"
            )
        if total >= ALERT_AFTER and (total - ALERT_AFTER) % ALERT_AFTER == 0:
            notes.append(f"ALERT: {total} wrong TOTP codes in the last hour (someone is guessing)")
        return TotpOutcome(refusal=why, kind=kind, notes=notes)
