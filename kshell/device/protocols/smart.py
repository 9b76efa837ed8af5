"""The SMART family's language: JSON-RPC ``{"method", "params"}`` with ``error_code`` answers.

Spoken inside KLAP or AES by the current generation (Tapo P1xx/P3xx, KP125M, EP25 hw 2.6,
EP40M...). Several reads go in one ``multipleRequest`` (five per batch; a device stops at
the first failing entry, so the rest are asked one by one); a list answer that carries
``start_index`` and ``sum`` is asked again from where it stopped; a strip's outlet is
reached through the parent with ``control_child``. Facts: docs/protocols.md, "SMART JSON-RPC".
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass
from typing import Any

from kshell.device import codec as protocol
from kshell.device.transports.base import Transport
from kshell.errors import AuthenticationError, DeviceError, ProtocolError, UsageError

BATCH = 5  # requests per multipleRequest, as the vendor's app sends them
MAX_PAGES = 32  # a list answer longer than this many pages is not a plug's
MEANINGS = {
    -1: "common failure",
    -1001: "unspecific error",
    -1002: "unknown method",
    -1003: "JSON decode failed",
    -1005: "AES decode failed",
    -1008: "bad parameters",
    -1010: "invalid public key",
    -1501: "login failed",
    -100000: "internal unknown error",
    9999: "session timeout",
    1002: "transport failure",
    1003: "unknown credentials (seen after a firmware update that changed the encryption)",
    1100: "handshake failed",
    1111: "login failed",
    1112: "transport failure",
}
AUTH_CODES = frozenset({-1005, -1501, 1003, 1100, 1111})
RETRYABLE = frozenset({-1001, 9999, 1002, 1112})
SINGLES_AFTER = frozenset({-1003, -100000})  # a batch failing so: the device wants singles


class SmartError(DeviceError):
    """The device answered ``error_code != 0``: one line with the method and the meaning."""

    def __init__(self, method: str, code: int, *, target: str | None = None) -> None:
        meaning = MEANINGS.get(code, "unknown error")
        super().__init__("smart", method, code, meaning, target=target)
        self.message = f"{method} failed: error {code} ({meaning})"


def meaning(code: int) -> str:
    return MEANINGS.get(code, "unknown error")


def _code(part: dict[str, Any]) -> int:
    code = part.get("error_code", 0)
    return code if isinstance(code, int) and not isinstance(code, bool) else -100000


def _call(method: str, params: dict[str, Any] | None) -> dict[str, Any]:
    return {"method": method, "params": params} if params else {"method": method}


@dataclass(slots=True)
class Learnt:
    """What a SMART plug said about itself, kept for the link's life: written by the info
    capability, read by the relay (a strip's outlets) and the meter (the plug's days)."""

    components: dict[str, int] | None = None  # component_nego, asked once
    outlets: tuple[str, ...] = ()  # a strip's outlet ids, for `on STRIP`
    time_diff: int | None = None  # minutes east of UTC, as the plug keeps time


class SmartProtocol:
    """JSON-RPC calls to one device; ``child_id`` sends them to an outlet of a strip."""

    family = "smart"

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.terminal = base64.b64encode(os.urandom(16)).decode()  # any 16 bytes, as a client id
        self.batching = True  # off once the device shows it cannot take multipleRequest
        self.learnt = Learnt()

    @property
    def label(self) -> str:
        return self.transport.label

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        child_id: str | None = None,
        idempotent: bool = False,
    ) -> dict[str, Any]:
        """One method's ``result`` (``{}`` for the set_* methods, which return none).

        A read the device refused for a passing reason (a session timeout, a transport
        failure) is asked once more on a fresh session; a state change never is.
        """
        try:
            return await self._call_once(method, params, child_id, idempotent)
        except SmartError as exc:
            if not idempotent or exc.code not in RETRYABLE:
                raise
            self.transport.close()
        return await self._call_once(method, params, child_id, idempotent)

    async def _call_once(
        self,
        method: str,
        params: dict[str, Any] | None,
        child_id: str | None,
        idempotent: bool,
    ) -> dict[str, Any]:
        request = _call(method, params)
        if child_id:
            request = _call("control_child", {"device_id": child_id, "requestData": request})
        answer = await self._send(request, idempotent)
        if child_id:
            answer = self._result(answer, "control_child")
            inner = answer.get("responseData")
            if not isinstance(inner, dict):
                raise ProtocolError(f"control_child answer lacks responseData for {method}")
            answer = inner
        return self._result(answer, method)

    async def call_many(
        self, calls: list[tuple[str, dict[str, Any] | None]], *, child_id: str | None = None
    ) -> dict[str, dict[str, Any] | SmartError]:
        """Several reads; each method's result, or the error the device gave for it."""
        out: dict[str, dict[str, Any] | SmartError] = {}
        pending = list(calls)
        while pending and self.batching and not child_id and len(pending) > 1:
            batch, pending = pending[:BATCH], pending[BATCH:]
            try:
                result = await self.call(
                    "multipleRequest",
                    {"requests": [_call(m, p) for m, p in batch]},
                    idempotent=True,
                )
            except SmartError as exc:
                if exc.code not in SINGLES_AFTER:
                    raise
                self.batching = False
                pending = batch + pending
                break
            before = len(out)
            self._responses(result, out)
            # an entry the device answered with an error is its answer; the ones after it
            # (the device stops at the first failing entry) go in the next batch
            pending = [c for c in batch if c[0] not in out] + pending
            if len(out) == before:  # nothing taken: ask the rest one at a time
                break
        for method, params in pending:
            try:
                out[method] = await self.call(method, params, child_id=child_id, idempotent=True)
            except SmartError as exc:
                out[method] = exc
        return out

    def _responses(
        self, result: dict[str, Any], out: dict[str, dict[str, Any] | SmartError]
    ) -> None:
        responses = result.get("responses")
        if not isinstance(responses, list):
            raise ProtocolError("multipleRequest answer lacks responses", target=self.label)
        for entry in responses[: BATCH * 2]:
            if not isinstance(entry, dict) or not isinstance(entry.get("method"), str):
                continue
            method = entry["method"]
            code = _code(entry)
            if code:
                out[method] = SmartError(method, code, target=self.label)
                continue
            value = entry.get("result", {})
            out[method] = value if isinstance(value, dict) else {}

    async def call_paged(
        self,
        method: str,
        list_key: str,
        params: dict[str, Any] | None = None,
        *,
        child_id: str | None = None,
    ) -> list[Any]:
        """Every entry of a list answer, asking again from ``start_index`` while it is partial."""
        items: list[Any] = []
        for _ in range(MAX_PAGES):
            page_params = dict(params or {})
            if items:
                page_params["start_index"] = len(items)
            result = await self.call(method, page_params, child_id=child_id, idempotent=True)
            page = result.get(list_key)
            if not isinstance(page, list):
                raise ProtocolError(f"{method} answer lacks '{list_key}'", target=self.label)
            items.extend(page)
            total = result.get("sum")
            if not page or not isinstance(total, int) or len(items) >= total:
                return items
        return items

    async def raw(
        self, request: dict[str, Any], *, child_id: str | None = None, idempotent: bool = False
    ) -> dict[str, Any]:
        """A ``{"method", "params"}`` request as the operator wrote it; the whole answer."""
        method, params = request.get("method"), request.get("params", {})
        if (
            not isinstance(method, str)
            or not isinstance(params, dict)
            or set(request)
            - {
                "method",
                "params",
            }
        ):
            raise UsageError(
                'raw: a SMART plug takes {"method": ..., "params": {...}}, '
                'e.g. {"method":"get_device_info"}'
            )
        if child_id:
            request = _call("control_child", {"device_id": child_id, "requestData": request})
        return await self._send(request, idempotent)

    def errors_in(
        self, request: dict[str, Any], answer: dict[str, Any], target: str
    ) -> list[DeviceError]:
        """Every ``error_code`` other than 0: the call's, a child's, each batched request's."""
        method = request.get("method")
        name = method if isinstance(method, str) else "request"
        if _code(answer):
            return [SmartError(name, _code(answer), target=target)]
        result = answer.get("result")
        result = result if isinstance(result, dict) else {}
        inner = result.get("responseData")
        if isinstance(inner, dict) and _code(inner):
            params = request.get("params")
            asked = params.get("requestData") if isinstance(params, dict) else None
            inner_name = asked.get("method") if isinstance(asked, dict) else None
            return [SmartError(str(inner_name or name), _code(inner), target=target)]
        responses = result.get("responses")
        return [
            SmartError(str(r.get("method", name)), _code(r), target=target)
            for r in (responses if isinstance(responses, list) else [])[:50]
            if isinstance(r, dict) and _code(r)
        ]

    async def _send(self, request: dict[str, Any], idempotent: bool) -> dict[str, Any]:
        full = {
            **request,
            "request_time_milis": int(time.time() * 1000),
            "terminal_uuid": self.terminal,
        }
        plain = await self.transport.send(protocol.dumps(full), idempotent=idempotent)
        try:
            return protocol.parse_payload(plain)
        except ProtocolError as exc:
            exc.target = self.label
            raise

    def _result(self, answer: dict[str, Any], method: str) -> dict[str, Any]:
        code = _code(answer)
        if code in AUTH_CODES:
            raise AuthenticationError(
                f"{method} refused: error {code} ({meaning(code)})", target=self.label
            )
        if code:
            raise SmartError(method, code, target=self.label)
        result = answer.get("result", {})
        if not isinstance(result, dict):
            raise ProtocolError(f"{method} answer's result is not an object", target=self.label)
        return result

    def close(self) -> None:
        self.transport.close()
