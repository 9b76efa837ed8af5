"""Reading a plug: info (sysinfo) and hw_info."""

from __future__ import annotations

from typing import Any

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
        state = (await refresh(ctx, target)).state
        if target.child_id:
            child = state.child(target.child_id)
            outlet = child.as_dict() if child else {}
            outlet["state"] = state_word(outlet.get("state"))
            data = {"parent": state.alias, "model": state.model, **outlet}
            return Record(f"{target.label} (outlet of {target.address})", data, target.label)
        device = target.device(ctx)
        data = {**state.raw, **device.connection()}
        return Record(f"{target.label} ({target.address})", data, target.label)

    return await for_each(ctx, resolve_all(ctx, args.targets), one)


@command(
    "hw_info", args=(TARGETS,), permission="read", examples=("hw_info Kitchen",), by_mail=ByMail.YES
)
async def hw_info(ctx: Context, args: Any) -> list[Result]:
    """Show a plug's hardware: sw_ver, hw_ver, mac, type, hwId, fwId, oemId, dev_name."""

    async def one(target: Target) -> Result:
        state = (await refresh(ctx, target)).state
        return Record(f"{target.label} ({target.address})", state.hw, target.label)

    return await for_each(ctx, resolve_all(ctx, args.targets), one)
