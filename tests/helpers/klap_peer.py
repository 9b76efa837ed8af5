"""A TEST PEER, not product code: a KLAP or AES plug on loopback, written from docs/protocols.md
for the transport tests, with the faults they need. It shares no code with the client
(its crypto goes through ``cryptography``'s own padding, the client pads by hand), and
python-kasa's transports talk to it in the tests, which shows it speaks the real protocol.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def klap_auth(version: int, user: str, password: str) -> bytes:
    if version == 1:
        md5 = hashlib.md5
        return md5(md5(user.encode()).digest() + md5(password.encode()).digest()).digest()
    sha1 = hashlib.sha1
    return sha256(sha1(user.encode()).digest() + sha1(password.encode()).digest())


def cbc(key: bytes, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    if encrypt:
        padder = padding.PKCS7(128).padder()
        data = padder.update(data) + padder.finalize()
        enc = cipher.encryptor()
        return enc.update(data) + enc.finalize()
    dec = cipher.decryptor()
    padded = dec.update(data) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def echo(request: bytes) -> bytes:
    return json.dumps({"error_code": 0, "result": {"echo": json.loads(request)}}).encode()


@dataclass
class KlapState:
    local: bytes
    remote: bytes
    auth: bytes
    confirmed: bool = False

    def keys(self) -> tuple[bytes, bytes, bytes]:
        both = self.local + self.remote + self.auth
        return sha256(b"lsk" + both)[:16], sha256(b"iv" + both)[:12], sha256(b"ldk" + both)[:28]


@dataclass
class AesState:
    key: bytes
    iv: bytes
    token: str | None = None


@dataclass
class PeerPlug:
    """One plug. ``holds`` is the (user, password) the plug knows (its owner's)."""

    mode: str = "klap"  # or "aes"
    holds: tuple[str, str] = ("owner@example.com", "s3cret")
    login_version: int = 2
    timeout_cookie: str | None = "86400"
    answer: Callable[[bytes], bytes] = echo
    # faults
    third_party_off: bool = False  # 403 to handshake1
    refuse_handshake2: bool = False  # 403 to handshake2 whatever the proof
    delay: float = 0.0  # before every answer
    delay_paths: tuple[str, ...] = ()  # only these paths are delayed (all when empty)
    raw: bytes | None = None  # sent instead of any answer to a request (not handshakes)
    raw_on_handshake: bytes | None = None  # sent instead of the handshake1 / handshake answer
    undecryptable: bool = False  # answer requests with bytes that do not decrypt
    close_after_processing: int = 0  # this many requests are carried out, then no answer
    close_before_processing: int = 0  # this many requests are dropped unread
    plain_error: int | None = None  # answer requests once with {"error_code": N} in clear
    idle_drop: float = 0.0  # a request on a connection idle this long is dropped unread
    # what happened
    handshakes: int = 0
    refusals: int = 0  # requests turned away for an unknown session
    connections: int = 0
    processed: list[bytes] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    logins: list[dict[str, Any]] = field(default_factory=list)
    handshake_sizes: list[int] = field(default_factory=list)  # AES handshake bodies
    klap: dict[str, KlapState] = field(default_factory=dict)
    aes: dict[str, AesState] = field(default_factory=dict)
    server: asyncio.AbstractServer | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    port: int = 0

    async def start(self, host: str = "127.0.0.1") -> PeerPlug:
        self.server = await asyncio.start_server(self._connection, host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def forget_sessions(self) -> None:
        self.klap.clear()
        self.aes.clear()

    # -- HTTP -------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.connections += 1
        self.writers.append(writer)
        last_answer = None
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                now = asyncio.get_running_loop().time()
                if self.idle_drop and last_answer and now - last_answer > self.idle_drop:
                    break  # the plug closed its idle end just as the request came in
                lines = head.decode("latin-1").split("\r\n")
                _, target, _ = lines[0].split(" ")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                cookie = ""
                for part in headers.get("cookie", "").split(";"):
                    name, _, value = part.strip().partition("=")
                    if name == "TP_SESSIONID":
                        cookie = value
                path, _, query = target.partition("?")
                reply = await self._route(path, query, body, cookie)
                if reply is None:
                    break
                if self.delay and (not self.delay_paths or path in self.delay_paths):
                    await asyncio.sleep(self.delay)
                writer.write(reply)
                await writer.drain()
                last_answer = asyncio.get_running_loop().time()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:  # the test's loop is ending
            pass
        writer.close()

    @staticmethod
    def http(status: int, body: bytes = b"", cookies: str | None = None) -> bytes:
        reason = {200: "OK", 403: "Forbidden", 400: "Bad Request"}.get(status, "X")
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n"
        if cookies:
            head += f"Set-Cookie: {cookies}\r\n"
        return (head + "\r\n").encode() + body

    def _cookie(self, session: str) -> str:
        timeout = f";TIMEOUT={self.timeout_cookie}" if self.timeout_cookie is not None else ""
        return f"TP_SESSIONID={session}{timeout}"

    async def _route(self, path: str, query: str, body: bytes, cookie: str) -> bytes | None:
        if self.mode == "klap":
            if path == "/app/handshake1":
                return self._handshake1(body)
            if path == "/app/handshake2":
                return self._handshake2(body, cookie)
            if path == "/app/request":
                return self._klap_request(query, body, cookie)
            return self.http(404)
        if path == "/app":
            return self._aes(query, body, cookie)
        return self.http(404)

    def _request_fault(self, plain: bytes | None) -> bytes | None | bool:
        """None: close without answering; bytes: send those; True: answer normally."""
        if self.close_before_processing:
            self.close_before_processing -= 1
            return None
        if self.plain_error is not None:  # turned away unread
            code, self.plain_error = self.plain_error, None
            return self.http(200, json.dumps({"error_code": code}).encode())
        if plain is not None:
            self.processed.append(plain)
        if self.close_after_processing:
            self.close_after_processing -= 1
            return None
        if self.raw is not None:
            return self.raw
        return True

    # -- KLAP -------------------------------------------------------------------------
    def _handshake1(self, local: bytes) -> bytes:
        if self.third_party_off:
            return self.http(403)
        if self.raw_on_handshake is not None:
            return self.raw_on_handshake
        self.handshakes += 1
        remote = secrets.token_bytes(16)
        auth = klap_auth(self.login_version, *self.holds)
        if self.login_version == 1:
            proof = sha256(local + auth)
        else:
            proof = sha256(local + remote + auth)
        session = secrets.token_hex(16).upper()
        self.klap[session] = KlapState(local, remote, auth)
        return self.http(200, remote + proof, self._cookie(session))

    def _handshake2(self, body: bytes, cookie: str) -> bytes:
        state = self.klap.get(cookie)
        if state is None:
            return self.http(403)
        if self.login_version == 1:
            expected = sha256(state.remote + state.auth)
        else:
            expected = sha256(state.remote + state.local + state.auth)
        if body != expected or self.refuse_handshake2:
            return self.http(403)
        state.confirmed = True
        return self.http(200)

    def _klap_request(self, query: str, body: bytes, cookie: str) -> bytes | None:
        state = self.klap.get(cookie)
        if state is None or not state.confirmed:
            self.refusals += 1
            if self.close_before_processing:  # dropped unread either way
                self.close_before_processing -= 1
                return None
            return self.http(403)
        seq = int(query.removeprefix("seq="))
        key, iv, sig = state.keys()
        packed = struct.pack(">i", seq)
        if sha256(sig + packed + body[32:]) != body[:32]:
            return self.http(400)
        self.seqs.append(seq)
        plain = cbc(key, iv + packed, body[32:], encrypt=False)
        fault = self._request_fault(plain)
        if fault is not True:
            return fault  # type: ignore[return-value]
        if self.undecryptable:
            return self.http(200, secrets.token_bytes(32 + 48))
        ct = cbc(key, iv + packed, self.answer(plain), encrypt=True)
        return self.http(200, sha256(sig + packed + ct) + ct)

    # -- AES --------------------------------------------------------------------------
    def _aes(self, query: str, body: bytes, cookie: str) -> bytes | None:
        message = json.loads(body)
        if message.get("method") == "handshake":
            if self.raw_on_handshake is not None:
                return self.raw_on_handshake
            self.handshakes += 1
            self.handshake_sizes.append(len(body))
            public = serialization.load_pem_public_key(message["params"]["key"].encode())
            key_iv = secrets.token_bytes(32)
            sealed = public.encrypt(key_iv, rsa_padding.PKCS1v15())  # type: ignore[union-attr]
            session = secrets.token_hex(16).upper()
            self.aes[session] = AesState(key_iv[:16], key_iv[16:])
            result = {"error_code": 0, "result": {"key": base64.b64encode(sealed).decode()}}
            return self.http(200, json.dumps(result).encode(), self._cookie(session))
        state = self.aes.get(cookie)
        if state is None:
            self.refusals += 1
            return self.http(200, b'{"error_code":9999}')
        inner = cbc(
            state.key, state.iv, base64.b64decode(message["params"]["request"]), encrypt=False
        )
        request = json.loads(inner)
        if request.get("method") == "login_device":
            self.logins.append(request["params"])
            answer = self._login(state, request["params"])
        else:
            if state.token is None or query != f"token={state.token}":
                self.refusals += 1
                return self.http(200, b'{"error_code":9999}')
            fault = self._request_fault(inner)
            if fault is not True:
                return fault  # type: ignore[return-value]
            answer = self.answer(inner)
        if self.undecryptable and request.get("method") != "login_device":
            sealed_answer = base64.b64encode(secrets.token_bytes(48)).decode()
        else:
            sealed_answer = base64.b64encode(
                cbc(state.key, state.iv, answer, encrypt=True)
            ).decode()
        outer = {"error_code": 0, "result": {"response": sealed_answer}}
        return self.http(200, json.dumps(outer).encode())

    def _login(self, state: AesState, params: dict[str, Any]) -> bytes:
        user, password = self.holds

        def b64_sha1(text: str) -> str:
            return base64.b64encode(hashlib.sha1(text.encode()).hexdigest().encode()).decode()

        if self.login_version == 2:
            good = params.get("password2") == b64_sha1(password)
        else:
            good = params.get("password") == base64.b64encode(password.encode()).decode()
        if not good or params.get("username") != b64_sha1(user):
            return json.dumps({"error_code": -1501}).encode()
        state.token = secrets.token_hex(16).upper()
        return json.dumps({"error_code": 0, "result": {"token": state.token}}).encode()
