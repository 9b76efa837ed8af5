"""``SimPlug``: the state and the request handling of one simulated device.

``SimPlug.handle(request) -> answer`` works on decoded JSON, with no I/O, the way the
firmware of a real plug answers: every module in the request is answered in one reply, an
unknown module gets ``{"err_code": -1, "err_msg": "module not support"}`` at module level, an
unknown method ``{"err_code": -2, "err_msg": "member not support"}`` at method level, bad
arguments ``-3 "invalid argument"``, an unknown child id ``-14 "entry not exist"``.

Strips (HS300) read ``"context": {"child_ids": [...]}`` first: relay, alias, emeter and runtime
statistics then address those outlets (relay changes apply to all ids given, the others to the
first). Without a context, a strip's ``set_relay_state`` switches every outlet and its emeter
answers for the first outlet (slot 0), as later hardware says outright with ``slot_id``.
Devices without children ignore a context.

The handlers themselves are in ``iot_system`` and ``iot_meter`` (and ``everyday``), chosen by
``iot_tables``; the state they act on in ``state``; the parts (outlets, rule tables, errors) in ``parts``, the spec in ``spec``.
Handlers run on the simulator's event loop only; ``handle`` reads the clock it was given.
"""

from __future__ import annotations

from typing import Any

from kshell.simulator import everyday, iot_tables
from kshell.simulator.parts import (
    INVALID_ARGUMENT,
    MEMBER_NOT_SUPPORT,
    MODULE_NOT_SUPPORT,
    Answer,
    DeviceError,
)
from kshell.simulator.state import PlugState


class SimPlug(PlugState):
    """One simulated Kasa device (plug, strip or bulb): its state, and how it answers."""

    # -- the protocol --------------------------------------------------------------------
    def handle(self, request: dict[str, Any]) -> Answer:
        """Answer one decoded request the way the device's firmware would."""
        now = self.clock()
        everyday.catch_up(self, now)
        table = self._table()
        context = request.get("context") if self.kind.is_strip else None
        out: Answer = {}
        for module, methods in request.items():
            if module == "context":
                continue  # consumed, never echoed
            handlers = table.get(module)
            if handlers is None:
                out[module] = dict(MODULE_NOT_SUPPORT)
                continue
            if not isinstance(methods, dict):
                out[module] = dict(INVALID_ARGUMENT)
                continue
            answers: Answer = {}
            for method, args in methods.items():
                fn = handlers.get(method)
                if fn is None:
                    answers[method] = dict(MEMBER_NOT_SUPPORT)
                    continue
                if args is None:
                    args = {}
                if not isinstance(args, dict):
                    answers[method] = dict(INVALID_ARGUMENT)
                    continue
                try:
                    answers[method] = fn(self, args, context, now)
                except DeviceError as exc:
                    answers[method] = exc.answer
                except (TypeError, ValueError, KeyError, OverflowError):
                    answers[method] = dict(INVALID_ARGUMENT)
            out[module] = answers
        return out

    def _table(self) -> iot_tables.Table:
        if self.kind.is_bulb:
            return iot_tables.BULB_TABLE
        if "brightness" in self.kind.key_order:
            return iot_tables.DIMMER_TABLE
        return iot_tables.METER_TABLE if self.kind.has_emeter else iot_tables.PLUG_TABLE
