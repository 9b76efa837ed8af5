"""The plug's side of KLAP (login versions 1 and 2): handshake, session keys, sealed messages.

Facts (python-kasa ``kasa/transports/klaptransport.py``; docs/protocols.md, "KLAP"):

* auth hash: v1 ``md5(md5(user) + md5(password))``, v2 ``sha256(sha1(user) + sha1(password))``;
* handshake1 takes the client's 16-byte seed and answers ``remote_seed(16) + proof(32)`` with
  ``proof = sha256(local + auth)`` (v1) or ``sha256(local + remote + auth)`` (v2), built from
  the plug's own account, and sets ``TP_SESSIONID=<id>;TIMEOUT=<seconds>``;
* handshake2 takes ``sha256(remote + auth)`` (v1) or ``sha256(remote + local + auth)`` (v2);
  a mismatch is answered 403 (seen in the field);
* session keys from ``B = local + remote + auth``: AES key ``sha256("lsk"+B)[:16]``, signature
  key ``sha256("ldk"+B)[:28]``, ``sha256("iv"+B)`` gives the IV prefix (its first 12 bytes)
  and the starting sequence (its last 4 bytes, ``fulliv[-4:]`` in python-kasa's
  ``_iv_derive``, signed big-endian; not ``[12:16]``, as once thought);
* each message: ``sig(32) + AES-128-CBC(key, prefix + int32(seq), PKCS7(json))`` with
  ``sig = sha256(sigkey + int32(seq) + ciphertext)``; the answer uses the request's seq.

Nothing here does I/O: ``http`` feeds requests in and writes what comes back.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kshell.simulator.accounts import Account

MAX_SESSIONS = 16  # per plug; the oldest is forgotten first, as a small device would
_SEEN_SEQS = 256  # a sequence number used twice within this window is refused


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def auth_hash(version: int, account: Account) -> bytes:
    user, password = account.username.encode(), account.password.encode()
    if version == 1:
        return hashlib.md5(hashlib.md5(user).digest() + hashlib.md5(password).digest()).digest()
    return _sha256(hashlib.sha1(user).digest() + hashlib.sha1(password).digest())


def server_proof(version: int, local: bytes, remote: bytes, auth: bytes) -> bytes:
    """What handshake1 answers after the remote seed."""
    return _sha256(local + auth) if version == 1 else _sha256(local + remote + auth)


def client_proof(version: int, local: bytes, remote: bytes, auth: bytes) -> bytes:
    """What handshake2 must carry."""
    return _sha256(remote + auth) if version == 1 else _sha256(remote + local + auth)


def _seq_bytes(seq: int) -> bytes:
    return struct.pack(">i", seq)


@dataclass
class KlapSession:
    """One client's session: seeds, derived keys and the sequence numbers seen."""

    sid: str
    local_seed: bytes
    remote_seed: bytes
    auth: bytes
    created: float
    timeout: float
    confirmed: bool = False  # handshake2 passed
    impostor: bool = False  # the plug did not know the password (a fault)
    key: bytes = b""
    sig_key: bytes = b""
    iv_prefix: bytes = b""
    seq0: int = 0
    seen: deque[int] = field(default_factory=lambda: deque(maxlen=_SEEN_SEQS))

    def __post_init__(self) -> None:
        base = self.local_seed + self.remote_seed + self.auth
        self.key = _sha256(b"lsk" + base)[:16]
        self.sig_key = _sha256(b"ldk" + base)[:28]
        ivfull = _sha256(b"iv" + base)
        self.iv_prefix = ivfull[:12]
        self.seq0 = struct.unpack(">i", ivfull[-4:])[0]  # the last 4 bytes (python-kasa)

    def expired(self, now: float) -> bool:
        return now >= self.created + self.timeout

    def _cipher(self, seq: int) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.iv_prefix + _seq_bytes(seq)))

    def signature(self, seq: int, ciphertext: bytes) -> bytes:
        return _sha256(self.sig_key + _seq_bytes(seq) + ciphertext)

    def open(self, seq: int, body: bytes) -> bytes | None:
        """The plaintext of a request, or None when the signature or padding is wrong."""
        if len(body) < 48 or (len(body) - 32) % 16:
            return None
        sig, ciphertext = body[:32], body[32:]
        if not hmac.compare_digest(sig, self.signature(seq, ciphertext)):
            return None
        decryptor = self._cipher(seq).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            return None

    def seal(self, seq: int, plaintext: bytes) -> bytes:
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = self._cipher(seq).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        return self.signature(seq, ciphertext) + ciphertext

    def take_seq(self, seq: int) -> bool:
        """Record ``seq``; False when it was already used (a replay)."""
        if seq in self.seen:
            return False
        self.seen.append(seq)
        return True


class KlapServer:
    """The sessions of one plug and the three KLAP endpoints' logic."""

    def __init__(self, version: int, account: Account, timeout: float = 86400) -> None:
        self.version = version
        self.account = account
        self.timeout = timeout
        self.sessions: OrderedDict[str, KlapSession] = OrderedDict()

    def _auth(self) -> bytes:
        return auth_hash(self.version, self.account)

    def handshake1(self, local_seed: bytes, *, impostor: bool = False) -> tuple[KlapSession, bytes]:
        """A new (unconfirmed) session and the 48-byte answer."""
        now = time.monotonic()
        remote = os.urandom(16)
        auth = os.urandom(len(self._auth())) if impostor else self._auth()
        session = KlapSession(
            sid=os.urandom(16).hex().upper(),
            local_seed=local_seed,
            remote_seed=remote,
            auth=auth,
            created=now,
            timeout=self.timeout,
            impostor=impostor,
        )
        self.sessions[session.sid] = session
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)
        proof = server_proof(self.version, local_seed, remote, auth)
        return session, remote + proof

    def handshake2(self, sid: str | None, body: bytes) -> bool:
        session = self.live(sid, confirmed=False)
        if session is None:
            return False
        expected = client_proof(self.version, session.local_seed, session.remote_seed, session.auth)
        if not session.impostor and not hmac.compare_digest(body, expected):
            self.sessions.pop(session.sid, None)
            return False
        session.confirmed = True
        return True

    def live(self, sid: str | None, *, confirmed: bool = True) -> KlapSession | None:
        """The session ``sid`` if it exists, has not expired and is (or is not yet) confirmed."""
        session = self.sessions.get(sid or "")
        if session is None:
            return None
        now = time.monotonic()
        if session.expired(now):
            self.sessions.pop(session.sid, None)
            return None
        if session.confirmed != confirmed:
            return None
        return session

    def expire_all(self) -> None:
        """Forget every session (the plug's session table was wiped)."""
        self.sessions.clear()
