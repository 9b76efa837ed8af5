"""The plug's clock: `time` shows it with its zone and drift; `time sync` sets it."""

from __future__ import annotations

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import TARGETS_ARG as TARGETS
from kshell.core.targets import for_each, resolve_all
from kshell.errors import KshellError
from kshell.lang.args import Args
from kshell.lang.registry import ByMail, Opt, command
from kshell.results import Result, Text


def drift_words(drift: float | None) -> str:
    if drift is None:
        return "drift unknown (zone not known)"
    if abs(drift) < 1:
        return "in step"
    word = "ahead" if drift > 0 else "behind"
    shown = f"{abs(drift):.0f} s" if abs(drift) < 120 else f"{abs(drift) / 60:.0f} min"
    flag = "  ! more than a minute off: run `time sync`" if abs(drift) > 60 else ""
    return f"{shown} {word}{flag}"


@command(
    "time",
    args=(TARGETS,),
    permission="read",
    examples=("time Kitchen", "time all", "time all --json"),
    by_mail=ByMail.YES,
)
async def show_time(session: Session, args: Args) -> list[Result]:
    """Show each plug's clock, its time zone and its drift from this machine (in UTC)."""

    async def one(target: Target) -> Result:
        reading = await target.device(session).time.read()
        zone = reading.zone or "zone unknown"
        return Text(
            f"{target.label}: {reading.local} {zone}, {drift_words(reading.drift_s)}",
            {"target": target.label, "host": target.host, **reading.as_dict()},
        )

    return await for_each(session, resolve_all(session, args.targets), one)


@command(
    "time sync",
    args=(TARGETS,),
    options=(Opt("--zone", "str", "an IANA zone name (default: each plug keeps its own zone)"),),
    permission="admin",
    examples=("time sync Kitchen", "time sync all", "time sync all --zone Europe/Berlin"),
    by_mail=ByMail.YES,
)
async def sync_time(session: Session, args: Args) -> list[Result]:
    """Set plugs' clocks to this machine's time, each in its own zone (or --zone's).

    Each plug keeps the zone it has unless --zone moves them all to one; the clock is read
    back to prove it stuck. A plug whose zone is unknown takes this machine's, and says so.
    """
    from kshell.device.capabilities.clock import check_zone, local_zone

    if args.zone:
        check_zone(args.zone)

    async def one(target: Target) -> Result:
        device = target.device(session)
        zone, note = args.zone, ""
        if zone is None:
            kept = (await device.time.read()).zone
            zone = kept if kept and _known_zone(kept) else local_zone()
            if zone != kept:
                note = f" (its zone was unknown: this machine's {zone})"
        await device.time.sync(zone)
        after = await device.time.read()
        if after.drift_s is not None and abs(after.drift_s) > 60:
            raise KshellError("the plug answered 0 but its clock did not change")
        if after.zone is not None and not _same_zone(after.zone, zone):
            raise KshellError(f"the plug answered 0 but kept its zone {after.zone} (not {zone})")
        return Text(
            f"{target.label}: set to {after.local} {after.zone or zone}{note}",
            {"target": target.label, "host": target.host, "zone": zone, **after.as_dict()},
        )

    return await for_each(session, resolve_all(session, args.targets), one)


def _known_zone(name: str) -> bool:
    from kshell.device.capabilities.clock import check_zone
    from kshell.errors import UnsupportedDevice

    try:
        check_zone(name)
    except UnsupportedDevice:
        return False
    return True


def _same_zone(kept: str, wanted: str) -> bool:
    """The same name, or (IOT: a table entry) the same offsets all year."""
    from kshell.device.capabilities import iot_zones
    from kshell.device.capabilities.clock import shown_zone

    if shown_zone(kept) == shown_zone(wanted):
        return True
    return iot_zones.index_of(kept) == iot_zones.index_of(wanted)
