"""Switching plugs: on, off, toggle, led, alias, reboot.

Every switch is read back: the state reported is what the plug says afterwards, not
what we asked for.
"""

from __future__ import annotations

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import TARGETS_ARG as TARGETS
from kshell.core.targets import (
    for_each,
    read_this_line,
    refresh,
    resolve_all,
    resolve_capable,
    state_word,
)
from kshell.errors import Refused, TargetError, UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, Opt, command
from kshell.results import Result, Text
from kshell.store.config import text
from kshell.text import clean

ASK_NAMES = 12  # plugs named in the question; more are counted


async def _go_ahead(session: Session, args: Args, what: str, targets: list[Target]) -> bool:
    """Whether to act on several plugs at once: at the prompt, a line that names ``all`` and
    reaches more than one plug lists them and asks (``--yes`` skips); ``-c``, scripts and
    mail have nobody to ask here and act as told."""
    interactive = session.ask is not None and session.ports.prompt_open
    if args.yes or session.assume_yes or not interactive or len(targets) < 2:
        return True
    assert session.ask is not None
    return await session.ask(f"{what} {len(targets)} plugs: {_named(targets)}?")


def _named(targets: list[Target]) -> str:
    """The plugs a question names: the first ASK_NAMES, then how many more."""
    names = ", ".join(t.label for t in targets[:ASK_NAMES])
    more = len(targets) - ASK_NAMES
    return names + (f" and {more} more" if more > 0 else "")


CANCELLED = Text("cancelled: nothing was switched", {"cancelled": True})


async def _switch(
    session: Session, args: Args, words: list[str], want: bool | None
) -> list[Result]:
    targets = resolve_all(session, words)
    if any(w.lower() == "all" for w in words):
        verb = {True: "switch on", False: "switch off", None: "toggle"}[want]
        if not await _go_ahead(session, args, verb, targets):
            return [CANCELLED]

    async def one(target: Target) -> Result:
        device = target.device(session)
        before: bool | None = None
        if want is None:  # toggle: the plug's own state decides
            before = (await read_this_line(session, device)).is_on(target.child_id)
            if before is None:
                raise UsageError("cannot tell whether it is on, so cannot toggle it")
        await device.relay.set(not before if want is None else want, target.child_id)
        now = (await refresh(session, target, device)).state.is_on(target.child_id)
        return Text(
            f"{target.label}: {state_word(now)}",
            {"target": target.label, "host": target.host, "state": state_word(now)},
        )

    return await for_each(session, targets, one)


@command(
    "on",
    args=(TARGETS,),
    permission="control",
    confirm="inline",  # at the prompt, `all` reaching several plugs lists them and asks
    examples=("on Kitchen", "on all", "on Strip/2"),
    by_mail=ByMail.YES,
)
async def on(session: Session, args: Args) -> list[Result]:
    """Switch plugs (or strip outlets) on."""
    return await _switch(session, args, args.targets, True)


@command(
    "off",
    args=(TARGETS,),
    permission="control",
    confirm="inline",  # at the prompt, `all` reaching several plugs lists them and asks
    examples=("off Kitchen", "off all", "off all --yes"),
    by_mail=ByMail.YES,
)
async def off(session: Session, args: Args) -> list[Result]:
    """Switch plugs (or strip outlets) off."""
    return await _switch(session, args, args.targets, False)


@command(
    "toggle",
    args=(TARGETS,),
    permission="control",
    confirm="inline",  # at the prompt, `all` reaching several plugs lists them and asks
    examples=("toggle Kitchen",),
    by_mail=ByMail.YES,
)
async def toggle(session: Session, args: Args) -> list[Result]:
    """Switch plugs over: on becomes off, off becomes on."""
    return await _switch(session, args, args.targets, None)


LED_TARGET = Arg("target", "target", "plug", needs=("led",))


@command(
    "led",
    args=(
        LED_TARGET,
        Arg(
            "state",
            "choice",
            "on or off (leave out to read it)",
            choices=("on", "off"),
            optional=True,
        ),
    ),
    permission="control",
    examples=("led Kitchen", "led Kitchen off"),
    by_mail=ByMail.YES,
)
async def led(session: Session, args: Args) -> list[Result]:
    """Read a plug's status light, or turn it on or off."""
    word, want = args.target, args.state  # `use Kitchen` then `led off`: the binder knows

    async def one(target: Target) -> Result:
        device = target.device(session)
        if want is not None:
            await device.led.set(want == "on")
        lit = (await refresh(session, target, device)).state.led
        return Text(
            f"{target.label}: led {state_word(lit)}",
            {"target": target.label, "host": target.host, "led": state_word(lit)},
        )

    targets, skipped = resolve_capable(session, [word], LED_TARGET.needs)
    results = await for_each(session, targets, one)
    return results + [skipped] if skipped else results


@command(
    "alias",
    args=(
        Arg("target", "target", "one plug or alias/N"),
        Arg("new", "word", "the new name (leave out to read it)", optional=True),
    ),
    permission="control",
    examples=("alias Kitchen", "alias 127.0.0.2 'Living Room'", "alias Strip/3 Radio"),
    by_mail=ByMail.YES,
)
async def alias(session: Session, args: Args) -> list[Result]:
    """Read or change the name of one plug or strip outlet (never several at once)."""
    from kshell.store.names import check_new_alias

    if args.target.lower() == "all":
        raise UsageError("alias: name one plug; renaming every plug at once is not possible")
    try:
        targets = resolve_all(session, [args.target])
    except TargetError as exc:
        if session.current and args.new is None:  # `use Kitchen` then `alias Kettle`: say how
            exc.message += f"; to rename the current plug: alias '{session.current}' NEW"
        raise
    if len(targets) != 1:
        raise UsageError(f"alias: '{args.target}' names {len(targets)} plugs; name one")
    target = targets[0]
    if args.new is None:
        return await for_each(session, targets, lambda t: _read_alias(session, t))
    new = check_new_alias(args.new, text(session.config, "remote", "marker"))
    _refuse_taken(session, target, new)

    async def one(target: Target) -> Result:
        device = target.device(session)
        await device.alias.set(new, target.child_id)
        await refresh(session, target, device)
        where = f"{_parent_name(target)}/{target.outlet}" if target.outlet else target.address
        return Text(
            f"{where}: renamed to {new}",
            {"target": where, "host": target.host, "outlet": target.outlet, "alias": new},
        )

    return await for_each(session, targets, one)


async def _read_alias(session: Session, target: Target) -> Result:
    device = await refresh(session, target)
    name = device.state.alias if target.child_id is None else None
    if target.child_id is not None and target.record is not None:
        child = next((c for c in target.record.children if c.get("id") == target.child_id), {})
        name = child.get("alias")
    name = name if isinstance(name, str) else ""
    where = f"{_parent_name(target)}/{target.outlet}" if target.outlet else target.address
    return Text(
        f"{where}: {clean(name, 120)}", {"target": where, "host": target.host, "alias": name}
    )


def _parent_name(target: Target) -> str:
    record = target.record
    # shown in a Text, whose own line breaks are real: the plug's name escaped, as a label is
    return clean(record.alias, 120) if record is not None and record.alias else target.address


def _refuse_taken(session: Session, target: Target, new: str) -> None:
    """A name another plug or outlet already has (case and accents aside) is refused."""
    from kshell.store.names import fold

    wanted = fold(new)
    for record in session.store.all():
        same_plug = (record.host, record.port) == (target.host, target.port)
        if (
            record.alias
            and fold(record.alias) == wanted
            and not (same_plug and not target.child_id)
        ):
            taken = f"'{clean(record.alias, 40)}' at {record.address}"
            raise UsageError(f"alias: '{new}' is already the name of {taken}")
        for child in record.children:
            if str(child.get("alias", "")) and fold(str(child["alias"])) == wanted:
                if same_plug and child.get("id") == target.child_id:
                    continue
                owner = record.alias or record.address
                raise UsageError(f"alias: '{new}' is already the name of {owner}/{child['number']}")


@command(
    "reboot",
    args=(TARGETS,),
    options=(Opt("--delay", "int", "seconds before the plug restarts (default 1)"),),
    permission="admin",
    confirm="inline",  # asks naming the plugs it will restart
    examples=("reboot Kitchen --yes",),
    by_mail=ByMail.YES,
)
async def reboot(session: Session, args: Args) -> list[Result]:
    """Restart plugs (they drop off the network for a few seconds)."""
    delay = args.delay if args.delay is not None else 1
    if not 0 <= delay <= 3600:
        raise UsageError("reboot: --delay must be 0-3600 seconds")
    targets = resolve_all(session, args.targets)
    if not (args.yes or session.assume_yes):
        if session.ask is None:
            raise Refused("this command asks before acting and nobody can answer here: add --yes")
        count = f"{len(targets)} plugs: " if len(targets) > 1 else ""
        if not await session.ask(f"restart {count}{_named(targets)}?"):
            return [Text("cancelled: nothing was restarted", {"cancelled": True})]

    async def one(target: Target) -> Result:
        if target.child_id:
            raise UsageError("an outlet cannot reboot on its own; reboot the strip")
        device = target.device(session)
        await device.reboot.reboot(delay)
        device.close()  # it is about to go away: the next request connects afresh
        return Text(
            f"{target.label}: rebooting in {delay} s", {"target": target.label, "rebooting": delay}
        )

    return await for_each(session, targets, one)
