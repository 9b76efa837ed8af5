"""The plug's side of the AES "securePassthrough" transport: RSA handshake, login, token.

Facts (python-kasa ``kasa/transports/aestransport.py``; docs/protocols.md, "AES"):

* ``{"method":"handshake","params":{"key": PEM}}`` on ``POST /app``: the plug picks an AES-128
  key and IV, answers ``{"error_code":0,"result":{"key": b64(RSA-PKCS1v1.5(key + iv))}}`` and
  sets ``TP_SESSIONID=<id>;TIMEOUT=<seconds>``;
* every later call is ``{"method":"securePassthrough","params":{"request": b64(AES-CBC(json))}}``
  answered ``{"error_code":0,"result":{"response": b64(...)}}`` with the same key and IV;
* the first inner call is ``login_device`` with ``username = b64(sha1_hex(e-mail))`` and, by
  login version, ``password = b64(password)`` (1) or ``password2 = b64(sha1_hex(password))``
  (2); success gives ``{"token": ...}`` and later calls go to ``/app?token=<token>``; a wrong
  password is ``-1501`` and the session is then dead (the next call gets 9999);
* an outer ``error_code`` 9999 means "session timed out": the client must handshake again.

A plug cannot prove here that it knows the password: it is sent the credentials instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kshell.simulator.accounts import Account

MAX_SESSIONS = 16
SESSION_TIMEOUT_CODE = 9999
LOGIN_ERROR = -1501
AES_DECODE_ERROR = -1005
INVALID_PUBLIC_KEY = -1010


def _sha1_hex(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def login_params(version: int, account: Account) -> dict[str, str]:
    """What a client sends in ``login_device`` for ``account`` (the plug compares)."""
    user = base64.b64encode(_sha1_hex(account.username).encode()).decode()
    if version == 2:
        return {
            "username": user,
            "password2": base64.b64encode(_sha1_hex(account.password).encode()).decode(),
        }
    return {"username": user, "password": base64.b64encode(account.password.encode()).decode()}


@dataclass
class AesSession:
    sid: str
    key: bytes
    iv: bytes
    created: float
    timeout: float
    token: str | None = None
    dead: bool = False  # a failed login kills the session

    def expired(self, now: float) -> bool:
        return now >= self.created + self.timeout

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.iv))

    def open(self, text: Any) -> bytes | None:
        """Decrypt a base64 request; None when it does not decrypt."""
        if not isinstance(text, str):
            return None
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
        if not data or len(data) % 16:
            return None
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            return None

    def seal(self, plaintext: bytes) -> str:
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


class AesServer:
    """The AES sessions of one plug."""

    def __init__(self, version: int, account: Account, timeout: float = 86400) -> None:
        self.version = version
        self.account = account
        self.timeout = timeout
        self.sessions: OrderedDict[str, AesSession] = OrderedDict()
        # what clients sent, for tests: "handshake", then each login_device's params
        self.received: list[Any] = []

    def handshake(self, params: Any) -> tuple[AesSession | None, dict[str, Any]]:
        """A new session and the answer; no session when the key is not a usable RSA key."""
        self.received.append("handshake")
        pem = params.get("key") if isinstance(params, dict) else None
        public = _load_key(pem)
        if public is None:
            return None, {"error_code": INVALID_PUBLIC_KEY}
        session = AesSession(
            sid=os.urandom(16).hex().upper(),
            key=os.urandom(16),
            iv=os.urandom(16),
            created=time.monotonic(),
            timeout=self.timeout,
        )
        wrapped = public.encrypt(session.key + session.iv, rsa_padding.PKCS1v15())
        self.sessions[session.sid] = session
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)
        return session, {"error_code": 0, "result": {"key": base64.b64encode(wrapped).decode()}}

    def live(self, sid: str | None) -> AesSession | None:
        session = self.sessions.get(sid or "")
        if session is None or session.dead or session.expired(time.monotonic()):
            if session is not None:
                self.sessions.pop(session.sid, None)
            return None
        return session

    def login(
        self, session: AesSession, params: Any, *, accept_any: bool = False
    ) -> dict[str, Any]:
        """The inner answer to ``login_device``."""
        self.received.append(dict(params) if isinstance(params, dict) else params)
        expected = login_params(self.version, self.account)
        given = {k: params.get(k) for k in expected} if isinstance(params, dict) else {}
        if accept_any or given == expected:
            session.token = os.urandom(16).hex().upper()
            return {"error_code": 0, "result": {"token": session.token}}
        session.dead = True
        return {"error_code": LOGIN_ERROR}

    def expire_all(self) -> None:
        self.sessions.clear()


def _load_key(pem: Any) -> RSAPublicKey | None:
    if not isinstance(pem, str) or len(pem) > 4096:
        return None
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        return None
    if not isinstance(key, RSAPublicKey) or not 1024 <= key.key_size <= 4096:
        return None
    return key


def parse_json(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
