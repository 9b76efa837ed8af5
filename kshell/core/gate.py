"""The one gate every command passes before it runs, whatever brought its line: typed,
``-c``, a script, a ``;`` chain, a replayed history entry, a user's command, or a mail.

It reads two things only: the command's declaration (permission, ``by_mail``, the mail
permission, which arguments name files or reach addresses) and the line's Invocation
(source, permission, the operator's mail rules). No verb is listed anywhere else.
"""

from __future__ import annotations

import ipaddress
import re

from kshell.core.invocation import Invocation, MailRules
from kshell.core.session import Session
from kshell.errors import KshellError, Refused
from kshell.lang.args import Args
from kshell.lang.registry import PERMISSIONS, ByMail, Command

# Why a setting is off, said the way the config spells it.
_SWITCHES = {
    ByMail.IF_ALLOW_RAW: ("allow_raw", "raw commands"),
    ByMail.IF_ALLOW_FIRMWARE: ("allow_firmware", "firmware commands"),
}


def admit(session: Session, cmd: Command) -> None:
    """Before the arguments are bound: may this source run this command at all?"""
    inv = session.invocation
    if inv.by_mail:
        _mail_use(cmd, inv.mail or MailRules())
    need = needed_permission(cmd, inv)
    if not _at_least(inv.permission, need):
        raise Refused(
            f"{cmd.name} needs {need} permission{' by mail' if inv.by_mail else ''}; "
            f"this source has {inv.permission}"
        )


def admit_args(session: Session, cmd: Command, args: Args) -> None:
    """With the arguments bound: mail never names a file and probes nothing new unasked."""
    inv = session.invocation
    if not inv.by_mail:
        return
    _no_files(cmd, args)
    reached = _reaches_new(session, cmd, args, inv.mail or MailRules())
    if reached and not _at_least(inv.permission, "control"):
        raise Refused(
            f"{cmd.name}: by mail, reaching {reached} needs control permission; "
            f"this sender has {inv.permission}"
        )


def needed_permission(cmd: Command, inv: Invocation) -> str:
    if inv.by_mail and cmd.mail_permission and _at_least(cmd.mail_permission, cmd.permission):
        return cmd.mail_permission
    return cmd.permission if cmd.permission in PERMISSIONS else "admin"


def time_limit(cmd: Command, inv: Invocation) -> float | None:
    """Seconds the command may take for this source (None: as long as it needs)."""
    return cmd.mail_time_limit if inv.by_mail else None


def _at_least(have: str, need: str) -> bool:
    if have not in PERMISSIONS:
        return False
    return PERMISSIONS.index(have) >= PERMISSIONS.index(need if need in PERMISSIONS else "admin")


def _mail_use(cmd: Command, rules: MailRules) -> None:
    if cmd.by_mail is None:
        raise Refused(f"{cmd.name} does not declare by_mail, so it cannot be run by mail")
    if cmd.by_mail is ByMail.NO:
        raise Refused(f"{cmd.name} cannot be run by mail")
    switch = _SWITCHES.get(cmd.by_mail)
    if switch is not None and not getattr(rules, switch[0]):
        raise Refused(f"{switch[1]} by mail are off ([remote] {switch[0]} = no)")


def _no_files(cmd: Command, args: Args) -> None:
    for arg in cmd.args:
        value = getattr(args, arg.name, None)
        if arg.kind != "file" or value is None:
            continue
        if arg.mail_pattern is None or not re.fullmatch(arg.mail_pattern, str(value)):
            raise Refused(f"{cmd.name}: mail never reads or writes files ({arg.name.upper()})")
    for opt in cmd.options:
        value = getattr(args, opt.dest, None)
        if opt.kind == "file" and value not in (None, []):
            raise Refused(f"{cmd.name}: mail never reads or writes files ({opt.name})")


def _reaches_new(session: Session, cmd: Command, args: Args, rules: MailRules) -> str:
    """What the line would contact that the device list does not know yet ('' if nothing)."""
    declared = [(a.name, a.kind, a.reaches) for a in cmd.args]
    declared += [(o.dest, o.kind, o.reaches) for o in cmd.options]
    for name, kind, reaches in declared:
        value = getattr(args, name, None)
        if value in (None, [], False):
            continue
        words = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        if reaches == "network":
            for word in words:
                _sweep_allowed(cmd, word, rules)
            return "a network sweep (" + ", ".join(words) + ")"
        if reaches == "port":
            return f"another port (--{name.replace('_', '-')})"
        if kind in ("target", "targets") or reaches == "address":
            for word in words:
                if _unknown_address(session, word):
                    return f"{word} (not in the device list)"
    return ""


def _unknown_address(session: Session, word: str) -> bool:
    from kshell.core.targets import parse_address, resolve

    try:
        return any(t.record is None for t in resolve(session, word))
    except KshellError:
        pass  # not a target at all: is it an address?
    address = parse_address(word)
    return address is not None and session.store.by_address(*address) is None


def _sweep_allowed(cmd: Command, word: str, rules: MailRules) -> None:
    if not rules.sweep_networks:
        raise Refused(f"{cmd.name}: sweeps by mail are off ([remote] sweep_networks is empty)")
    try:
        wanted = ipaddress.ip_network(word, strict=False)
        allowed = [ipaddress.ip_network(n, strict=False) for n in rules.sweep_networks]
    except ValueError:
        raise Refused(f"{cmd.name}: by mail, a sweep names a network (CIDR)") from None
    if not any(_inside(wanted, net) for net in allowed):
        networks = ", ".join(rules.sweep_networks)
        raise Refused(f"{cmd.name}: {word} is outside [remote] sweep_networks ({networks})")


def _inside(wanted: ipaddress.IPv4Network | ipaddress.IPv6Network, net: object) -> bool:
    if isinstance(wanted, ipaddress.IPv4Network) and isinstance(net, ipaddress.IPv4Network):
        return wanted.subnet_of(net)
    if isinstance(wanted, ipaddress.IPv6Network) and isinstance(net, ipaddress.IPv6Network):
        return wanted.subnet_of(net)
    return False
