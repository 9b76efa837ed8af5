"""How kshell proves itself to the owner's mail servers: a password (in the URL or printed by
a command) or an OAuth 2.0 access token printed by a command, sent as SASL XOAUTH2 or
OAUTHBEARER (RFC 7628).

kshell runs no OAuth flow: a token helper the owner set up (oama, mutt_oauth2.py, a keyring)
prints a fresh token. A secret is asked for when a connection needs it and kept in memory
only; when the server refuses it, the command is run once more and the login retried (a token
that expired mid-run is refreshed), as neomutt's ``imap_oauth_refresh_command`` does. A
command runs without a shell, with a timeout; its output never reaches a message, a log or
the audit trail, and a failure is one line naming the config key.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import signal
import subprocess
import threading
from dataclasses import dataclass

from kshell.errors import KshellError
from kshell.text import clean

AUTH_KINDS = ("password", "xoauth2", "oauthbearer")
MAX_SECRET_OUTPUT = 16384  # bytes a password or token command may print
MAX_SERVER_TEXT = 160  # characters of a server's refusal shown to the operator


class AuthError(KshellError):
    """A login could not be tried or was refused; ``step`` is the ``remote test`` step."""

    kind = "remote"

    def __init__(self, message: str, step: str = "auth") -> None:
        super().__init__(message)
        self.step = step

    def __str__(self) -> str:
        return f"{self.step}: {self.message}"


@dataclass(frozen=True)
class AuthSpec:
    """How one path (the IMAP source, or the reply server) logs in (no secret is held here:
    a password in the URL stays in the URL's spec)."""

    prefix: str  # "source" or "reply": the config keys are PREFIX_auth and so on
    kind: str = "password"  # password | xoauth2 | oauthbearer
    password_command: tuple[str, ...] = ()
    token_command: tuple[str, ...] = ()
    timeout: float = 10.0  # [remote] secret_command_timeout

    @property
    def oauth(self) -> bool:
        return self.kind != "password"

    def command_key(self) -> str:
        return f"{self.prefix}_{'token' if self.oauth else 'password'}_command"

    def describe(self) -> str:
        """For status: how it logs in, never with what."""
        if self.oauth:
            return f"{self.kind} (token from {self.command_key()})"
        if self.password_command:
            return f"password from {self.command_key()}"
        return "password"


def parse_auth(
    prefix: str, kind: str, password: str, password_command: str, token_command: str, timeout: float
) -> AuthSpec:
    """The checked ``[remote] PREFIX_auth`` and its commands (a UsageError names the key)."""
    from kshell.errors import UsageError

    kind = kind.lower()
    if kind not in AUTH_KINDS:
        raise UsageError(f"[remote] {prefix}_auth must be one of {', '.join(AUTH_KINDS)}")

    def argv(key: str, text: str) -> tuple[str, ...]:
        try:
            return tuple(shlex.split(text))
        except ValueError as exc:
            raise UsageError(f"[remote] {prefix}_{key}: {exc}") from None

    spec = AuthSpec(
        prefix,
        kind,
        argv("password_command", password_command),
        argv("token_command", token_command),
        timeout,
    )
    if spec.oauth and not spec.token_command:
        raise UsageError(f"[remote] {prefix}_auth = {kind} needs {prefix}_token_command")
    if spec.oauth and (password or spec.password_command):
        raise UsageError(f"[remote] {prefix}_auth = {kind} takes a token, not a password")
    if password and spec.password_command:
        raise UsageError(
            f"[remote] {prefix}: a password in the URL and {prefix}_password_command: keep one"
        )
    return spec


def run_secret_command(argv: tuple[str, ...], key: str, timeout: float) -> str:
    """The first line a password or token command prints, or an AuthError naming ``key``.

    No shell, no standard input, its own process group (killed whole on a time-out, so a
    ``sh -c`` wrapper cannot leave a child holding the pipe). Neither its output nor the
    secret is ever part of the error.
    """
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise AuthError(
            f"[remote] {key}: cannot run {clean(argv[0], 80)}: {exc.strerror}"
        ) from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise AuthError(f"[remote] {key}: no answer within {timeout:g} s") from None
    if proc.returncode != 0:
        said = err.decode("utf-8", "replace").strip().splitlines()
        why = f": {clean(said[-1], MAX_SERVER_TEXT)}" if said else ""
        raise AuthError(f"[remote] {key}: exited with status {proc.returncode}{why}")
    if len(out) > MAX_SECRET_OUTPUT:
        raise AuthError(f"[remote] {key}: printed more than {MAX_SECRET_OUTPUT} bytes")
    lines = out.decode("utf-8", "replace").splitlines()
    secret = lines[0].strip("\r") if lines else ""
    if not secret:
        raise AuthError(f"[remote] {key}: printed nothing on its first line")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in secret):
        raise AuthError(f"[remote] {key}: its first line holds control characters")
    return secret


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


class Credentials:
    """One path's secret: asked for when first needed, kept, asked for again once refused.

    Used from the event loop (IMAP, through a thread) and from the reply thread (SMTP).
    """

    def __init__(self, spec: AuthSpec, password: str = "") -> None:
        self.spec = spec
        self._password = password  # the URL's, when no command gives it
        self._secret: str | None = None
        self._lock = threading.Lock()

    @property
    def refreshable(self) -> bool:
        """Whether asking again can give another secret (a command, not the URL)."""
        return bool(self.spec.token_command if self.spec.oauth else self.spec.password_command)

    def secret(self, fresh: bool = False) -> str:
        """The password or token; ``fresh`` runs the command again (the last one was refused)."""
        with self._lock:
            if self._secret is None or (fresh and self.refreshable):
                self._secret = self._ask()
            return self._secret

    def _ask(self) -> str:
        spec = self.spec
        argv = spec.token_command if spec.oauth else spec.password_command
        if not argv:
            return self._password
        return run_secret_command(argv, spec.command_key(), spec.timeout)


def xoauth2(user: str, token: str) -> bytes:
    """Google's and Microsoft's XOAUTH2 initial response (before base64)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def oauthbearer(user: str, token: str, host: str, port: int) -> bytes:
    """RFC 7628's OAUTHBEARER initial response: a GS2 header naming the user, then the
    host, port and bearer token (before base64)."""
    authzid = user.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01".encode()


def initial_response(spec: AuthSpec, user: str, token: str, host: str, port: int) -> bytes:
    if spec.kind == "xoauth2":
        return xoauth2(user, token)
    return oauthbearer(user, token, host, port)


# the answer to a server's error challenge: RFC 7628 (OAUTHBEARER) asks for a lone ^A;
# XOAUTH2 (Google, Microsoft) for an empty response
DUMMY_RESPONSE = {"xoauth2": b"", "oauthbearer": b"\x01"}


def challenge_status(challenge: bytes) -> str:
    """What a server's SASL error challenge says, bounded and cleaned: the ``status`` of its
    JSON (RFC 7628 section 3.2.2), or the text as sent. ``challenge`` is base64 or decoded."""
    text = challenge.strip()
    try:
        text = base64.b64decode(text, validate=True)
    except ValueError:
        pass
    try:
        said = json.loads(text.decode("utf-8", "replace"))
    except ValueError:
        return clean(text.decode("utf-8", "replace"), MAX_SERVER_TEXT)
    if isinstance(said, dict) and "status" in said:
        return "status " + clean(str(said["status"]), MAX_SERVER_TEXT)
    return clean(text.decode("utf-8", "replace"), MAX_SERVER_TEXT)


def bounded(text: str) -> str:
    """A server's words as they may be shown: one line, controls escaped, bounded."""
    return clean(text.strip(), MAX_SERVER_TEXT)
