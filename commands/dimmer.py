"""Brightness of dimmers and dimmable wall switches."""

from __future__ import annotations

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import for_each, resolve_all
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, command
from kshell.results import Result, Text


@command(
    "brightness",
    args=(
        Arg("target", "target", "a dimmer: alias, host[:port] or MAC"),
        Arg("level", "int", "1-100; without it, the brightness is read", optional=True),
    ),
    permission="control",
    mail_permission=None,
    examples=("brightness Hall", "brightness Hall 40"),
    by_mail=ByMail.YES,
)
async def brightness(session: Session, args: Args) -> list[Result]:
    """Read a dimmer's brightness, or set it (1-100; read back)."""
    from kshell.device.capabilities.dimmer import check_level

    level = None if args.level is None else check_level(args.level)

    async def one(target: Target) -> Result:
        device = target.device(session)
        now = await (device.dimmer.read() if level is None else device.dimmer.set(level))
        return Text(
            f"{target.label}: brightness {now}",
            {"target": target.label, "host": target.host, "brightness": now},
        )

    return await for_each(session, resolve_all(session, [args.target]), one)
