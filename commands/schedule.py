"""Schedules the plug runs by itself: list in words, add, delete, enable and disable.

Every write is read back: a plug that answers success but does not store is told apart.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import for_each, resolve_all
from kshell.device.capabilities.rule_words import AT_HELP, DAYS_HELP, parse_at, parse_days
from kshell.errors import UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, command
from kshell.results import Result, Table, Text

if TYPE_CHECKING:
    from kshell.device.capabilities.clock import PlugTime
    from kshell.device.capabilities.rule_words import Rule

TARGET = Arg("target", "target", "plug alias, host[:port] or MAC")
RULE = Arg("rule", "rule", "a rule id (see `schedule TARGET`)", optional=True)
SUN_WARNING = "the plug's location is unset (latitude/longitude 0): it will fire at the wrong time"


def _one_target(session: Session, word: str) -> list[Target]:
    targets = resolve_all(session, [word])
    if any(t.child_id for t in targets):
        raise UsageError("schedules belong to the whole plug, not one outlet")
    return targets


def next_action(
    rules: tuple[Rule, ...],
    clock: PlugTime | None,
    location: tuple[float, float] | None = None,
) -> str | None:
    """The next enabled rule from the plug's own local time. A sun rule is given the clock
    time it means that day where the plug's place and UTC offset are known ("off Tue 16:47
    (sunset+15 min)"); without them, its words only."""
    if clock is None or clock.local == "?":
        return None
    now = dt.datetime.strptime(clock.local, "%Y-%m-%d %H:%M:%S")
    best: tuple[dt.datetime, str] | None = None
    for rule in rules:
        if not rule.enabled:
            continue
        for ahead in range(8):
            day = now.date() + dt.timedelta(days=ahead)
            if not rule.wday[(day.weekday() + 1) % 7]:  # wday is Sunday first
                continue
            minute, known = _minute_of(rule, day, clock, location)
            at = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
            if at <= now and known:
                continue
            if rule.when.option == 0:
                shown = at.strftime("%a %H:%M")
            elif known:
                shown = f"{at:%a %H:%M} ({rule.when.words()})"
            else:
                shown = f"{day:%a} {rule.when.words()}"
            if best is None or at < best[0]:
                best = (at, f"{'on' if rule.on else 'off'} {shown}")
            break
    return best[1] if best else None


def _minute_of(
    rule: Rule, day: dt.date, clock: PlugTime, location: tuple[float, float] | None
) -> tuple[float, bool]:
    """The rule's minute of the plug's local ``day``, and whether it is known (a sun rule
    without a place or offset is placed at 06:00 or 18:00, only to order it)."""
    from kshell.device.capabilities.sun import sun_event_utc

    if rule.when.option == 0:
        return rule.when.minute, True
    rising = rule.when.option == 1
    if location is not None and clock.utc_offset_min is not None:
        event = sun_event_utc(day, location[0], location[1], rising)
        if event is not None:
            return event + clock.utc_offset_min + rule.when.minute, True
    return (6 if rising else 18) * 60, False


@command(
    "schedule",
    args=(TARGET,),
    permission="read",
    examples=("schedule Kitchen", "schedule Kitchen --json"),
    by_mail=ByMail.YES,
)
async def schedule_list(session: Session, args: Args) -> list[Result]:
    """List a plug's schedule rules in words, with its next action."""

    async def one(target: Target) -> Result:
        device = target.device(session)
        schedule = await device.schedule.read()
        try:
            clock: PlugTime | None = await device.time.read()
        except Exception:  # noqa: BLE001 - the list stands without the next action
            clock = None
        upcoming = (
            next_action(schedule.rules, clock, schedule.location) if schedule.enabled else None
        )
        from kshell.device.capabilities.schedule import short_ids

        shown = short_ids(schedule.rules)  # a unique prefix is accepted wherever an id is
        rows = [[shown[r.id], r.words(), "yes" if r.enabled else "no"] for r in schedule.rules]
        notes = [f"next: {upcoming}" if upcoming else "next: nothing scheduled"]
        if not schedule.enabled:
            notes.append("the schedule is disabled as a whole (`schedule enable TARGET`)")
        if schedule.location_unset and any(r.when.option for r in schedule.rules):
            notes.append(f"warning: {SUN_WARNING}")
        if not schedule.writable:
            notes.append("read only here: this plug's schedule writes are not on record")
        data = {
            "target": target.label,
            "enabled": schedule.enabled,
            "rules": [r.as_dict() for r in schedule.rules],
            "next": upcoming,
            "location_unset": schedule.location_unset,
            "writable": schedule.writable,
        }
        return Table(
            ["id", "rule", "enabled"], rows, data, f"{target.label}: schedule", "\n".join(notes)
        )

    return await for_each(session, _one_target(session, args.target), one)


@command(
    "schedule add",
    args=(
        TARGET,
        Arg("action", "choice", "on or off", choices=("on", "off")),
        Arg("at", "word", AT_HELP),
        Arg("days", "word", DAYS_HELP, optional=True),
    ),
    permission="control",
    examples=(
        "schedule add Lamp on 07:30 mon-fri",
        "schedule add Lamp off sunset+15 daily",
        "schedule add Heater off 23:00 sat,sun",
    ),
    by_mail=ByMail.YES,
)
async def schedule_add(session: Session, args: Args) -> list[Result]:
    """Add a rule: switch on or off at HH:MM or sunrise/sunset (+-MIN), on the given days."""
    when = parse_at(args.at)
    wday, repeat = parse_days(args.days)

    async def one(target: Target) -> Result:
        device = target.device(session)
        rule = await device.schedule.add(args.action == "on", when, wday, repeat)
        text = f"{target.label}: added {rule.id[:8]}: {rule.words()}"
        warning = None
        if when.option and (await device.schedule.read()).location_unset:
            warning = SUN_WARNING
            text += f"\nwarning: {warning}"
        data = {"target": target.label, "rule": rule.as_dict(), "warning": warning}
        return Text(text, data)

    return await for_each(session, _one_target(session, args.target), one)


@command(
    "schedule delete",
    args=(TARGET, Arg("rule", "rule", "a rule id, or all")),
    permission="control",
    confirm=True,
    examples=("schedule delete Lamp 1F3C... --yes", "schedule delete Lamp all --yes"),
    by_mail=ByMail.YES,
)
async def schedule_delete(session: Session, args: Args) -> list[Result]:
    """Delete one schedule rule, or all of them."""
    rule_id = None if args.rule == "all" else args.rule

    async def one(target: Target) -> Result:
        gone = await target.device(session).schedule.delete(rule_id)
        what = f"rule {rule_id}" if rule_id else f"all rules ({gone})"
        return Text(f"{target.label}: deleted {what}", {"target": target.label, "deleted": gone})

    return await for_each(session, _one_target(session, args.target), one)


async def _enable(session: Session, args: Args, on: bool) -> list[Result]:
    rule_id = args.rule

    async def one(target: Target) -> Result:
        await target.device(session).schedule.enable(rule_id, on)
        what = f"rule {rule_id}" if rule_id else "schedule"
        word = "enabled" if on else "disabled"
        data = {"target": target.label, "rule": rule_id, "enabled": on}
        return Text(f"{target.label}: {what} {word}", data)

    return await for_each(session, _one_target(session, args.target), one)


@command(
    "schedule enable",
    args=(TARGET, RULE),
    permission="control",
    examples=("schedule enable Lamp", "schedule enable Lamp 1F3C..."),
    by_mail=ByMail.YES,
)
async def schedule_enable(session: Session, args: Args) -> list[Result]:
    """Enable one rule, or the plug's whole schedule without a rule id."""
    return await _enable(session, args, True)


@command(
    "schedule disable",
    args=(TARGET, RULE),
    permission="control",
    examples=("schedule disable Lamp", "schedule disable Lamp 1F3C..."),
    by_mail=ByMail.YES,
)
async def schedule_disable(session: Session, args: Args) -> list[Result]:
    """Disable one rule, or the plug's whole schedule without a rule id."""
    return await _enable(session, args, False)
