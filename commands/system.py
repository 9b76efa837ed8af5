"""The shell itself (help, exit) and the system commands: ifaces, ping, uptime."""

from __future__ import annotations

from typing import Any

from kshell.core.session import Session
from kshell.errors import UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, Opt, command
from kshell.results import Failure, Result, Table, Text


@command(
    "help",
    args=(
        Arg("verb", "verb", "a command to explain", optional=True),
        Arg("subverb", "word", "its subcommand", optional=True),
    ),
    permission="read",
    examples=("help", "help on", "help emeter watch"),
    by_mail=ByMail.YES,
)
async def help_(session: Session, args: Args) -> Result:
    """List the commands, or explain one: usage, options and examples."""
    reg = session.registry
    if not args.verb:
        rows = [[c.name, c.permission, c.summary] for _, c in sorted(reg.commands.items())]
        return Table(
            ["command", "needs", "what it does"],
            rows,
            [{"command": r[0], "permission": r[1], "summary": r[2]} for r in rows],
            footer="help COMMAND for details; TARGET is an alias, host[:port], MAC, "
            "all, or alias/N for a strip outlet",
        )
    words = [args.verb] + ([args.subverb] if args.subverb else [])
    name = " ".join(words)
    if name not in reg.commands and args.verb in reg.commands and args.subverb:
        name = args.verb
    if name not in reg.commands:
        subs = reg.subverbs(args.verb)
        if subs:
            cmds = [reg.commands[f"{args.verb} {s}"] for s in subs]
            rows = [[c.name, c.permission, c.summary] for c in cmds]
            return Table(
                ["command", "needs", "what it does"],
                rows,
                [{"command": r[0], "permission": r[1], "summary": r[2]} for r in rows],
            )
        raise UsageError(f"help: no command '{name}'")
    cmd = reg.commands[name]
    lines = [f"usage: {cmd.usage()}", "", cmd.help or cmd.summary]
    if cmd.args:
        lines += ["", "arguments:"] + [f"  {a.name.upper():<12} {a.help}" for a in cmd.args]
    if cmd.all_options:
        lines += ["", "options:"] + [f"  {o.name:<12} {o.help}" for o in cmd.all_options]
    lines += [
        "",
        f"needs {cmd.permission} permission"
        + ("; asks before acting (--yes skips the question)" if cmd.confirm else ""),
        f"by mail: {_by_mail(cmd)}",
    ]
    # a verb with subcommands lists them, with their first examples (as git help stash does)
    subcommands = (
        [reg.commands[f"{cmd.name} {s}"] for s in reg.subverbs(cmd.name)] if " " not in name else []
    )
    if subcommands:
        width = max(len(c.name) for c in subcommands) + 2
        lines += ["", "subcommands (help COMMAND for each):"]
        lines += [f"  {c.name:<{width}}{c.summary}" for c in subcommands]
    examples = list(cmd.examples) + [e for c in subcommands for e in c.examples[:2]]
    if examples:
        lines += ["", "examples:"] + [f"  {e}" for e in examples]
    data = {
        "command": cmd.name,
        "usage": cmd.usage(),
        "help": cmd.help,
        "permission": cmd.permission,
        "confirm": bool(cmd.confirm),
        "by_mail": cmd.by_mail.value if cmd.by_mail else None,
        "examples": examples,
        "subcommands": [
            {"command": c.name, "permission": c.permission, "summary": c.summary}
            for c in subcommands
        ],
        "arguments": [{"name": a.name, "kind": a.kind, "help": a.help} for a in cmd.args],
        "options": [{"name": o.name, "kind": o.kind, "help": o.help} for o in cmd.all_options],
    }
    return Text("\n".join(lines), data)


def _by_mail(cmd: Any) -> str:
    """The command's mail policy as `help` says it (the gate reads the same declaration)."""
    from kshell.lang.registry import ByMail

    if cmd.by_mail in (None, ByMail.NO):
        return "never" if cmd.by_mail else "never (it does not declare by_mail)"
    when = "" if cmd.by_mail is ByMail.YES else f" when [remote] {cmd.by_mail.value} = yes"
    more = f", needs {cmd.mail_permission}" if cmd.mail_permission else ""
    return f"yes{when}{more}, for at most {cmd.mail_time_limit:g} s"


@command("exit", permission="read", examples=("exit",), by_mail=ByMail.NO)
async def exit_(session: Session, args: Args) -> None:
    """Leave the shell (Ctrl-D does the same)."""
    session.ports.exit_requested = True


# --- the machine and the plugs, as the original mail script's ipconfig/ping/uptime ----------


@command(
    "ifaces",
    permission="read",
    mail_permission="control",  # the machine's own networks: recon by mail, as a sweep is
    examples=("ifaces",),
    by_mail=ByMail.YES,
)
async def ifaces(session: Session, args: Args) -> Result:
    """Show this machine's IPv4 interfaces: address, netmask, broadcast (what discovery uses).

    Discovery broadcasts to 255.255.255.255 and to each interface's own broadcast address.
    A plug on a subnet no interface is on (another VLAN, a static address elsewhere) hears
    none of them: find it with discover CIDR, e.g. discover 192.168.7.0/24.
    """
    import ipaddress

    from kshell.core.discovery.broadcast import interfaces

    setting = session.broadcast_setting()
    rows, data = [], []
    for iface in interfaces():
        loopback = ipaddress.IPv4Address(iface.address).is_loopback
        if setting != ["auto"]:
            used = "yes (config)" if _reaches(setting, iface) else "no (config)"
        else:
            used = "no (loopback)" if loopback else ("yes" if iface.broadcast else "no broadcast")
        network = _network(iface.address, iface.netmask)
        broadcast = iface.broadcast or "-"
        rows.append([iface.name, iface.address, iface.netmask, network, broadcast, used])
        data.append(
            {
                "interface": iface.name,
                "address": iface.address,
                "netmask": iface.netmask,
                "network": network,
                "broadcast": iface.broadcast or None,
                "discovery": used,
            }
        )
    if setting == ["auto"]:
        where = "255.255.255.255 and every 'yes' broadcast address above"
    else:
        where = ", ".join(setting) + " (set in the config: [discovery] broadcast)"
    footer = (
        f"discovery sends to {where}; a plug on another subnet is not found "
        "by broadcast: discover CIDR sweeps it"
    )
    return Table(
        ["interface", "address", "netmask", "network", "broadcast", "discovery"],
        rows,
        {"interfaces": data, "broadcast_setting": setting},
        footer=footer,
    )


def _reaches(addresses: list[str], iface: Any) -> bool:
    """Does a configured broadcast address lie in this interface's network?"""
    import ipaddress

    try:
        network = ipaddress.IPv4Network(f"{iface.address}/{iface.netmask}", strict=False)
        return any(ipaddress.IPv4Address(a) in network for a in addresses)
    except ValueError:
        return False


def _network(address: str, netmask: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.IPv4Network(f"{address}/{netmask}", strict=False))
    except ValueError:
        return "-"


@command(
    "ping",
    args=(Arg("targets", "targets", "plugs to ping: alias, host[:port], MAC, all"),),
    options=(
        Opt("--count", "int", "requests per plug (default 4)"),
        Opt("--interval", "float", "seconds between requests (default 0.5)"),
    ),
    permission="read",
    examples=("ping Kitchen", "ping all --count 10", "ping 192.168.1.50"),
    long_running=True,
    by_mail=ByMail.YES,
)
async def ping(session: Session, args: Args) -> Any:
    """Time sysinfo requests to plugs: each answer as it comes, then min/avg/max and loss.

    Each request goes over the plug's kept-open connection, as every command's does, so
    the first one may include connecting. A request without an answer within the
    timeout counts as lost. Ctrl-C stops and still shows the statistics so far.
    """
    from kshell.core.targets import resolve_all
    from kshell.work.ping import Ping

    count = 4 if args.count is None else args.count
    interval = 0.5 if args.interval is None else args.interval
    if not 1 <= count <= 10000:
        raise UsageError("ping: --count must be 1-10000")
    if not 0 <= interval <= 60:
        raise UsageError("ping: --interval must be 0-60 seconds")
    rules = session.invocation.mail
    if rules is not None:  # by mail: the [remote] floor and cap of every stream
        interval = max(interval, rules.min_interval)
        count = min(count, rules.max_samples)
    return Ping(session, resolve_all(session, args.targets), count, interval)


@command(
    "uptime",
    args=(Arg("targets", "targets", "plugs to ask (default: every known plug)", optional=True),),
    permission="read",
    examples=("uptime", "uptime Kitchen"),
    by_mail=ByMail.YES,
)
async def uptime(session: Session, args: Args) -> list[Result]:
    """How long this shell has run, and how long each plug's relay has been on (on_time)."""
    import time

    from kshell.core.target import Target
    from kshell.core.targets import for_each, refresh, resolve_all

    shell_up = time.time() - session.started
    since = time.strftime("%H:%M:%S", time.localtime(session.started))
    head = f"kshell up {_duration(shell_up)} (since {since})"
    words = args.targets or ([session.current] if session.current else [])
    if not words and not session.store.all():
        return [Text(head, {"shell_uptime_s": round(shell_up, 1), "devices": []})]
    targets = resolve_all(session, words or ["all"])
    rows: list[list[Any]] = []
    data: list[dict[str, Any]] = []

    async def one(target: Target) -> Result:
        state = (await refresh(session, target)).state
        kids = [c for c in state.children if target.child_id in (None, c.id)]
        if kids:
            parent = state.alias or target.address
            for c in kids:
                _uptime_row(
                    rows, data, f"{parent}/{c.number}", target.address, bool(c.state), c.on_time
                )
        else:
            _uptime_row(rows, data, target.label, target.address, state.relay, state.on_time)
        return Text("")

    results = await for_each(session, targets, one)
    order = sorted(range(len(rows)), key=lambda i: (str(rows[i][0]).lower(), rows[i][1]))
    rows, data = [rows[i] for i in order], [data[i] for i in order]
    table = Table(
        ["plug", "host", "relay", "on for"],
        rows,
        {"shell_uptime_s": round(shell_up, 1), "devices": data},
        title=head,
    )
    failures: list[Result] = [r for r in results if isinstance(r, Failure)]
    return [table, *failures]


def _uptime_row(
    rows: list[list[Any]],
    data: list[dict[str, Any]],
    label: str,
    host: str,
    on: bool | None,
    on_time: int | None,
) -> None:
    state = "on" if on else "off" if on is not None else "?"
    shown = _duration(on_time) if on and on_time is not None else "-"
    rows.append([label, host, state, shown])
    data.append(
        {"target": label, "host": host, "state": state, "on_time_s": on_time if on else None}
    )


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"
