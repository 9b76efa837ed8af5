"""Which known plugs lack a capability a command's target needs (``Arg.needs``).

Read from what the device store knows of each plug (its model, kind and meter flag), in
memory. A plug whose details were never read (no model yet) lacks nothing: completion
does not hide what it does not know.
"""

from __future__ import annotations

from kshell.core.targets import CAPABLE
from kshell.device.transports.xor import DEFAULT_PORT
from kshell.store.devices import DeviceRecord
from kshell.store.names import fold

_HAS = CAPABLE  # the one rule: `all` skips the same plugs completion hides
_OUTLETS_HAVE = {"emeter"}  # a strip outlet has its own meter; the light is the strip's


def lacking(records: list[DeviceRecord]) -> dict[str, set[str]]:
    """capability -> the folded words (alias, address, MAC, outlet) of plugs without it."""
    out: dict[str, set[str]] = {cap: set() for cap in _HAS}
    for r in records:
        if not r.model or r.model == "?":
            continue
        where = r.host if r.port == DEFAULT_PORT else f"{r.host}:{r.port}"
        names = {fold(n) for n in (r.alias, where, r.mac) if n}
        outlets = {fold(f"{r.alias or where}/{c.get('number')}") for c in r.children}
        outlets |= {fold(str(c["alias"])) for c in r.children if c.get("alias")}
        for cap, has in _HAS.items():
            if not has(r):
                out[cap] |= names | outlets
            elif cap not in _OUTLETS_HAVE:
                out[cap] |= outlets
    return out
