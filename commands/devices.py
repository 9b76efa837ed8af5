"""Finding and keeping track of plugs: discover, add, devices, forget, use."""

from __future__ import annotations

from typing import Any

from kshell.core.session import Session
from kshell.core.targets import (
    Named,
    parse_address,
    resolve,
    resolve_all,
    shared_names,
    shared_note,
)
from kshell.errors import (
    AuthenticationError,
    KshellError,
    NoCredentials,
    Refused,
    TargetError,
    TransportError,
    Unproven,
    UsageError,
)
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, Opt, command
from kshell.results import Failure, Result, Table, Text
from kshell.store.devices import DeviceRecord
from kshell.text import clean

DEVICE_HEADERS = ["alias", "host", "model", "hw", "firmware", "state", "mac", "last heard"]


def _device_row(r: DeviceRecord) -> list[Any]:
    state = r.state or "?"
    if r.children:  # a strip is as on as its outlets: say how many
        lit = sum(1 for c in r.children if c.get("state") == "on")
        state = f"{lit} of {len(r.children)} on"
    if not r.online:
        state = "offline"  # a request made to it failed; silence on a broadcast proves nothing
    if r.kind == "bulb":
        state = "unsupported (bulb)"
    return [r.alias, r.address, r.model, r.hw_ver, r.sw_ver, state, r.mac, r.heard_text()]


def _outlet_rows(r: DeviceRecord, numbers: set[int] | None = None) -> list[list[Any]]:
    """A strip's outlets, one row each under the strip's (``numbers``: only those)."""
    rows: list[list[Any]] = []
    for child in r.children:
        number = child.get("number")
        if numbers is not None and number not in numbers:
            continue
        name = clean(str(child.get("alias") or f"outlet {number}"), 80)
        state = "offline" if not r.online else (child.get("state") or "?")
        rows.append([f"└ {name}", f"{r.address}/{number}", "", "", "", state, "", ""])
    return rows


def _failed_state(error: KshellError) -> str:
    """The state column of a plug whose request failed: only silence is "offline"."""
    if isinstance(error, Unproven):
        return "not trusted"  # nothing was sent to it
    if isinstance(error, NoCredentials):
        return "needs login"
    if isinstance(error, AuthenticationError):
        return "login failed"  # it answered; the credentials did not fit
    if isinstance(error, TransportError):
        return "offline"
    return "error"


def _record_json(r: DeviceRecord) -> dict[str, Any]:
    return {
        "alias": r.alias,
        "host": r.host,
        "port": r.port,
        "mac": r.mac,
        "model": r.model,
        "hw_ver": r.hw_ver,
        "sw_ver": r.sw_ver,
        "kind": r.kind,
        "state": r.state or None,
        "online": r.online,
        "emeter": r.emeter,
        "last_heard": r.last_heard,
        "heard_by": r.heard_by or None,
        "children": r.children,
        "family": r.family or "iot",
        "transport": r.transport or "xor",
        "login_version": r.login_version or None,
        "unclaimed": r.factory_default,
    }


def _shared_json(owner: Named, name: str) -> dict[str, Any]:
    record, child = owner
    out: dict[str, Any] = {"alias": name, "host": record.host, "port": record.port}
    if child is not None:
        out["outlet"] = child.get("number")
    return out


@command(
    "discover",
    args=(
        Arg(
            "cidr",
            "word",
            "sweep this network over TCP instead of broadcasting",
            optional=True,
            reaches="network",
        ),
    ),
    options=(
        Opt(
            "--target",
            "str",
            "broadcast to this address only (repeatable)",
            repeat=True,
            reaches="address",
        ),
        Opt("--timeout", "float", "seconds to wait for answers"),
        Opt("--port", "int", "UDP port to broadcast to (default 9999)", reaches="port"),
        Opt("--tcp-port", "int", "TCP port the plugs answer on (default 9999)", reaches="port"),
        Opt("--verbose", help="list every address sent to and every odd answer"),
    ),
    permission="read",
    examples=("discover", "discover --target 192.168.1.255", "discover 192.168.7.0/24"),
    by_mail=ByMail.YES,
)
async def discover(session: Session, args: Args) -> Result:
    """Find plugs: broadcast on every interface, or sweep a CIDR with TCP probes.

    Both generations: the old one answers on UDP 9999, the current one (KLAP, AES) announces
    itself on UDP 20002 and is read with the owner's credentials; a sweep probes TCP 9999 and
    port 80 (confirmed by a 20002 probe). The report counts both and names the plugs that need
    credentials. Broadcast reaches only the plugs on this machine's own subnets; a plug with a
    static address on another subnet is found by sweeping that subnet: discover 10.0.7.0/24.
    """
    import asyncio

    from kshell.core.discovery import broadcast as discovery
    from kshell.core.discovery import current
    from kshell.store.config import port as config_port

    port = args.port or session.discovery_port
    tcp_port = args.tcp_port or config_port(session.config, "discovery", "tcp_port")
    timeout = args.timeout if args.timeout is not None else session.discovery_timeout
    if timeout <= 0 or timeout > 120:
        raise UsageError("discover: --timeout must be between 0 and 120 seconds")
    # the names stored before asking: an answer never undoes a rename made meanwhile
    stored = {(r.host, r.port): r for r in session.store.all()}
    if args.cidr:
        hosts = discovery.sweep_hosts(args.cidr)
        report, heard = await asyncio.gather(
            discovery.sweep(args.cidr, tcp_port, min(timeout, 2.0)),
            current.sweep(session, hosts, min(timeout, 2.0)),
        )
        how = "sweep"
    else:
        plan = broadcast_plan(session, args.target)
        ended = asyncio.Event()  # the old generation's round ended: so does the listening
        answered = discovery.Answered([a for _, a in plan])  # --target: ends when all have

        async def old_generation() -> Any:
            try:
                return await discovery.broadcast(
                    plan, port, timeout, tcp_port=tcp_port, answered=answered
                )
            finally:
                ended.set()

        report, heard = await asyncio.gather(
            old_generation(),
            current.listen(session, [a for _, a in plan], timeout, ended, answered),
        )
        how = "broadcast"
    merged = await current.store(session, heard, how)
    return await _merge_report(session, report, args.verbose, merged, stored)


def broadcast_plan(session: Session, chosen: list[str]) -> list[tuple[str, str]]:
    """Where to broadcast: --target, else the config, else every interface."""
    from kshell.core.discovery import broadcast as discovery

    wanted = chosen or session.broadcast_setting()
    if wanted == ["auto"]:
        return discovery.broadcast_targets()
    return [("target", address) for address in wanted]


async def _merge_report(
    session: Session,
    report: Any,
    verbose: bool,
    merged: Any,
    stored: dict[tuple[str, int], DeviceRecord],
) -> Table:
    """Store what answered (only that: silence marks nothing offline) and describe the round."""
    import asyncio

    from kshell.core.identity import remember

    seen = await asyncio.gather(
        *(
            remember(session, f.host, f.port, f.info, f.how, asked=stored.get((f.host, f.port)))
            for f in report.found
        )
    )
    rows, conflicts = [], []
    for found, observation in zip(report.found, seen, strict=True):
        if observation.conflict is not None:
            conflicts.append(
                f"{found.host} (MAC {observation.conflict.mac} of "
                f"{observation.conflict.alias or '?'} at {observation.conflict.address})"
            )
            continue
        record = observation.record
        if found.tcp_ok is False:  # we asked its TCP side and it refused
            session.store.failed(record.host, record.port)
            record.online = False
        rows.append(_device_row(record))
    rows += [_device_row(r) for r in merged.records]
    refused = [f.host for f in report.found if f.tcp_ok is False]
    sent = ", ".join(f"{addr} ({name})" for name, addr in report.sent_to)
    what = f"swept {report.probed} addresses in {sent}" if report.probed else f"sent to {sent}"
    new = merged.data["current_generation"]
    footer = [f"{what}; {len(report.found) + new} answered in {report.elapsed:.2f} s"]
    if new:
        footer[0] += f" ({len(report.found)} old generation, {new} current)"
    footer += merged.notes
    if refused:
        footer.append(f"{len(refused)} answered UDP but refused TCP: {', '.join(refused)}")
    bulbs = [f.host for f in report.found if f.kind == "bulb"]
    if bulbs:
        footer.append(f"{len(bulbs)} bulb(s) answered, not supported: {', '.join(bulbs)}")
    round_ = {(r.host, r.port) for r in [o.record for o in seen] + merged.records}
    collisions = [  # a look-alike name is stored, and wins no lookup: say which
        group
        for group in shared_names(session.store.all())
        if any((r.host, r.port) in round_ for (r, _), _ in group)
    ]
    footer += [shared_note(group) for group in collisions]
    if conflicts:
        footer.append(
            "not taken (the known plug still answers with that MAC; at the prompt, "
            "add HOST --replace settles it): " + ", ".join(conflicts)
        )
    if report.send_errors and verbose:
        footer += [f"could not send to {a} ({name}): {why}" for name, a, why in report.send_errors]
    elif report.send_errors:
        footer.append(
            f"could not send to {len(report.send_errors)} address(es) (--verbose lists them)"
        )
    # a plug of the current generation that announced itself is not "unreadable" because
    # the sweep's old-protocol probe of its port 9999 found no old plug there
    garbled = [g for g in report.garbled if g.partition(":")[0] not in merged.heard]
    if verbose and garbled:  # what a plug said: each one line of the footer
        footer += [f"unreadable answer: {clean(g, 300)}" for g in garbled]
    elif garbled:
        footer.append(f"{len(garbled)} unreadable answer(s) (--verbose lists them)")
    data = {
        "sent_to": [{"interface": n, "address": a} for n, a in report.sent_to],
        "send_errors": [
            {"interface": n, "address": a, "error": why} for n, a, why in report.send_errors
        ],
        "answered": len(report.found) + new,
        "elapsed_s": round(report.elapsed, 3),
        "tcp_refused": refused,
        "unreadable": garbled,
        "conflicts": conflicts,
        "shared_names": [[_shared_json(owner, name) for owner, name in g] for g in collisions],
        "devices": [_record_json(o.record) for o in seen if o.conflict is None]
        + [_record_json(r) for r in merged.records],
        **merged.data,
    }
    return Table(DEVICE_HEADERS, rows, data, footer="\n".join(footer))


@command(
    "add",
    args=(Arg("host", "word", "HOST or HOST:PORT of the plug", reaches="address"),),
    options=(
        Opt("--replace", help="this plug is the one whose MAC is known elsewhere: move it here"),
        Opt(
            "--send-password",
            help="an AES plug on login version 1: send it your cloud password itself (base64)",
        ),
    ),
    permission="read",
    confirm="inline",  # asks before an unproven AES plug is sent the cloud login
    examples=(
        "add 192.168.1.50",
        "add plug.lan:9999",
        "add 192.168.1.77 --replace",
        "add 192.168.1.60 --yes",
    ),
    by_mail=ByMail.YES,
)
async def add(session: Session, args: Args) -> Result:
    """Add one plug by address: learn what it speaks, ask it about itself, remember it.

    What it speaks: the old protocol on 9999, or the KLAP/AES announcement on UDP 20002.

    A plug answering with the MAC of a known plug at another address takes its place only
    when the old address no longer answers with that MAC; --replace says it does anyway. A
    known plug that now speaks AES (which cannot prove it knows the password) is followed only
    with --replace; one that moved to KLAP is followed once its handshake proved it.

    An AES plug cannot prove it is yours, so before it is sent your cloud login you are asked
    (--yes where nobody can ask; never by mail); from then on it is trusted at that address
    with that MAC. One on login version 1, which sends the password itself, also needs
    --send-password (or a yes to a second question at the prompt).
    """
    from kshell.core.discovery import current
    from kshell.core.identity import remember

    address = parse_address(args.host)
    if address is None:
        raise UsageError(f"add: '{args.host}' is not HOST or HOST:PORT")
    if args.replace and session.invocation.by_mail:
        raise UsageError("add --replace is for the operator at the prompt, not for mail")
    host, port = address

    async def consent(found: Any, port: int) -> str:
        return await _aes_consent(session, args, host, port, found)

    port, info = await current.identify(session, host, port, consent, bool(args.replace))
    current.check_pinned(session, host, port, info, bool(args.replace))
    seen = await remember(session, host, port, info, replace=bool(args.replace))
    if seen.conflict is not None:
        known = seen.conflict
        raise TargetError(
            f"{args.host} answers with the MAC {known.mac} of {known.alias or '?'} at "
            f"{known.address}, which still answers with it: kept {known.address}; if "
            f"{args.host} is the real one, add {args.host} --replace",
            target=args.host,
        )
    data = _record_json(seen.record)
    notes = []
    if seen.moved_from:
        data["moved_from"] = seen.moved_from
        notes.append(f"moved from {seen.moved_from}")
    sent = getattr(session.devices.get(host, port).protocol.transport, "owner_login_sent", False)
    data["credentials_sent"] = bool(sent)
    if sent:
        what = "your cloud password itself" if seen.record.login_version == 1 else "hashes"
        data["credentials"] = (
            f"sent your cloud login ({what}) to {host}, an AES plug that cannot prove it is "
            "yours; it is trusted from now on at this address with this MAC"
        )
        notes.append(data["credentials"])
    footer = "\n".join(notes) or None
    return Table(DEVICE_HEADERS, [_device_row(seen.record)], data, footer=footer)


async def _aes_consent(session: Session, args: Args, host: str, port: int, found: Any) -> str:
    """The owner's word before an unproven AES plug gets the cloud login: the trust given
    (login version 2 only, or version 1's password too), or Refused."""
    from kshell.device.pool import HASHED, PASSWORD

    if session.invocation.by_mail:
        raise Refused(
            f"{host} is an AES plug kshell does not trust: trusting it with your cloud login "
            "is for the operator at the prompt, never by mail (nothing was sent)"
        )
    said_yes = bool(args.yes or session.assume_yes)
    about = f"{clean(found.model, 40)}, MAC {clean(found.mac, 20)} as it announced them"
    if not session.devices.login_trust(host, port):
        if not said_yes and session.ask is None:
            raise Refused(
                f"{host} ({about}) is an AES plug, which cannot prove it is yours: nothing "
                f"sent; add {host} --yes sends it your cloud login (nobody can answer here)"
            )
        question = f"send your cloud login to this unproven plug {host} ({about})?"
        if not said_yes and session.ask is not None and not await session.ask(question):
            raise Refused(f"{host}: not added, nothing sent")
    if found.link.login_version != 1:
        return HASHED
    if args.send_password:
        return PASSWORD
    question = (
        f"{host} asks for login version 1, which sends your cloud password itself (base64) "
        "to whoever answers there: send it?"
    )
    if not said_yes and session.ask is not None and await session.ask(question):
        return PASSWORD
    raise Refused(
        f"{host} asks for login version 1 (your cloud password itself, base64): nothing "
        f"sent; add {host} --send-password allows it for this plug"
    )


@command("devices", permission="read", examples=("devices",), by_mail=ByMail.YES)
async def devices(session: Session, args: Args) -> Result:
    """List the known plugs from the store, as last heard (state asks them now)."""
    records = session.store.all()
    sharing = {(r.host, r.port) for g in shared_names(records) for (r, _), _ in g}
    rows, listed = [], []
    for r in records:
        row, data = _device_row(r), _record_json(r)
        data["shared_name"] = (r.host, r.port) in sharing
        if data["shared_name"]:
            row[0] = f"{r.alias or r.address} *"
        rows.append(row)
        rows += _outlet_rows(r)
        listed.append(data)
    online = sum(1 for r in records if r.online)
    footer = f"{len(records)} known, {online} online" if records else "no plugs known: run discover"
    if sharing:
        footer += (
            "\n* shares its name (or an outlet's) with another plug, case, accents and "
            "invisible characters aside: name it by host or MAC, or rename one"
        )
    return Table(DEVICE_HEADERS, rows, {"devices": listed}, footer=footer)


@command(
    "state",
    args=(Arg("targets", "targets", "plugs to ask (default: every known plug)", optional=True),),
    permission="read",
    examples=("state", "state Kitchen Garage"),
    by_mail=ByMail.YES,
)
async def state(session: Session, args: Args) -> list[Result]:
    """Ask plugs for their state now, all at once: devices, but fresh. A strip shows its
    outlets under it; a plug that failed to answer is an error (exit status 1)."""
    from dataclasses import replace

    from kshell.core.target import Target
    from kshell.core.targets import for_each, refresh

    words = args.targets or ["all"]
    # an outlet is asked through its strip, and shown under it
    plugs: dict[tuple[str, int], Target] = {}
    outlets: dict[tuple[str, int], set[int] | None] = {}
    for t in resolve_all(session, words):
        key = (t.host, t.port)
        plugs.setdefault(key, replace(t, child_id=None, outlet=None))
        if t.child_id is None or t.outlet is None:
            outlets[key] = None  # the whole strip
        elif outlets.get(key, set()) is not None:
            outlets.setdefault(key, set()).add(t.outlet)  # type: ignore[union-attr]
    targets = list(plugs.values())
    if not targets:
        raise TargetError("no known plugs: run discover first")

    async def ask(target: Target) -> Result:
        await refresh(session, target)
        return Text("answered")

    results = await for_each(session, targets, ask)
    rows: list[list[Any]] = []
    failures: list[Result] = []
    failed: list[str] = []
    for target, result in zip(targets, results, strict=True):
        key = (target.host, target.port)
        record = session.store.by_address(target.host, target.port) or target.record
        if isinstance(result, Failure):
            if result.error.target is None:
                result.error.target = target.label
            failures.append(result)
            failed.append(f"{target.label}: {result.error.message}")
            row = _device_row(record) if record else [target.label, target.address] + [""] * 6
            row[5] = _failed_state(result.error)
            rows.append(row)
        elif record is not None:
            rows.append(_device_row(record))
            rows += _outlet_rows(record, outlets.get(key))
    footer = f"{len(targets) - len(failed)} answered, {len(failed)} did not"
    data = {
        "devices": [
            _record_json(r)
            for t in targets
            if (r := session.store.by_address(t.host, t.port)) is not None
        ],
        "failed": failed,
    }
    return [Table(DEVICE_HEADERS, rows, data, footer=footer), *failures]


@command(
    "forget",
    args=(Arg("targets", "targets", "plugs to drop from the device list"),),
    permission="control",
    examples=("forget 'Old Lamp'",),
    by_mail=ByMail.YES,
)
async def forget(session: Session, args: Args) -> list[Result]:
    """Drop plugs from the device list (discover finds them again if they answer)."""
    out: list[Result] = []
    for word in args.targets:
        try:
            targets = resolve(session, word)
        except KshellError as exc:
            out.append(Failure(exc))
            continue
        for t in targets:
            if t.record is None:
                out.append(Failure(TargetError(f"{t.address} is not in the device list")))
                continue
            if t.child_id is not None:  # removing the record would drop the whole strip
                strip = t.record.alias or t.record.address
                why = f"outlets cannot be forgotten alone; forget the strip: forget '{strip}'"
                out.append(Failure(TargetError(why, target=t.label)))
                continue
            if not session.store.remove(t.record):  # another kshell forgot or moved it meanwhile
                out.append(Failure(TargetError(f"{t.address} is no longer in the device list")))
                continue
            out.append(Text(f"forgot {t.label} ({t.address})", {"forgot": t.label, "host": t.host}))
    return out


@command(
    "use",
    args=(Arg("target", "target", "plug that later commands act on; 'none' clears it"),),
    permission="read",
    examples=("use Kitchen", "use none"),
    by_mail=ByMail.YES,
)
async def use(session: Session, args: Args) -> Result:
    """Set the current plug: commands may then leave their target out."""
    if args.target.lower() in ("none", "-"):
        session.current = None
        return Text("no current plug", {"current": None})
    targets = resolve_all(session, [args.target])
    if len(targets) != 1:
        raise UsageError("use: name one plug, not several")
    target = targets[0]
    # the plug's own name, not a prefix typed for it: a later plug must not make it ambiguous
    if target.record is not None and target.record.alias:
        outlet = f"/{target.outlet}" if target.outlet else ""
        session.current = target.record.alias + outlet
    else:
        session.current = args.target
    return Text(f"using {target.label} ({target.address})", {"current": session.current})
