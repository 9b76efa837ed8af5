"""Away mode: the plug switches itself on and off at random between two times of day."""

from __future__ import annotations

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import for_each, resolve_all
from kshell.device.capabilities.rule_words import AT_HELP, DAYS_HELP, parse_at, parse_days
from kshell.errors import UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, command
from kshell.results import Result, Table, Text

TARGET = Arg("target", "target", "plug alias, host[:port] or MAC")


def _whole_plug(session: Session, word: str) -> list[Target]:
    targets = resolve_all(session, [word])
    if any(t.child_id for t in targets):
        raise UsageError("away mode belongs to the whole plug, not one outlet")
    return targets


@command(
    "away",
    args=(
        TARGET,
        Arg("start", "word", f"from: {AT_HELP}", optional=True),
        Arg("end", "word", f"to: {AT_HELP}", optional=True),
        Arg("days", "word", DAYS_HELP, optional=True),
    ),
    permission="control",
    examples=("away Lamp", "away Lamp 18:00 23:30", "away Lamp sunset 23:00 sat,sun"),
    by_mail=ByMail.YES,
)
async def away(session: Session, args: Args) -> list[Result]:
    """Make a plug look lived-in: random on/off between two times; without them, list."""
    if (args.start is None) != (args.end is None):
        raise UsageError("away: give both FROM and TO, or neither to list")
    window = None
    if args.start is not None:
        window = (parse_at(args.start), parse_at(args.end), *parse_days(args.days))

    async def one(target: Target) -> Result:
        module = target.device(session).away
        if window is None:
            rules = await module.read()
            rows = [[r.id, r.words(), "yes" if r.enabled else "no"] for r in rules]
            data = {"target": target.label, "rules": [r.as_dict() for r in rules]}
            return Table(["id", "away", "enabled"], rows, data, f"{target.label}: away mode")
        rule = await module.add(*window)
        text = f"{target.label}: away {rule.words()}"
        return Text(text, {"target": target.label, "rule": rule.as_dict()})

    return await for_each(session, _whole_plug(session, args.target), one)


@command(
    "away off",
    args=(TARGET,),
    permission="control",
    examples=("away off Lamp",),
    by_mail=ByMail.YES,
)
async def away_off(session: Session, args: Args) -> list[Result]:
    """Remove a plug's away-mode rules."""

    async def one(target: Target) -> Result:
        gone = await target.device(session).away.clear()
        return Text(
            f"{target.label}: away mode off ({gone} rule(s))",
            {"target": target.label, "removed": gone},
        )

    return await for_each(session, _whole_plug(session, args.target), one)
