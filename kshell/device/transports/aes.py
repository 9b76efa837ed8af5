"""AES "securePassthrough" over HTTP (port 80): the older handshake some plugs still speak
(docs/protocols.md, "AES").

The shell sends an RSA public key; the plug answers an AES key and IV encrypted with it; the
shell then logs in with ``login_device`` inside the encrypted channel and gets a token.

**AES cannot prove the plug knows the password.** Nothing in the handshake depends on the
credentials: whoever answers on the plug's address gets the login, with the e-mail's SHA-1
and, with login version 2, the password's SHA-1, or with login version 1 **the password
itself in base64**. So the README and ``info`` say so, a plug that offers KLAP is better
reached over KLAP, and a plug known to speak KLAP that now announces AES is not followed
blindly. This transport never falls back from login version 2 to 1 on its own.

Whether a plug is trusted with the login is decided above it, in one place
(``kshell.device.pool``): an untrusted plug's transport is made without the owner's
credentials and with ``withheld`` saying why, and then refuses before any handshake
(``Unproven``). ``owner_login_sent`` says whether the owner's login ever went out.

The session (cookie, keys, token) is kept and renewed before the plug's TIMEOUT or when the
plug answers that it timed out (9999).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kshell.device.transports import defaults
from kshell.device.transports.base import Credentials
from kshell.device.transports.http import HttpTransport
from kshell.device.transports.httpclient import HttpAnswer, snippet
from kshell.errors import AuthenticationError, NoCredentials, ProtocolError, Unproven

COMPACT = (",", ":")  # python-kasa's JSON shape: its handshake body is 314 bytes
HEADERS = {"Content-Type": "application/json", "requestByApp": "true", "Accept": "application/json"}
LOGIN_REFUSED = -1501


@functools.cache
def rsa_key_pair() -> tuple[Any, str]:
    """The RSA-1024 key pair of this process (private key, public PEM), made on the first AES
    handshake only: about 20 ms that no other command pays."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # one line of base64 between the markers, as python-kasa sends it and plugs take it
    pem = (
        f"-----BEGIN PUBLIC KEY-----\n{base64.b64encode(der).decode()}\n-----END PUBLIC KEY-----\n"
    )
    return private, pem


def login_params(version: int, credentials: Credentials) -> dict[str, str]:
    """``login_device`` params: the e-mail as base64 of its SHA-1 hex; the password as
    ``password2`` (base64 of its SHA-1 hex, v2) or ``password`` (base64 of itself, v1)."""

    def sha1_hex(text: str) -> bytes:
        return hashlib.sha1(text.encode()).hexdigest().encode()

    params = {"username": base64.b64encode(sha1_hex(credentials.username)).decode()}
    if version == 2:
        params["password2"] = base64.b64encode(sha1_hex(credentials.password)).decode()
    else:
        params["password"] = base64.b64encode(credentials.password.encode()).decode()
    return params


class AesSession:
    """One session: the key and IV (the same IV for every message), cookie and token."""

    def __init__(self, key: bytes, iv: bytes, cookie: str | None) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        self._cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
        self.headers = {**HEADERS, "Cookie": f"TP_SESSIONID={cookie}"} if cookie else HEADERS
        self.token: str | None = None

    @property
    def path(self) -> str:
        if self.token is None:
            return "/app"
        return "/app?token=" + urllib.parse.quote(self.token, safe="")

    def encrypt(self, plaintext: bytes) -> str:
        pad = 16 - len(plaintext) % 16
        encryptor = self._cipher.encryptor()
        data = encryptor.update(plaintext + bytes([pad]) * pad) + encryptor.finalize()
        return base64.b64encode(data).decode()

    def decrypt(self, text: str) -> bytes:
        try:
            data = base64.b64decode(text, validate=True)
        except ValueError:
            data = b""
        if data and len(data) % 16 == 0:
            decryptor = self._cipher.decryptor()
            padded = decryptor.update(data) + decryptor.finalize()
            pad = padded[-1]
            if 1 <= pad <= 16 and padded[-pad:] == bytes([pad]) * pad:
                return padded[:-pad]
        if text.startswith("{"):  # some firmware answers in clear here (python-kasa takes it)
            return text.encode()
        raise ProtocolError("the answer does not decrypt with this session's key")


@dataclass
class _Refused(Exception):
    """The plug turned the request away before reading it (a session it forgot)."""

    what: str


@dataclass
class _OuterCode(Exception):
    code: int


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"{what} is not JSON: '{snippet(data)}'") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} is JSON but not an object")
    return value


def _error_code(answer: dict[str, Any], what: str) -> int:
    code = answer.get("error_code")
    if not isinstance(code, int) or isinstance(code, bool):
        raise ProtocolError(f"{what} has no error_code")
    return code


def _result_text(answer: dict[str, Any], field: str, what: str, limit: int) -> str:
    result = answer.get("result")
    value = result.get(field) if isinstance(result, dict) else None
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise ProtocolError(f"{what} lacks a readable result.{field}")
    return value


class AesTransport(HttpTransport):
    """securePassthrough to one plug; ``login_version`` picks how the password is sent."""

    scheme = "AES"
    authenticates_plug = False

    def __init__(
        self,
        host: str,
        port: int = 80,
        *,
        credentials: Credentials | None,
        timeout: float = 5.0,
        login_version: int = 2,
        try_defaults: bool = False,
        clock: Callable[[], float] = time.monotonic,
        withheld: str = "",
    ) -> None:
        super().__init__(
            host,
            port,
            credentials=credentials,
            timeout=timeout,
            login_version=login_version,
            try_defaults=try_defaults,
            clock=clock,
        )
        self._session: AesSession | None = None
        self.withheld = withheld  # why the owner's login is not ours to send here ("": it is)
        self.owner_login_sent = False

    def _has_session(self) -> bool:
        return self._session is not None and self._session.token is not None

    def _drop_session(self) -> None:
        self._session = None

    async def _exchange(self, request: bytes, idempotent: bool, deadline: float) -> bytes:
        renewed = False
        while True:
            session = self._session
            if session is None or not self.session_established:
                session = await self._open(deadline)
                renewed = True
            try:
                return await self._passthrough(session, request, deadline, resend=idempotent)
            except _Refused as refused:
                self._session = None
                if renewed:
                    raise ProtocolError(
                        f"the plug refused a session it had just opened ({refused.what})"
                    ) from None
            except _OuterCode as outer:
                if outer.code in defaults.AUTH_CODES:
                    self._session = None
                    raise AuthenticationError(
                        f"securePassthrough refused: error_code {defaults.code_meaning(outer.code)}"
                    ) from None
                raise ProtocolError(
                    f"securePassthrough answered error_code {defaults.code_meaning(outer.code)}"
                ) from None

    async def _open(self, deadline: float) -> AesSession:
        """Handshake and log in, trying the owner's credentials, then (for a factory-default
        plug only) the setup defaults; each try after a refusal needs a fresh handshake."""
        self._session = None
        owner = self.credentials
        candidates = [(defaults.OWNER, owner)] if owner is not None and not owner.blank else []
        if self.try_defaults:
            tapo_first = sorted(
                defaults.SETUP_CREDENTIALS, key=lambda c: c[1] != defaults.TAPO_SETUP
            )
            candidates += tapo_first
        if not candidates and self.withheld:
            raise Unproven(self.withheld)  # nothing was sent: not even a handshake
        if not candidates:
            raise NoCredentials(
                f"the plug needs its owner's cloud credentials: {defaults.WHAT_TO_SET}"
            )
        for source, credentials in candidates:
            session = await self._handshake(deadline)
            if source == defaults.OWNER:
                self.owner_login_sent = True
            if await self._login(session, credentials, deadline):
                self.credentials_source = source
                self._session = session
                return session
        if self.withheld:  # the setup defaults failed; the owner's were never ours to send
            raise Unproven(self.withheld)
        refused = defaults.code_meaning(LOGIN_REFUSED)
        raise AuthenticationError(
            f"the plug refused the credentials (login_device: {refused}; {defaults.WHAT_TO_SET})"
        )

    async def _handshake(self, deadline: float) -> AesSession:
        private, pem = rsa_key_pair()
        body = json.dumps(
            {"method": "handshake", "params": {"key": pem}}, separators=COMPACT
        ).encode()
        answer = await self._post("/app", body, deadline, resend=True, headers=HEADERS)
        outer = self._outer(answer, "handshake")
        code = _error_code(outer, "the handshake answer")
        if code:
            raise ProtocolError(f"the handshake answered error_code {defaults.code_meaning(code)}")
        sealed = _result_text(outer, "key", "the handshake answer", 1024)
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            key_iv = private.decrypt(base64.b64decode(sealed, validate=True), padding.PKCS1v15())
        except ValueError:
            key_iv = b""
        # a bad seal may also decrypt to noise (cryptography's implicit rejection): the length
        # is the check that always holds
        if len(key_iv) != 32:
            raise ProtocolError("the handshake key does not decrypt with the shell's RSA key")
        cookie = answer.cookies.get("TP_SESSIONID") or answer.cookies.get("SESSIONID")
        session = AesSession(key_iv[:16], key_iv[16:], cookie)
        self._start_session(answer.cookies)
        return session

    async def _login(self, session: AesSession, credentials: Credentials, deadline: float) -> bool:
        """Log in; False when the plug refuses these credentials (-1501)."""
        request = {
            "method": "login_device",
            "params": login_params(self.login_version, credentials),
            "request_time_milis": round(time.time() * 1000),
        }
        try:
            plain = await self._passthrough(
                session, json.dumps(request, separators=COMPACT).encode(), deadline, resend=True
            )
        except _Refused as refused:
            raise ProtocolError(
                f"the plug refused a session it had just opened ({refused.what})"
            ) from None
        except _OuterCode as outer:
            if outer.code == LOGIN_REFUSED:
                return False
            raise AuthenticationError(
                f"login_device refused: error_code {defaults.code_meaning(outer.code)}"
            ) from None
        answer = _json_object(plain, "the login answer")
        code = _error_code(answer, "the login answer")
        if code == LOGIN_REFUSED:
            return False
        if code:
            raise AuthenticationError(
                f"login_device answered error_code {defaults.code_meaning(code)}"
            )
        session.token = _result_text(answer, "token", "the login answer", 256)
        return True

    async def _passthrough(
        self, session: AesSession, request: bytes, deadline: float, *, resend: bool
    ) -> bytes:
        wrapped = {"method": "securePassthrough", "params": {"request": session.encrypt(request)}}
        answer = await self._post(
            session.path,
            json.dumps(wrapped, separators=COMPACT).encode(),
            deadline,
            resend=resend,
            headers=session.headers,
        )
        if answer.status == 403:
            raise _Refused("HTTP 403")
        outer = self._outer(answer, "securePassthrough")
        code = _error_code(outer, "the securePassthrough answer")
        if code in defaults.SESSION_REFUSED:
            raise _Refused(f"error_code {defaults.code_meaning(code)}")
        if code:
            raise _OuterCode(code)
        limit = self._http.max_body
        return session.decrypt(
            _result_text(outer, "response", "the securePassthrough answer", limit)
        )

    @staticmethod
    def _outer(answer: HttpAnswer, step: str) -> dict[str, Any]:
        """The JSON around an answer (status, then shape), for the ``step`` named."""
        if answer.status != 200:
            raise ProtocolError(f"HTTP {answer.status} to the {step}")
        return _json_object(answer.body, f"the {step} answer")
