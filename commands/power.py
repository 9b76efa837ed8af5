"""Switching plugs: on, off, toggle, led, alias, reboot.

Every switch is read back: the state reported is what the plug says afterwards, not
what we asked for.
"""

from __future__ import annotations

from typing import Any

from kshell.context import Context
from kshell.errors import UsageError
from kshell.registry import Arg, ByMail, Opt, command
from kshell.results import Result, Text
from kshell.targets import TARGETS_ARG as TARGETS
from kshell.targets import Target, for_each, refresh, resolve_all, state_word


async def _switch(ctx: Context, words: list[str], want: bool | None) -> list[Result]:
    async def one(target: Target) -> Result:
        device = target.device(ctx)
        before: bool | None = None
        if want is None:  # toggle: the plug's own state decides
            before = (await device.update()).is_on(target.child_id)
            if before is None:
                raise UsageError("cannot tell whether it is on, so cannot toggle it")
        await device.relay.set(not before if want is None else want, target.child_id)
        now = (await refresh(ctx, target, device)).state.is_on(target.child_id)
        return Text(
            f"{target.label}: {state_word(now)}",
            {"target": target.label, "host": target.host, "state": state_word(now)},
        )

    return await for_each(ctx, resolve_all(ctx, words), one)


@command(
    "on",
    args=(TARGETS,),
    permission="control",
    examples=("on Kitchen", "on all", "on Strip/2"),
    by_mail=ByMail.YES,
)
async def on(ctx: Context, args: Any) -> list[Result]:
    """Switch plugs (or strip outlets) on."""
    return await _switch(ctx, args.targets, True)


@command(
    "off",
    args=(TARGETS,),
    permission="control",
    examples=("off Kitchen", "off all"),
    by_mail=ByMail.YES,
)
async def off(ctx: Context, args: Any) -> list[Result]:
    """Switch plugs (or strip outlets) off."""
    return await _switch(ctx, args.targets, False)


@command(
    "toggle",
    args=(TARGETS,),
    permission="control",
    examples=("toggle Kitchen",),
    by_mail=ByMail.YES,
)
async def toggle(ctx: Context, args: Any) -> list[Result]:
    """Switch plugs over: on becomes off, off becomes on."""
    return await _switch(ctx, args.targets, None)


@command(
    "led",
    args=(
        Arg("target", "target", "plug", needs=("led",)),
        Arg("state", "choice", "on or off", choices=("on", "off")),
    ),
    permission="control",
    examples=("led Kitchen off",),
    by_mail=ByMail.YES,
)
async def led(ctx: Context, args: Any) -> list[Result]:
    """Turn a plug's status light on or off."""

    async def one(target: Target) -> Result:
        device = target.device(ctx)
        await device.led.set(args.state == "on")
        lit = (await refresh(ctx, target, device)).state.led
        return Text(
            f"{target.label}: led {state_word(lit)}",
            {"target": target.label, "host": target.host, "led": state_word(lit)},
        )

    return await for_each(ctx, resolve_all(ctx, [args.target]), one)


@command(
    "alias",
    args=(Arg("target", "target", "plug or alias/N"), Arg("new", "word", "the new name")),
    permission="control",
    examples=("alias 127.0.0.2 'Living Room'", "alias Strip/3 Radio"),
    by_mail=ByMail.YES,
)
async def alias(ctx: Context, args: Any) -> list[Result]:
    """Rename a plug or a strip outlet."""
    new = args.new.strip()
    if not new or len(new) > 31 or any(ord(ch) < 32 for ch in new):
        raise UsageError("alias: the name must be 1-31 printable characters")

    async def one(target: Target) -> Result:
        device = target.device(ctx)
        await device.alias.set(new, target.child_id)
        await refresh(ctx, target, device)
        return Text(f"{target.address}: renamed to {new}", {"host": target.host, "alias": new})

    return await for_each(ctx, resolve_all(ctx, [args.target]), one)


@command(
    "reboot",
    args=(TARGETS,),
    options=(Opt("--delay", "int", "seconds before the plug restarts (default 1)"),),
    permission="admin",
    confirm=True,
    examples=("reboot Kitchen --yes",),
    by_mail=ByMail.YES,
)
async def reboot(ctx: Context, args: Any) -> list[Result]:
    """Restart plugs (they drop off the network for a few seconds)."""
    delay = args.delay if args.delay is not None else 1
    if not 0 <= delay <= 3600:
        raise UsageError("reboot: --delay must be 0-3600 seconds")

    async def one(target: Target) -> Result:
        if target.child_id:
            raise UsageError("an outlet cannot reboot on its own; reboot the strip")
        device = target.device(ctx)
        await device.reboot.reboot(delay)
        device.close()  # it is about to go away: the next request connects afresh
        return Text(
            f"{target.label}: rebooting in {delay} s", {"target": target.label, "rebooting": delay}
        )

    return await for_each(ctx, resolve_all(ctx, args.targets), one)
