"""Reading a plug: info (sysinfo) and hw_info."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kshell import device as dev
from kshell.context import Context
from kshell.registry import ByMail, command
from kshell.results import Record, Result
from kshell.targets import TARGETS_ARG as TARGETS
from kshell.targets import Target, for_each, refresh, resolve_all, state_word


@command(
    "info",
    args=(TARGETS,),
    permission="read",
    examples=("info Kitchen", "info all"),
    by_mail=ByMail.YES,
)
async def info(ctx: Context, args: Any) -> list[Result]:
    """Show a plug's sysinfo: everything it reports about itself."""

    async def one(target: Target) -> Result:
        device = await refresh(ctx, target)
        sysinfo = device.sysinfo
        if target.child_id:
            outlet = dict(device.outlet() or {})
            outlet["state"] = state_word(outlet.get("state"))
            data = {"parent": dev.text(sysinfo, "alias"), "model": dev.model(sysinfo), **outlet}
            return Record(f"{target.label} (outlet of {target.address})", data, target.label)
        if dev.children(sysinfo):
            return _strip(target, sysinfo)
        return Record(f"{target.label} ({target.address})", sysinfo, target.label)

    return await for_each(ctx, resolve_all(ctx, args.targets), one)


@dataclass
class StripInfo(Record):
    """A strip's sysinfo: every outlet's keys as rows of their own for a person (none cut
    short); the JSON is the sysinfo as the strip sent it."""

    sysinfo: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {"target": self.target, **self.sysinfo}


def _strip(target: Target, sysinfo: dict[str, Any]) -> Result:
    rows = {k: v for k, v in sysinfo.items() if k != "children"}
    raw = [c for c in sysinfo.get("children", []) if isinstance(c, dict)]
    for outlet in dev.children(sysinfo):
        full = next((c for c in raw if outlet["id"].endswith(str(c.get("id")))), {})
        number = outlet["number"]
        rows[f"outlet {number}"] = f"{target.label}/{number}: {outlet['alias']}"
        rows[f"outlet {number} state"] = state_word(outlet["state"])
        rows.update(
            {f"outlet {number} {k}": v for k, v in full.items() if k not in ("alias", "state")}
        )
    return StripInfo(f"{target.label} ({target.address})", rows, target.label, sysinfo)


@command(
    "hw_info", args=(TARGETS,), permission="read", examples=("hw_info Kitchen",), by_mail=ByMail.YES
)
async def hw_info(ctx: Context, args: Any) -> list[Result]:
    """Show a plug's hardware: sw_ver, hw_ver, mac, type, hwId, fwId, oemId, dev_name."""

    async def one(target: Target) -> Result:
        device = await refresh(ctx, target)
        return Record(
            f"{target.label} ({target.address})", dev.hw_info(device.sysinfo), target.label
        )

    return await for_each(ctx, resolve_all(ctx, args.targets), one)
