"""A current-generation plug's web endpoints: KLAP or AES in front of IOT or SMART JSON.

KLAP plugs answer ``POST /app/handshake1``, ``/app/handshake2`` and ``/app/request?seq=N``
(and ``{"error_code":1003}`` to plain JSON on ``/app``, as seen in the field); AES plugs answer
``POST /app`` (``handshake``, then ``securePassthrough``, with ``?token=`` after the login).
Behind either sits ``app``: the plug's JSON handler (``SimPlug.handle`` for IOT over KLAP, a
``SmartApi`` for SMART), bytes in and bytes out.

Faults (see ``faults.FAULTS``): ``third_party_off`` (403 on the first handshake),
``impostor`` (the plug does not know the password: a KLAP proof that matches nothing, an AES
login that takes anything), ``password_changed``, ``session_expired`` (the next N requests
find their session gone), ``bad_body`` and ``bad_signature`` (answers that do not decrypt or
do not verify).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from kshell.simulator.accounts import DEFAULT_KASA, DEFAULT_TAPO, Account
from kshell.simulator.aes import AES_DECODE_ERROR, SESSION_TIMEOUT_CODE, AesServer, parse_json
from kshell.simulator.faults import Faults
from kshell.simulator.http import HttpRequest, HttpResponse
from kshell.simulator.klap import KlapServer, KlapSession
from kshell.simulator.smart import SmartApi
from kshell.simulator.smart_models import SMART_MODELS, TAPO_PLUG

if TYPE_CHECKING:
    from kshell.simulator.plug import SimPlug

App = Callable[[bytes], bytes]
COOKIE = "TP_SESSIONID"
_JSON = "application/json"


def _json(value: object, cookie: str | None = None) -> HttpResponse:
    body = json.dumps(value, separators=(",", ":")).encode()
    return HttpResponse(200, body, _JSON, cookie)


def changed(account: Account) -> Account:
    """The account after the owner changed the password (the ``password_changed`` fault)."""
    return Account(account.username, account.password + "-changed")


class PlugWeb:
    """The HTTP side of one plug: which transport, whose account, which JSON handler."""

    def __init__(
        self,
        transport: str,
        login_version: int,
        account: Account,
        app: App,
        faults: Faults,
        session_timeout: float = 86400,
    ) -> None:
        if transport not in ("klap", "aes"):
            raise ValueError(f"unknown HTTP transport {transport!r}")
        self.transport = transport
        self.account = account
        self.app = app
        self.faults = faults
        self.session_timeout = session_timeout
        self.klap = KlapServer(login_version, account, session_timeout)
        self.aes = AesServer(login_version, account, session_timeout)

    def _cookie(self, sid: str) -> str:
        return f"{COOKIE}={sid};TIMEOUT={int(self.session_timeout)}"

    def _sync_account(self) -> None:
        account = changed(self.account) if "password_changed" in self.faults else self.account
        self.klap.account = self.aes.account = account

    def handle(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponse(405)
        self._sync_account()
        if self.transport == "klap":
            return self._klap(request)
        return self._aes(request)

    # -- KLAP ----------------------------------------------------------------------------
    def _klap(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if path == "/app/handshake1":
            if "third_party_off" in self.faults:
                return HttpResponse(403)
            if len(request.body) != 16:
                return HttpResponse(400)
            session, answer = self.klap.handshake1(request.body, impostor="impostor" in self.faults)
            return HttpResponse(200, answer, cookie=self._cookie(session.sid))
        if path == "/app/handshake2":
            if not self.klap.handshake2(request.cookies.get(COOKIE), request.body):
                return HttpResponse(403)
            return HttpResponse(200)
        if path == "/app/request":
            return self._klap_request(request)
        if path == "/app":
            return _json({"error_code": 1003})  # old JSON sent to a KLAP plug
        return HttpResponse(404)

    def _klap_request(self, request: HttpRequest) -> HttpResponse:
        if self.faults.consume("session_expired"):
            self.klap.expire_all()
        session = self.klap.live(request.cookies.get(COOKIE))
        if session is None:
            return HttpResponse(403)
        try:
            seq = int(request.query.get("seq", ""))
        except ValueError:
            return HttpResponse(400)
        if not -(2**31) <= seq < 2**31:
            return HttpResponse(400)
        if session.impostor:
            return HttpResponse(200, os.urandom(64))  # it cannot read what it was sent
        plaintext = session.open(seq, request.body)
        if plaintext is None or not session.take_seq(seq):
            return HttpResponse(400)
        return HttpResponse(200, self._seal_klap(session, seq, self.app(plaintext)))

    def _seal_klap(self, session: KlapSession, seq: int, answer: bytes) -> bytes:
        if "bad_body" in self.faults:
            return os.urandom(32) + os.urandom(16 * max(2, len(answer) // 16))
        sealed = session.seal(seq, answer)
        if "bad_signature" in self.faults:
            return bytes(b ^ 0xFF for b in sealed[:32]) + sealed[32:]
        return sealed

    # -- AES -----------------------------------------------------------------------------
    def _aes(self, request: HttpRequest) -> HttpResponse:
        if request.path != "/app":
            return HttpResponse(404)
        outer = parse_json(request.body)
        if outer is None:
            return _json({"error_code": -1003})
        method = outer.get("method")
        if method == "handshake":
            if "third_party_off" in self.faults:
                return HttpResponse(403)
            session, greeting = self.aes.handshake(outer.get("params"))
            return _json(greeting, self._cookie(session.sid) if session else None)
        if method != "securePassthrough":
            return _json({"error_code": -1002})
        if self.faults.consume("session_expired"):
            self.aes.expire_all()
        session = self.aes.live(request.cookies.get(COOKIE))
        if session is None:
            return _json({"error_code": SESSION_TIMEOUT_CODE})
        params = outer.get("params")
        inner_text = session.open(params.get("request") if isinstance(params, dict) else None)
        if inner_text is None:
            return _json({"error_code": AES_DECODE_ERROR})
        inner = parse_json(inner_text)
        answer: bytes
        if inner is not None and inner.get("method") == "login_device":
            answer = json.dumps(
                self.aes.login(session, inner.get("params"), accept_any="impostor" in self.faults)
            ).encode()
        elif session.token is None or request.query.get("token") != session.token:
            return _json({"error_code": SESSION_TIMEOUT_CODE})  # not logged in on this session
        else:
            answer = self.app(inner_text)
        if "bad_body" in self.faults:
            response = os.urandom(48).hex()  # not base64 of a cipher text
        else:
            response = session.seal(answer)
        return _json({"error_code": 0, "result": {"response": response}})

    def expire_all(self) -> None:
        self.klap.expire_all()
        self.aes.expire_all()


def _iot_app(plug: SimPlug) -> App:
    """IOT JSON over KLAP: exactly the old module/method JSON, no XOR, no length prefix."""

    def app(body: bytes) -> bytes:
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            request = None
        if not isinstance(request, dict):
            answer: dict[str, object] = {"err_code": -1, "err_msg": "json decode fail"}
        else:
            answer = plug.handle(request)
        return json.dumps(answer, separators=(",", ":")).encode()

    return app


def make_web(plug: SimPlug, owner: Account) -> PlugWeb:
    """The web side of ``plug``; ``owner`` is the simulator's account unless the plug has one.

    A SMART plug also gets ``plug.smart`` (its ``SmartApi``), for tests to look at.
    """
    account = plug.spec.account or owner
    if plug.spec.factory_default:
        tapo = plug.kind.device_type == TAPO_PLUG
        account = DEFAULT_TAPO if tapo else DEFAULT_KASA
    smart_model = SMART_MODELS.get(plug.kind.key)
    if smart_model is not None:
        plug.smart = SmartApi(plug, smart_model, plug.spec.child_page)
        app = plug.smart.handle_bytes
    else:
        app = _iot_app(plug)
    web = PlugWeb(
        plug.transport, plug.login_version, account, app, plug.faults, plug.spec.session_timeout
    )
    web.aes.received = plug.aes_received  # one log for the plug's life, for tests to read
    return web
