"""KLAP over HTTP (port 80): the current generation's usual transport (docs/protocols.md, "KLAP").

handshake1 sends 16 random bytes; the plug answers its own 16 and a proof built from the
credentials *it* holds. That proof is checked before anything else is sent: a plug that cannot
prove the owner's credentials is refused, whether the password is wrong or the plug is not the
one it claims to be. So, unlike AES, a KLAP session proves the plug knows the password, and
the password itself never leaves the shell (only hashes of it, mixed with fresh seeds).
handshake2 proves the shell knows them too; then every request is AES-128-CBC under keys
derived from both seeds, with a sequence number in the IV and a SHA-256 signature in front.

The session (cookie and keys) is kept: a watch does not handshake per reading. It is renewed
before the plug's TIMEOUT runs out and when the plug answers 403 (it forgot the session).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kshell.device.transports import defaults
from kshell.device.transports.base import Credentials
from kshell.device.transports.http import HttpTransport
from kshell.device.transports.httpclient import HttpAnswer, snippet
from kshell.errors import AuthenticationError, NoCredentials, ProtocolError

SEQ = struct.Struct(">i")  # signed: python-kasa packs it with ">l", the plug reads it so
SEQ_MAX = 2**31 - 1
SESSION_COOKIE = "TP_SESSIONID"
# what python-kasa's HTTP client sends with a bytes body, so the plug sees a familiar request
HEADERS = {"Accept": "*/*", "Content-Type": "application/octet-stream"}


class ThirdPartyOff(AuthenticationError):
    """403 to handshake1: newer firmware refuses local clients until the owner allows them."""


class ProofMismatch(AuthenticationError):
    """handshake1's proof fits none of the credentials tried. ``proves`` names a setup
    default or blank pair the plug does prove, if any (an unclaimed or reset plug)."""

    def __init__(self, message: str, *, proves: str | None = None) -> None:
        super().__init__(message)
        self.proves = proves


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def auth_hash(version: int, credentials: Credentials) -> bytes:
    """v1: md5(md5(user) ‖ md5(password)); v2: sha256(sha1(user) ‖ sha1(password))."""
    user, password = credentials.username.encode(), credentials.password.encode()
    if version == 1:
        return hashlib.md5(hashlib.md5(user).digest() + hashlib.md5(password).digest()).digest()
    return _sha256(hashlib.sha1(user).digest() + hashlib.sha1(password).digest())


def server_proof(version: int, local_seed: bytes, remote_seed: bytes, auth: bytes) -> bytes:
    """What the plug answers to handshake1 when it holds ``auth``."""
    if version == 1:
        return _sha256(local_seed + auth)
    return _sha256(local_seed + remote_seed + auth)


def client_proof(version: int, local_seed: bytes, remote_seed: bytes, auth: bytes) -> bytes:
    """What the shell sends in handshake2."""
    if version == 1:
        return _sha256(remote_seed + auth)
    return _sha256(remote_seed + local_seed + auth)


@dataclass(frozen=True, slots=True)
class KlapKeys:
    """The session's keys, all from ``local_seed ‖ remote_seed ‖ auth``."""

    key: bytes  # AES-128
    iv_prefix: bytes  # 12 bytes; the IV ends with the request's sequence number
    signature_key: bytes  # 28 bytes
    first_seq: int  # the first request uses first_seq + 1

    @classmethod
    def derive(cls, local_seed: bytes, remote_seed: bytes, auth: bytes) -> KlapKeys:
        both = local_seed + remote_seed + auth
        iv = _sha256(b"iv" + both)
        return cls(
            key=_sha256(b"lsk" + both)[:16],
            iv_prefix=iv[:12],
            signature_key=_sha256(b"ldk" + both)[:28],
            # the LAST four bytes of the digest, as python-kasa reads them (an earlier note's
            # "ivfull[12:16]" is wrong: the cross-check test against python-kasa shows it)
            first_seq=SEQ.unpack(iv[-4:])[0],
        )


class KlapSession:
    """One live session: keys, the last sequence number used, the cookie to send."""

    def __init__(self, keys: KlapKeys, cookie: str | None) -> None:
        # imported here: a one-shot XOR command never pays for the crypto library
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        self.keys = keys
        self.seq = keys.first_seq
        self.headers = with_cookie(cookie)
        self._aes = algorithms.AES(keys.key)
        self._cipher, self._cbc = Cipher, modes.CBC

    @property
    def exhausted(self) -> bool:
        return self.seq >= SEQ_MAX

    def _cipher_for(self, seq: int) -> Any:
        return self._cipher(self._aes, self._cbc(self.keys.iv_prefix + SEQ.pack(seq)))

    def encrypt(self, plaintext: bytes) -> tuple[int, bytes]:
        """The next sequence number and the body to send: signature ‖ ciphertext."""
        self.seq += 1
        pad = 16 - len(plaintext) % 16
        encryptor = self._cipher_for(self.seq).encryptor()
        ciphertext = encryptor.update(plaintext + bytes([pad]) * pad) + encryptor.finalize()
        signature = _sha256(self.keys.signature_key + SEQ.pack(self.seq) + ciphertext)
        return self.seq, signature + ciphertext

    def decrypt(self, seq: int, body: bytes) -> bytes:
        """The answer to request ``seq``. Its leading signature is not checked: python-kasa
        and the other known clients skip it, so how real plugs sign answers is unknown; a
        wrong key still shows, as padding or text that does not come out."""
        ciphertext = body[32:]
        if not ciphertext or len(ciphertext) % 16:
            raise ProtocolError(
                f"encrypted answer of {len(body)} bytes is not a signature and AES blocks"
            )
        decryptor = self._cipher_for(seq).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        pad = padded[-1]
        if not 1 <= pad <= 16 or padded[-pad:] != bytes([pad]) * pad:
            raise ProtocolError("the answer does not decrypt with this session's key")
        return bytes(padded[:-pad])  # the cipher is typed Any: say what comes back


def with_cookie(cookie: str | None) -> dict[str, str]:
    """The headers of a request in a session (only the id: the plug dislikes TIMEOUT back)."""
    return {**HEADERS, "Cookie": f"{SESSION_COOKIE}={cookie}"} if cookie else HEADERS


def plain_error_code(body: bytes) -> int | None:
    """A short JSON ``{"error_code": N}`` where ciphertext was due: the plug answered
    without decrypting (a session it forgot, or credentials it does not know)."""
    if not body.startswith(b"{") or len(body) > 512:
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    code = answer.get("error_code") if isinstance(answer, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


class KlapTransport(HttpTransport):
    """KLAP to one plug, login version 1 (md5, old IOT plugs) or 2 (sha, the rest).

    If the plug's proof fits the other login version with the same credentials, that one is
    used (it proves the password just as well) and ``login_version`` says so.
    """

    scheme = "KLAP"
    authenticates_plug = True

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
        self._session: KlapSession | None = None
        self._auth_cache: dict[tuple[int, Credentials], bytes] = {}

    def _has_session(self) -> bool:
        return self._session is not None

    def _drop_session(self) -> None:
        self._session = None

    async def _exchange(self, request: bytes, idempotent: bool, deadline: float) -> bytes:
        renewed = False
        while True:
            session = self._session
            if session is None or not self.session_established or session.exhausted:
                session = await self._handshake(deadline)
                renewed = True
            seq, body = session.encrypt(request)
            answer = await self._post(
                f"/app/request?seq={seq}",
                body,
                deadline,
                resend=idempotent,
                headers=session.headers,
            )
            code = plain_error_code(answer.body) if answer.status == 200 else None
            refused = answer.status == 403 or code in defaults.SESSION_REFUSED
            if refused and not renewed:
                # the plug turned the request away before reading it: safe to send again
                self._session = None
                continue
            if refused:
                self._session = None
                what = "HTTP 403" if code is None else f"error_code {defaults.code_meaning(code)}"
                raise ProtocolError(f"the plug refused a session it had just opened ({what})")
            if answer.status != 200:
                raise ProtocolError(f"HTTP {answer.status} to a KLAP request")
            if code is not None:
                self._session = None
                raise ProtocolError(f"the plug answered error_code {defaults.code_meaning(code)}")
            try:
                return session.decrypt(seq, answer.body)
            except ProtocolError:
                self._session = None  # out of step: the next request starts a fresh session
                raise

    async def _handshake(self, deadline: float) -> KlapSession:
        self._session = None
        local_seed = os.urandom(16)  # what secrets.token_bytes does, without its imports
        first = await self._post(
            "/app/handshake1", local_seed, deadline, resend=True, headers=HEADERS
        )
        remote_seed, proof = self._check_handshake1(first)
        auth, version, source = self._match_proof(local_seed, remote_seed, proof)
        cookie = first.cookies.get(SESSION_COOKIE)
        second = await self._post(
            "/app/handshake2",
            client_proof(version, local_seed, remote_seed, auth),
            deadline,
            resend=True,
            headers=with_cookie(cookie),
        )
        if second.status == 403:
            raise AuthenticationError(
                "the plug refused the shell's proof in handshake2 (HTTP 403), although its "
                "own proof matched"
            )
        if second.status != 200:
            raise ProtocolError(f"HTTP {second.status} to handshake2")
        self.login_version, self.credentials_source = version, source
        session = KlapSession(KlapKeys.derive(local_seed, remote_seed, auth), cookie)
        self._session = session
        self._start_session(first.cookies)
        return session

    @staticmethod
    def _check_handshake1(answer: HttpAnswer) -> tuple[bytes, bytes]:
        if answer.status == 403:
            raise ThirdPartyOff(
                "the plug refused the handshake (HTTP 403): third-party compatibility is "
                "probably off in the Tapo/Kasa app (turn it on there)"
            )
        if answer.status != 200:
            raise ProtocolError(f"HTTP {answer.status} to handshake1")
        if len(answer.body) != 48:
            code = plain_error_code(answer.body)
            if code is not None:
                raise ProtocolError(f"handshake1 answered error_code {defaults.code_meaning(code)}")
            raise ProtocolError(
                f"handshake1 answer of {len(answer.body)} bytes, not 48: "
                f"'{snippet(answer.body, 24)}'"
            )
        return answer.body[:16], answer.body[16:]

    def _auth(self, version: int, credentials: Credentials) -> bytes:
        key = (version, credentials)
        if key not in self._auth_cache:
            self._auth_cache[key] = auth_hash(version, credentials)
        return self._auth_cache[key]

    def _match_proof(
        self, local_seed: bytes, remote_seed: bytes, proof: bytes
    ) -> tuple[bytes, int, str]:
        """Which credentials (and login version) the plug's proof was built from."""
        versions = (self.login_version, 3 - self.login_version)
        owner = self.credentials
        candidates = [(defaults.OWNER, owner)] if owner is not None and not owner.blank else []
        setup = list(defaults.SETUP_CREDENTIALS)
        if self.try_defaults:
            candidates += setup
        for source, credentials in candidates:
            for version in versions:
                auth = self._auth(version, credentials)
                if hmac.compare_digest(server_proof(version, local_seed, remote_seed, auth), proof):
                    return auth, version, source
        for source, credentials in setup:  # only to say why, never to use
            for version in versions:
                auth = self._auth(version, credentials)
                if hmac.compare_digest(server_proof(version, local_seed, remote_seed, auth), proof):
                    raise ProofMismatch(
                        f"the plug proves {source}, not the owner's credentials: it is not "
                        "bound to a cloud account (reset?); set it up in the Kasa/Tapo app",
                        proves=source,
                    )
        if not candidates:
            raise NoCredentials(
                f"the plug needs its owner's cloud credentials: {defaults.WHAT_TO_SET}"
            )
        raise ProofMismatch(
            "the plug's handshake proof does not match the credentials: most likely the e-mail "
            f"or password is wrong (both case-sensitive; {defaults.WHAT_TO_SET}); if they are "
            "right, this is not the plug it claims to be"
        )
