"""One ``resolve_target()``: alias, host[:port], MAC, ``all`` or ``alias/N`` -> plugs.

Rules: an exact alias wins over splitting a trailing ``/N``; an alias two
plugs share is an error listing both; an unknown name is an error naming the nearest
known aliases.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from kshell.core import identity
from kshell.core.identity import remember
from kshell.core.session import Session
from kshell.core.target import Target, link_of
from kshell.device.capabilities.declaration import declared
from kshell.device.transports.xor import DEFAULT_PORT, HTTP_PORT, CurrentGeneration
from kshell.errors import KshellError, TargetError, TransportError, UnsupportedDevice
from kshell.lang.registry import Arg
from kshell.results import Failure, Result, Text, not_recorded
from kshell.store.devices import DeviceRecord, StoreError, normalise_mac
from kshell.store.names import fold, ip_literal, is_mac, prefix_matches, shared
from kshell.text import clean

if TYPE_CHECKING:
    from kshell.device.device import Device
    from kshell.device.state import Info

T = TypeVar("T")

# patterns, compiled on first use (re caches them): `info 127.0.0.2` never needs them
_OUTLET = r"^(?P<parent>.+)/(?P<n>\d{1,2})$"
_HOSTNAME = r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"


def resolve(session: Session, word: str) -> list[Target]:
    """Every plug (or outlet) ``word`` names; raises TargetError when it names none.

    In order: ``all``; an IP literal (with or without :PORT) or a MAC, always an address;
    a plug's or an outlet's alias (case, accents and invisible characters folded); ALIAS/N; a
    dotted host name; and, for a line typed at the prompt or in -c only, a unique prefix of an
    alias. A name that folds onto two stored names is the shared error in every spelling.
    """
    records = session.store.all()
    if word.lower() == "all":
        if not records:
            raise TargetError("no known plugs: run discover first")
        return [Target(r.host, r.port, r) for r in records if r.kind != "bulb"]
    literal = ip_literal(word)
    if literal is not None:
        host, port = literal[0], literal[1] or DEFAULT_PORT
        record = session.store.by_address(host, port)
        if record is None and literal[1] is None:  # a bare address: the one plug known there
            at_host = [r for r in records if r.host == host]
            record = at_host[0] if len(at_host) == 1 else None
            port = record.port if record is not None else port
        return [Target(host, port, record, by_address=True)]
    if is_mac(word):
        mac = normalise_mac(word)
        for r in records:
            if r.mac == mac:
                return [Target(r.host, r.port, r)]
        raise TargetError(f"no known plug has MAC {mac}: run discover first")
    named = _by_name(records, word)
    if named is not None:
        return [named]
    m = re.match(_OUTLET, word)
    if m:
        parents = resolve(session, m.group("parent"))
        return [_outlet_of(p, int(m.group("n"))) for p in parents]
    if session.invocation.typed:
        found = _by_prefix(records, word)
        if found is not None:
            return [found]
    address = parse_address(word)
    if address:
        host, port = address
        return [Target(host, port, session.store.by_address(host, port), by_address=True)]
    raise TargetError(_unknown_message(word, records), target=word)


def _by_prefix(records: list[DeviceRecord], word: str) -> Target | None:
    """The one plug whose alias starts with ``word`` (folded), as completion offers it;
    several: an error naming them, and nothing is touched."""
    found = prefix_matches(word, (r.alias for r in records if r.alias))
    if len({fold(name) for name in found}) > 1:
        names = ", ".join(repr(clean(name, 40)) for name in found[:8])
        more = f" and {len(found) - 8} more" if len(found) > 8 else ""
        raise TargetError(f"could be {names}{more}: type more of the name", target=word)
    return _by_name(records, found[0]) if found else None


def whole_name(session: Session, word: str) -> str | None:
    """The whole alias a target word typed as a prefix stands for (``Garage`` for "Garage
    Freezer", ``Med/2`` for "Media Strip/2"), so a line can be kept as it ran: None when the
    word names its plug without a prefix (or names none: the command says why)."""
    records = session.store.all()
    m = re.match(_OUTLET, word)
    base, tail = (m.group("parent"), f"/{m.group('n')}") if m else (word, "")
    if base.lower() == "all" or ip_literal(base) or is_mac(base) or parse_address(base):
        return None
    try:
        if _by_name(records, base) is not None:
            return None
        found = _by_prefix(records, base)
    except TargetError:
        return None
    if found is None or found.record is None:
        return None
    if found.child_id is not None:  # a prefix of an outlet's own name
        return (
            None
            if tail
            else next(
                (str(c["alias"]) for c in found.record.children if c["id"] == found.child_id), None
            )
        )
    return found.record.alias + tail


Named = tuple[DeviceRecord, dict[str, Any] | None]  # a plug, or a strip and one of its outlets


def stored_names(records: list[DeviceRecord]) -> list[tuple[Named, str]]:
    """Every name the store holds: each plug's alias and each outlet's."""
    out: list[tuple[Named, str]] = []
    for r in records:
        if r.alias:
            out.append(((r, None), r.alias))
        out += [((r, c), str(c["alias"])) for c in r.children if c.get("alias")]
    return out


def _by_name(records: list[DeviceRecord], word: str) -> Target | None:
    """The plug or outlet whose alias folds onto ``word``'s. Two: the shared error, even for
    the one spelled exactly as typed: a stranger's plug can copy any spelling it sees."""
    key = fold(word)
    found = [(owner, name) for owner, name in stored_names(records) if fold(name) == key]
    if len(found) > 1:
        raise TargetError(shared_message(word, found), target=word)
    if not found:
        return None
    (r, child), _ = found[0]
    if child is None:
        return Target(r.host, r.port, r)
    return Target(r.host, r.port, r, child["id"], child["number"])


def name_of(owner: Named, name: str) -> str:
    """``'Space Heater' at 127.0.0.2``; an outlet: ``'TV' (Media Strip/1) at ..``, escaped."""
    r, child = owner
    where = f" ({clean(r.alias or r.address, 40)}/{child.get('number')})" if child else ""
    return f"'{clean(name, 40)}'{where} at {r.address}"


def shared_names(records: list[DeviceRecord]) -> list[list[tuple[Named, str]]]:
    """The stored names that fold onto one another: each group answers to no name until the
    owner renames one of them (``discover`` and ``devices`` say so)."""
    return shared(stored_names(records))


def shared_note(group: list[tuple[Named, str]]) -> str:
    """One line naming a group of look-alike names, and the way out."""
    names = ", ".join(name_of(owner, name) for owner, name in group)
    return (
        f"names that fold onto one (case, accents, invisible characters aside): {names}; "
        "none answers to it until one is renamed (use the host or MAC meanwhile)"
    )


def shared_message(word: str, found: list[tuple[Named, str]]) -> str:
    both = ", ".join(name_of(owner, name) for owner, name in found[:-1])
    return (
        f"'{clean(word, 40)}' is shared by {both} and {name_of(*found[-1])}: "
        "use the host or MAC, or rename one (alias HOST NEW-NAME)"
    )


def _outlet_of(parent: Target, number: int) -> Target:
    record = parent.record
    if record is None or not record.children:
        raise TargetError(f"{parent.label} has no outlets (not a strip, or not discovered yet)")
    for child in record.children:
        if child.get("number") == number:
            return Target(parent.host, parent.port, record, child["id"], number)
    raise TargetError(f"{record.alias} has outlets 1-{len(record.children)}, not {number}")


def parse_address(word: str) -> tuple[str, int] | None:
    """'127.0.0.2', '127.0.0.2:9998', 'plug.lan' -> (host, port); None if not an address."""
    host, sep, port_text = word.rpartition(":")
    if not sep:
        host, port_text = word, ""
    port = DEFAULT_PORT
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return None
        port = int(port_text)
    try:
        ipaddress.IPv4Address(host)
        return host, port
    except ValueError:
        pass
    if re.match(_HOSTNAME, host) and not host.replace(".", "").isdigit():
        return host, port
    return None


def _unknown_message(word: str, records: list[DeviceRecord]) -> str:
    import difflib  # only on this error path: start-up is a feature

    aliases = [r.alias for r in records if r.alias]
    lowered = {a.lower(): a for a in aliases}
    near = [
        lowered[a] for a in difflib.get_close_matches(word.lower(), list(lowered), n=3, cutoff=0.5)
    ]
    near += [a for a in aliases if word.lower() in a.lower() and a not in near]
    if near:
        hint = ", ".join(repr(a) for a in near[:3])
        return f"unknown target '{word}'; did you mean {hint}?"
    if not records:
        return f"unknown target '{word}': no plugs known yet, run discover (or add HOST)"
    return f"unknown target '{word}' (devices lists the known plugs)"


def known_to_lack(record: DeviceRecord | None, needs: tuple[str, ...]) -> bool:
    """Whether a plug lacks a capability an Arg ``needs`` (each capability's declaration says
    how to tell; completion hides the same plugs, ``all`` skips them). True only when the store read this plug's details and they lack a need (never a
    guess: a plug not read yet is tried, and its own error says why)."""
    if record is None or not record.model or record.model == "?":
        return False
    return any(not declared(need).known(record) for need in needs)


def resolve_capable(
    session: Session, words: list[str], needs: tuple[str, ...]
) -> tuple[list[Target], Text | None]:
    """resolve_all where ``all`` means every plug that can (the Arg's ``needs``): plugs known
    to lack one are skipped and counted in one line; a plug named on its own is kept."""
    targets = resolve_all(session, words)
    if not needs or not any(w.lower() == "all" for w in words):
        return targets, None
    named = {
        (t.host, t.port) for t in resolve_all(session, [w for w in words if w.lower() != "all"])
    }
    skipped = [
        t for t in targets if known_to_lack(t.record, needs) and (t.host, t.port) not in named
    ]
    if not skipped:
        return targets, None
    kept = [t for t in targets if t not in skipped]
    what = " or ".join(declared(n).lacking for n in needs)
    names = [t.label for t in skipped]
    count = f"{len(skipped)} plug{'s' if len(skipped) > 1 else ''}"
    note = Text(
        clean(f"skipped {count} without {what}: {', '.join(names)}", 300),
        {"skipped": names, "without": list(needs)},
    )
    return kept, note


def resolve_all(session: Session, words: list[str]) -> list[Target]:
    """Several target words -> targets, each plug once, in order."""
    seen: set[tuple[str, int, str | None]] = set()
    out = []
    for i, word in enumerate(words):
        try:
            found = resolve(session, word)
        except TargetError as exc:
            joined = _split_alias(session.store.all(), words, i)
            if joined is None:
                raise
            raise TargetError(
                f"unknown target '{clean(word, 40)}'; '{clean(joined, 60)}' is one name: "
                f'quote it: "{clean(joined, 60)}"',
                target=word,
            ) from exc
        for target in found:
            key = (target.host, target.port, target.child_id)
            if key not in seen:
                seen.add(key)
                out.append(target)
    return out


def _split_alias(records: list[DeviceRecord], words: list[str], i: int) -> str | None:
    """The alias that ``words[i]`` and its neighbours spell together when typed unquoted
    (``info Kitchen Kettle``), or None."""
    for size in range(min(len(words), 6), 1, -1):  # the longest name first
        for start in range(max(0, i - size + 1), min(i, len(words) - size) + 1):
            span = " ".join(words[start : start + size])
            outlet = re.match(_OUTLET, span)
            name = outlet.group("parent") if outlet else span
            try:
                if _by_name(records, name) is not None:
                    return span
            except TargetError:
                return span  # a shared name is still the words the owner meant
    return None


async def for_each(
    session: Session, targets: list[Target], action: Callable[[Target], Awaitable[Result]]
) -> list[Result]:
    """Run ``action`` on every target concurrently; a failure is that target's result only.
    A command that changes plugs (its declaration) acts only on the plug each target names
    (``identity.verified``)."""

    async def checked(target: Target) -> Result:
        if session.invocation.changes:
            await identity.verified(session, target)
        return await action(target)

    async def one(target: Target) -> Result:
        try:
            result = await reaching(session, target, lambda: checked(target))
        except KshellError as exc:
            exc.target = exc.target or target.label
            if target.label not in str(exc.target):
                exc.target = f"{target.label} ({exc.target})"
            if isinstance(exc, TransportError):  # asked and not answered: now it is offline
                session.store.failed(target.host, target.port)
            return Failure(exc)
        if target.unrecorded:  # what the plug did stands: said with the store's cause
            return not_recorded(result, target.unrecorded)
        if target.note:  # another plug answered there: the named one was not heard
            return identity.mark(result, target.note)
        session.store.heard(target.host, target.port)  # it answered: online, heard just now
        return result

    return list(await asyncio.gather(*(one(t) for t in targets)))


async def read_this_line(session: Session, device: Device) -> Info:
    """The plug's state as this line already read it (the identity check's read), else
    read afresh: a toggle asks once, not twice."""
    if device.info is not None and device.read_at >= session.invocation.line_started > 0:
        return device.info
    return await device.update()


def state_word(on: Any) -> str:
    return "on" if on else "off" if on is not None else "?"


TARGETS_ARG = Arg("targets", "targets", "plug alias, host[:port], MAC, all, or alias/N")


async def reaching(session: Session, target: Target, attempt: Callable[[], Awaitable[T]]) -> T:
    """``attempt`` on a target once how it speaks is learned; a plug whose 9999 refused the
    connection (nothing was sent: safe to try again) and that announces itself on port 80 is
    attempted again there."""
    await learn_link(session, target)
    try:
        return await attempt()
    except CurrentGeneration:
        if not await learn_link(session, target, moved=True):
            raise
        return await attempt()


async def learn_link(session: Session, target: Target, *, moved: bool = False) -> bool:
    """Learn how a plug on the HTTP port speaks (its UDP 20002 announcement), once a session.

    ``moved``: 9999 was refused and port 80 answers, so ask the host whether it is a plug of
    the current generation; if it says so, the target moves to its HTTP port. True when a
    link was learned. A host that does not announce itself is never handshaken with.
    """
    if link_of(target.record) is not None:
        return False
    if not moved and (target.port != HTTP_PORT or session.devices.link(target.host, target.port)):
        return False
    from kshell.device import tdp

    found = await tdp.probe(target.host, session.tdp_port, min(1.0, session.timeout))
    if found is None:
        return False
    port = found.http_port if moved else target.port
    session.devices.learn(target.host, port, found.link, found.mac)
    target.port = port
    return True


async def refresh(
    session: Session,
    target: Target,
    device: Device | None = None,
    *,
    clock: bool = False,
    reading: bool = False,
) -> Device:
    """Read a target afresh and update its store entry; returns the device (``clock``: its
    clock too, in ``device.clock_reading``; ``reading``: its realtime reading where it came
    in the same exchange, in ``device.realtime``).

    A plug that reports the MAC of a known plug elsewhere is not taken for it (see
    ``remember``): the target then keeps the record it had (none for a bare address).
    """
    if device is None:  # made per attempt: a plug that moved to port 80 is a new device
        return await reaching(
            session,
            target,
            lambda: _refresh(session, target, target.device(session), clock, reading),
        )
    return await _refresh(session, target, device, clock, reading)


async def refresh_meter(session: Session, target: Target, *, reading: bool = False) -> Device:
    """``refresh``, for a command that reads the plug's meter: one without is its error."""
    device = await refresh(session, target, reading=reading)
    if not device.state.has_meter:
        raise UnsupportedDevice(
            f"{device.state.model} has no energy meter (no ENE in its features)",
            target=target.label,
        )
    return device


async def _refresh(
    session: Session, target: Target, device: Device, clock: bool, reading: bool
) -> Device:
    asked = session.store.by_address(target.host, target.port)  # its names before we ask
    info = await device.update(clock=clock, reading=reading)
    if not identity.answers_for(target, info):
        if not session.invocation.changes or target.note:  # a read: say who answered, store nothing
            target.note = identity.stranger(target, info)
            target.record = DeviceRecord.from_info(target.host, target.port, info)
            return device
        device = await identity.follow(session, target, info)  # a read before a change (erase)
        asked = session.store.by_address(target.host, target.port)
        info = await device.update(clock=clock, reading=reading)
    try:
        seen = await remember(session, target.host, target.port, info, asked=asked)
    except StoreError as exc:  # the plug answered (and acted): only the record is missing
        target.unrecorded = exc.message
        return device
    if seen.conflict is None:
        target.record = seen.record
    return device
