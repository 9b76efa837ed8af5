"""The reply side's real peer with logins: aiosmtpd on 127.0.0.1 offering AUTH PLAIN, LOGIN,
XOAUTH2 and OAUTHBEARER, over SMTPS or STARTTLS with a certificate from the test's CA.

A password is checked against ``password``; a token against ``tokens`` (the test adds and
revokes them: a revoked one gets the RFC 7628 error challenge, then 535, as Gmail answers).
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from typing import Any, Self

from helpers.dovecot import free_port

ERROR_CHALLENGE = json.dumps({"status": "401", "schemes": "Bearer", "scope": "mail"})


class AuthSmtp:
    def __init__(
        self,
        security: str,
        cert: tuple[str, str],
        user: str = "kshell",
        password: str | None = None,
        tokens: set[str] | None = None,
        exclude: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        self.security, self.cert, self.user, self.password = security, cert, user, password
        self.tokens: set[str] = tokens if tokens is not None else set()
        self.messages: list[bytes] = []
        self.logins: list[str] = []  # "MECHANISM user" for each accepted login
        self.refused: list[str] = []  # the mechanism of each refused one
        self.answers: list[bytes] = []  # what the client said to an error challenge
        self._arrived = threading.Condition()
        self.controller: Any = None
        self.exclude = list(exclude)  # mechanisms not offered (LOGIN alone: leave out PLAIN)

    # -- the SASL mechanisms aiosmtpd lacks ------------------------------------------------

    def _bearer(self, decoded: bytes, gs2: bool) -> tuple[str, str]:
        """(user, token) from an XOAUTH2 or OAUTHBEARER initial response."""
        parts = decoded.split(b"\x01")
        fields = dict(p.split(b"=", 1) for p in parts[1 if gs2 else 0 :] if b"=" in p)
        if gs2:
            header = parts[0].split(b",")
            user = next((h[2:] for h in header if h.startswith(b"a=")), b"")
        else:
            user = fields.get(b"user", b"")
        auth = fields.get(b"auth", b"")
        token = auth[len(b"Bearer ") :] if auth.startswith(b"Bearer ") else b""
        return user.decode(), token.decode()

    async def _oauth(self, server: Any, args: list[str], mechanism: str) -> Any:
        from aiosmtpd.smtp import MISSING, AuthResult

        if len(args) > 1:
            decoded = base64.b64decode(args[1])
        else:
            blob = await server.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
            decoded = blob
        user, token = self._bearer(decoded, gs2=mechanism == "OAUTHBEARER")
        if user == self.user and token in self.tokens:
            self.logins.append(f"{mechanism} {user}")
            return AuthResult(success=True, auth_data=user)
        self.refused.append(mechanism)
        answer = await server.challenge_auth(ERROR_CHALLENGE)
        self.answers.append(answer if isinstance(answer, bytes) else b"<none>")
        return AuthResult(success=False, handled=answer is MISSING)

    # -- lifetime ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        peer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                with peer._arrived:
                    peer.messages.append(bytes(envelope.original_content or b""))
                    peer._arrived.notify_all()
                return "250 OK"

            async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
                return await peer._oauth(server, args, "XOAUTH2")

            async def auth_OAUTHBEARER(self, server: Any, args: list[str]) -> Any:
                return await peer._oauth(server, args, "OAUTHBEARER")

        def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            login = getattr(data, "login", b"") or b""
            given = getattr(data, "password", b"") or b""
            ok = (
                self.password is not None
                and login == self.user.encode()
                and given == self.password.encode()
            )
            (self.logins if ok else self.refused).append(
                f"{mechanism} {login.decode()}" if ok else mechanism
            )
            return AuthResult(success=ok, handled=False)

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*self.cert)
        options: dict[str, Any] = {
            "authenticator": check,
            "auth_required": True,
            "auth_require_tls": self.security == "starttls",
            "auth_exclude_mechanism": self.exclude,
        }
        if self.security == "ssl":
            options["ssl_context"] = context
        elif self.security == "starttls":
            options.update(tls_context=context, require_starttls=True)
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.controller is not None:
            self.controller.stop()

    def wait(self, count: int, timeout: float = 20.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            return list(self.messages)
