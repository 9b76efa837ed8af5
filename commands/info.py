"""Reading a plug: info (sysinfo) and hw_info."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import TARGETS_ARG as TARGETS
from kshell.core.targets import for_each, refresh, resolve_all, state_word
from kshell.lang.args import Args
from kshell.lang.registry import ByMail, command
from kshell.results import Record, Result

if TYPE_CHECKING:
    from kshell.device.capabilities.clock import PlugTime
    from kshell.device.state import Info


@command(
    "info",
    args=(TARGETS,),
    permission="read",
    examples=("info Kitchen", "info all"),
    by_mail=ByMail.YES,
)
async def info(session: Session, args: Args) -> list[Result]:
    """Show a plug's sysinfo: everything it reports about itself."""

    async def one(target: Target) -> Result:
        device = await refresh(session, target, clock=not target.child_id)
        state = device.state
        if target.child_id:
            child = state.child(target.child_id)
            outlet = child.as_dict() if child else {}
            outlet["state"] = state_word(outlet.get("state"))
            data = {"parent": state.alias, "model": state.model, **outlet}
            return Record(f"{target.label} (outlet of {target.address})", data, target.label)
        shown = {**state.raw, **device.connection(), **_clock_flag(device.clock_reading)}
        if state.children:
            return _strip(target, state, shown)
        return Record(f"{target.label} ({target.address})", shown, target.label)

    return await for_each(session, resolve_all(session, args.targets), one)


def _clock_flag(reading: PlugTime | None) -> dict[str, Any]:
    """``clock_drift`` when the plug's clock is more than a minute off (schedules and daily
    statistics depend on it); nothing otherwise, or when the clock could not be read."""
    if reading is None or not reading.drifting or reading.drift_s is None:
        return {}
    word = "ahead" if reading.drift_s > 0 else "behind"
    return {"clock_drift": f"{abs(reading.drift_s):.0f} s {word}: run `time sync`"}


@dataclass
class StripInfo(Record):
    """A strip's sysinfo: every outlet's keys as rows of their own for a person (none cut
    short); the JSON is the sysinfo as the strip sent it."""

    sysinfo: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {"target": self.target, **self.sysinfo}


def _strip(target: Target, state: Info, shown: dict[str, Any]) -> Result:
    rows = {k: v for k, v in shown.items() if k != "children"}
    listed = shown.get("children")
    raw = [c for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
    for outlet in state.children:
        full = next((c for c in raw if outlet.id.endswith(str(c.get("id")))), {})
        number = outlet.number
        rows[f"outlet {number}"] = f"{target.label}/{number}: {outlet.alias}"
        rows[f"outlet {number} state"] = state_word(outlet.state)
        rows.update(
            {f"outlet {number} {k}": v for k, v in full.items() if k not in ("alias", "state")}
        )
    return StripInfo(f"{target.label} ({target.address})", rows, target.label, shown)


@command(
    "hw_info", args=(TARGETS,), permission="read", examples=("hw_info Kitchen",), by_mail=ByMail.YES
)
async def hw_info(session: Session, args: Args) -> list[Result]:
    """Show a plug's hardware: sw_ver, hw_ver, mac, type, hwId, fwId, oemId, dev_name."""

    async def one(target: Target) -> Result:
        state = (await refresh(session, target)).state
        return Record(f"{target.label} ({target.address})", state.hw, target.label)

    return await for_each(session, resolve_all(session, args.targets), one)
