"""Which known plugs lack a capability a command's target needs (``Arg.needs``).

Read from what the device store knows of each plug (its model, kind and meter flag), in
memory, by the rule each capability declares (``kshell.device.capabilities.declaration``):
the same rule by which ``all`` skips a plug. A plug whose details were never read (no model
yet) lacks nothing: completion does not hide what it does not know.
"""

from __future__ import annotations

from collections.abc import Iterable

from kshell.device.capabilities.declaration import declared
from kshell.device.transports.xor import DEFAULT_PORT
from kshell.lang.registry import Registry
from kshell.store.devices import DeviceRecord
from kshell.store.names import fold


def needed(registry: Registry) -> set[str]:
    """Every capability some command's argument needs."""
    return {n for cmd in registry.commands.values() for arg in cmd.args for n in arg.needs}


def lacking(records: list[DeviceRecord], needs: Iterable[str]) -> dict[str, set[str]]:
    """capability -> the folded words (alias, address, MAC, outlet) of plugs without it."""
    capabilities = [declared(need) for need in needs]
    out: dict[str, set[str]] = {cap.name: set() for cap in capabilities}
    for r in records:
        if not r.model or r.model == "?":
            continue
        where = r.host if r.port == DEFAULT_PORT else f"{r.host}:{r.port}"
        names = {fold(n) for n in (r.alias, where, r.mac) if n}
        outlets = {fold(f"{r.alias or where}/{c.get('number')}") for c in r.children}
        outlets |= {fold(str(c["alias"])) for c in r.children if c.get("alias")}
        for cap in capabilities:
            if not cap.known(r):
                out[cap.name] |= names | outlets
            elif not cap.outlets:  # the whole device's: an outlet has none of its own
                out[cap.name] |= outlets
    return out
