"""The IOT family's language: ``{module: {method: params}}`` requests, ``err_code`` answers.

Spoken over XOR/TCP by the first generation and over KLAP by some current firmware
(HS100 hardware 4.1); the transport underneath does not change a byte of it. A strip's
outlet is addressed with ``context.child_ids``.
"""

from __future__ import annotations

import functools
from typing import Any

from kshell.device import codec as protocol
from kshell.device.sysinfo import check_answer
from kshell.device.transports.base import Transport
from kshell.errors import DeviceError, ProtocolError


@functools.lru_cache(maxsize=1024)
def _plain_request(module: str, method: str, child_id: str | None) -> bytes:
    """A request without parameters, encoded once: a watch sends the same one all day."""
    return protocol.dumps(_request(module, method, None, child_id))


def _request(
    module: str, method: str, params: dict[str, Any] | None, child_id: str | None
) -> dict[str, Any]:
    req: dict[str, Any] = {module: {method: params or {}}}
    if child_id:
        req["context"] = {"child_ids": [child_id]}
    return req


class IotProtocol:
    """Module/method requests to one plug; errors name the plug, module and method."""

    family = "iot"

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @property
    def label(self) -> str:
        return self.transport.label

    async def query(
        self,
        module: str,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        child_id: str | None = None,
        idempotent: bool = False,
    ) -> dict[str, Any]:
        """``answer[module][method]``, its ``err_code`` checked."""
        if params:
            message = protocol.dumps(_request(module, method, params, child_id))
        else:
            message = _plain_request(module, method, child_id)
        plain = await self.transport.send(message, idempotent=idempotent)  # no extra frame:
        try:  # a watch asks this tens of thousands of times a second; named only on error
            return check_answer(protocol.parse_payload(plain), module, method, None)
        except (ProtocolError, DeviceError) as exc:
            exc.target = self.label
            raise

    def realtime_request(self, module: str, child_id: str | None) -> bytes:
        """The encoded ``get_realtime`` request (made once) for ``read_while``."""
        return _plain_request(module, "get_realtime", child_id)

    async def raw(
        self, request: dict[str, Any], *, child_id: str | None = None, idempotent: bool = False
    ) -> dict[str, Any]:
        """A request as the operator wrote it (an outlet's context added); the whole answer."""
        if child_id and "context" not in request:
            request = {**request, "context": {"child_ids": [child_id]}}
        return await self._exchange(protocol.dumps(request), idempotent)

    def errors_in(
        self, request: dict[str, Any], answer: dict[str, Any], target: str
    ) -> list[DeviceError]:
        """Every ``err_code`` other than 0 in an answer: at the top, per module, per method."""
        found = []
        if _code(answer):
            found.append(DeviceError("request", "send", _code(answer), _msg(answer), target=target))
        for module, part in answer.items():
            if not isinstance(part, dict):
                continue
            if _code(part):  # a module the plug lacks fails at this level, for every method
                asked = request.get(module)
                methods = ",".join(asked) if isinstance(asked, dict) and asked else "*"
                found.append(DeviceError(module, methods, _code(part), _msg(part), target=target))
                continue
            for method, result in part.items():
                if isinstance(result, dict) and _code(result):
                    found.append(
                        DeviceError(module, method, _code(result), _msg(result), target=target)
                    )
        return found

    async def _exchange(self, message: bytes, idempotent: bool) -> dict[str, Any]:
        plain = await self.transport.send(message, idempotent=idempotent)
        try:
            return protocol.parse_payload(plain)
        except ProtocolError as exc:
            exc.target = self.label
            raise

    def close(self) -> None:
        self.transport.close()


def _code(part: dict[str, Any]) -> int:
    code = part.get("err_code")
    if code is None:
        return 0
    if isinstance(code, bool) or not isinstance(code, int):
        return -1  # an err_code that is not a number is not a success
    return code


def _msg(part: dict[str, Any]) -> str:
    msg = part.get("err_msg", "")
    return msg[:200] if isinstance(msg, str) else ""
