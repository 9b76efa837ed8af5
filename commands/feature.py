"""Generic access to what a plug reports as settable, for what has no command of its own."""

from __future__ import annotations

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import for_each, resolve_all
from kshell.errors import UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, command
from kshell.results import Result, Table, Text


@command(
    "feature",
    args=(
        Arg("target", "target", "plug alias, host[:port] or MAC"),
        Arg(
            "name", "word", "a setting the plug lists (led, brightness, auto_off...)", optional=True
        ),
        Arg("value", "word", "the new value (see the list for what each takes)", optional=True),
    ),
    permission="control",
    examples=("feature Kettle", "feature Kettle auto_off on", "feature Hall brightness 30"),
    by_mail=ByMail.YES,
)
async def feature(session: Session, args: Args) -> list[Result]:
    """List the settings a plug reports (with what each takes), show one, or set one."""
    if args.value is not None and not args.value.strip():
        raise UsageError("feature: the value is empty")

    async def one(target: Target) -> Result:
        features = target.device(session).features
        if args.name is None:
            listed = await features.list()
            rows = [[f.name, f.value, f.allowed] for f in listed]
            data = {"target": target.label, "features": [f.as_dict() for f in listed]}
            return Table(["name", "value", "takes"], rows, data, f"{target.label}: settings")
        if args.value is None:
            found = {f.name: f for f in await features.list()}.get(args.name)
            if found is None:
                names = ", ".join(f.name for f in await features.list()) or "none"
                raise UsageError(f"no setting {args.name[:30]!r} here (settable: {names})")
        else:
            found = await features.set(args.name, args.value)
        return Text(
            f"{target.label}: {found.name} {found.value}",
            {"target": target.label, **found.as_dict()},
        )

    return await for_each(session, resolve_all(session, [args.target]), one)
