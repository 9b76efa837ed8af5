"""Countdown timers, the cloud binding and the networks a plug sees."""

from __future__ import annotations

import re
from typing import Any

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import for_each, resolve_all
from kshell.errors import UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, Opt, command
from kshell.results import Result, Table, Text

TARGET = Arg("target", "target", "plug alias, host[:port] or MAC")
_DURATION = re.compile(r"^(?:(\d{1,2})h)?(?:(\d{1,4})m)?(?:(\d{1,5})s)?$")


def parse_duration(text: str) -> int:
    """``10m``, ``1h30m``, ``90s`` -> seconds, within what the plugs take (1 s to 23 h 59 min)."""
    from kshell.device.capabilities.timers import LONGEST_S

    found = _DURATION.match(text.strip().lower())
    if not text.strip() or not found or not any(found.groups()):
        raise UsageError(f"{text[:20]!r} is not a duration: use e.g. 10m, 1h30m or 90s")
    hours, minutes, seconds = (int(g or 0) for g in found.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not 1 <= total <= LONGEST_S:
        raise UsageError("a countdown runs from 1 s to 23 h 59 min")
    return total


def _whole_plug(session: Session, word: str) -> list[Target]:
    targets = resolve_all(session, [word])
    if any(t.child_id for t in targets):
        raise UsageError("this belongs to the whole plug, not one outlet")
    return targets


@command(
    "countdown",
    args=(
        TARGET,
        Arg("duration", "word", "10m, 1h30m, 90s (1 s to 23 h 59 min)", optional=True),
        Arg("action", "choice", "on or off when it runs out", optional=True, choices=("on", "off")),
    ),
    permission="control",
    examples=("countdown Heater 10m off", "countdown Heater"),
    by_mail=ByMail.YES,
)
async def countdown(session: Session, args: Args) -> list[Result]:
    """Start a countdown (switch on or off when it runs out), or list the plug's timer."""
    if (args.duration is None) != (args.action is None):
        raise UsageError("countdown: give both a duration and on|off, or neither to list")
    delay = None if args.duration is None else parse_duration(args.duration)

    async def one(target: Target) -> Result:
        timers = target.device(session).timers
        if delay is None:
            listed = await timers.countdowns()
            rows = [[c.id, c.as_dict()["action"], c.delay_s, c.remain_s, c.enabled] for c in listed]
            data = {"target": target.label, "countdowns": [c.as_dict() for c in listed]}
            return Table(
                ["id", "action", "delay_s", "remain_s", "enabled"], rows, data, target.label
            )
        timer = await timers.start(args.action == "on", delay)
        return Text(
            f"{target.label}: {args.action} in {delay} s",
            {"target": target.label, **timer.as_dict()},
        )

    return await for_each(session, _whole_plug(session, args.target), one)


@command(
    "countdown cancel",
    args=(TARGET,),
    permission="control",
    examples=("countdown cancel Heater",),
    by_mail=ByMail.YES,
)
async def countdown_cancel(session: Session, args: Args) -> list[Result]:
    """Cancel the plug's countdown."""

    async def one(target: Target) -> Result:
        gone = await target.device(session).timers.cancel()
        return Text(
            f"{target.label}: {gone} timer(s) cancelled",
            {"target": target.label, "cancelled": gone},
        )

    return await for_each(session, _whole_plug(session, args.target), one)


@command(
    "cloud",
    args=(TARGET,),
    permission="read",
    examples=("cloud Kitchen",),
    by_mail=ByMail.YES,
)
async def cloud(session: Session, args: Args) -> list[Result]:
    """Show whether a plug is bound to the vendor's cloud, and to which account."""

    async def one(target: Target) -> Result:
        state = await target.device(session).timers.cloud()
        whom = f" as {state.account}" if state.account else ""
        link = f"cloud on{whom}" if state.bound else "cloud off (local only)"
        text = f"{target.label}: {link}"
        data: dict[str, Any] = {"target": target.label, **state.as_dict()}
        owner, mine = await _owner(session, target)
        if owner:
            # the announcement names the account the plug was set up with (its login), which
            # stays when the cloud link is off: two facts, said as two
            data.update(owner_hash=owner, owner_is_configured_account=mine)
            text += {
                True: "; set up with the configured account",
                False: "; set up with ANOTHER account than the configured one",
                None: "; set-up account unknown here (no account configured)",
            }[mine]
        return Text(text, data)

    return await for_each(session, _whole_plug(session, args.target), one)


async def _owner(session: Session, target: Target) -> tuple[str, bool | None]:
    """The owner hash the plug announces (md5 of the e-mail), and whether it is the
    configured account's (None: no account configured)."""
    import hashlib

    from kshell.device import tdp
    from kshell.store import credentials

    found = await tdp.probe(target.host, session.tdp_port, min(1.0, session.timeout))
    if found is None or not found.owner:
        return "", None
    account = credentials.find(session)
    if account is None:
        return found.owner, None
    mine = hashlib.md5(account.username.encode()).hexdigest()  # the hash the plug announces
    return found.owner, found.owner.upper() == mine.upper()


@command(
    "cloud unbind",
    args=(TARGET,),
    permission="admin",
    confirm=True,
    examples=("cloud unbind Kitchen --yes",),
    by_mail=ByMail.YES,
)
async def cloud_unbind(session: Session, args: Args) -> list[Result]:
    """Unbind a plug from the vendor's cloud account (it stays usable on the local network)."""

    async def one(target: Target) -> Result:
        await target.device(session).timers.unbind()
        return Text(
            f"{target.label}: unbound from the cloud", {"target": target.label, "bound": False}
        )

    return await for_each(session, _whole_plug(session, args.target), one)


@command(
    "wifi scan",
    args=(TARGET,),
    permission="read",
    examples=("wifi scan Kitchen",),
    by_mail=ByMail.YES,
)
async def wifi_scan(session: Session, args: Args) -> list[Result]:
    """List the Wi-Fi networks a plug sees: name, signal and security."""

    async def one(target: Target) -> Result:
        networks = await target.device(session).timers.scan()
        # one unit: dBm where the plug says it, and the 0-3 bars beside (all a SMART plug says)
        rows = [
            [
                n.ssid,
                "?" if n.dbm is None else f"{n.dbm} dBm",
                "?" if n.level is None else "#" * n.level + "." * (3 - n.level),
                n.security,
            ]
            for n in networks
        ]
        data = {
            "target": target.label,
            "networks": [
                {"ssid": n.ssid, "signal_dbm": n.dbm, "bars": n.level, "security": n.security}
                for n in networks
            ],
        }
        headers = ["ssid", "signal", "bars", "security"]
        return Table(headers, rows, data, f"{target.label}: networks")

    return await for_each(session, _whole_plug(session, args.target), one)


MAX_SSID = 32  # bytes, as 802.11 allows
PASSPHRASE = (8, 63)  # WPA's printable passphrase


def check_ssid(ssid: str) -> str:
    if not ssid or len(ssid.encode()) > MAX_SSID or not ssid.isprintable():
        raise UsageError(f"an SSID is 1-{MAX_SSID} bytes of printable text")
    return ssid


def check_passphrase(secret: str, security: str) -> str:
    if security == "open":
        return ""
    low, high = PASSPHRASE
    if not low <= len(secret) <= high or not secret.isprintable():
        raise UsageError(f"a Wi-Fi passphrase is {low}-{high} printable characters")
    return secret


async def _passphrase(session: Session, path: str | None, ssid: str) -> str:
    """From --password-file (its first line), else typed hidden; never echoed or recorded."""
    if path is not None:
        from pathlib import Path

        try:
            with Path(path).expanduser().open(encoding="utf-8") as handle:
                lines = handle.read(256).splitlines()
        except (OSError, UnicodeDecodeError):
            raise UsageError("wifi join: cannot read a passphrase from --password-file") from None
        return lines[0] if lines else ""
    if session.read_secret is None:
        raise UsageError("wifi join: nobody can type here: give --password-file FILE")
    return await session.read_secret(f"passphrase for {ssid}:") or ""


@command(
    "wifi join",
    args=(TARGET, Arg("ssid", "word", "the network's name (see `wifi scan`)")),
    options=(Opt("--password-file", "file", "read the passphrase from a file's first line"),),
    permission="admin",
    examples=("wifi join 127.0.0.2 HomeNet", "wifi join New HomeNet --password-file ~/wifi.txt"),
    by_mail=ByMail.NO,  # a passphrase is typed here, never sent by mail
)
async def wifi_join(session: Session, args: Args) -> list[Result]:
    """Move a plug to another Wi-Fi network (asks for the passphrase, hidden).

    The plug leaves its current network (its setup network, for a new one) at once; find
    it afterwards on the new one with `discover`, or by its address there.
    """
    from kshell.store import credentials

    ssid = check_ssid(args.ssid)
    targets = _whole_plug(session, args.target)
    if len(targets) != 1:
        raise UsageError("wifi join: one plug at a time")

    async def one(target: Target) -> Result:
        timers = target.device(session).timers
        seen = {n.ssid: n for n in await timers.scan()}
        security = seen[ssid].security if ssid in seen else "WPA2"
        secret = check_passphrase(await _passphrase(session, args.password_file, ssid), security)
        await timers.join(ssid, secret, security, credentials.find(session))
        note = "" if ssid in seen else " (the plug did not list it in its scan)"
        text = (
            f"{target.label}: told to join {ssid}{note}; it leaves this network now. "
            "Find it on the new network with `discover` (or sweep that network's addresses)."
        )
        return Text(text, {"target": target.label, "ssid": ssid, "seen": ssid in seen})

    return await for_each(session, targets, one)
