"""The shell itself: help and exit."""

from __future__ import annotations

from typing import Any

from kshell.context import Context
from kshell.errors import UsageError
from kshell.registry import Arg, command
from kshell.results import Result, Table, Text


@command(
    "help",
    args=(Arg("verb", "verb", "a command to explain", optional=True),
          Arg("subverb", "word", "its subcommand", optional=True)),
    permission="read",
    examples=("help", "help on", "help emeter watch"),
)
async def help_(ctx: Context, args: Any) -> Result:
    """List the commands, or explain one: usage, options and examples."""
    reg = ctx.registry
    if not args.verb:
        rows = [[c.name, c.permission, c.summary] for _, c in sorted(reg.commands.items())]
        return Table(["command", "needs", "what it does"], rows,
                     [{"command": r[0], "permission": r[1], "summary": r[2]} for r in rows],
                     footer="help COMMAND for details; TARGET is an alias, host[:port], MAC, "
                            "all, or alias/N for a strip outlet")
    words = [args.verb] + ([args.subverb] if args.subverb else [])
    name = " ".join(words)
    if name not in reg.commands and args.verb in reg.commands and args.subverb:
        name = args.verb
    if name not in reg.commands:
        subs = reg.subverbs(args.verb)
        if subs:
            cmds = [reg.commands[f"{args.verb} {s}"] for s in subs]
            rows = [[c.name, c.permission, c.summary] for c in cmds]
            return Table(["command", "needs", "what it does"], rows,
                         [{"command": r[0], "permission": r[1], "summary": r[2]} for r in rows])
        raise UsageError(f"help: no command '{name}'")
    cmd = reg.commands[name]
    lines = [f"usage: {cmd.usage()}", "", cmd.help or cmd.summary]
    if cmd.args:
        lines += ["", "arguments:"] + [f"  {a.name.upper():<12} {a.help}" for a in cmd.args]
    if cmd.all_options:
        lines += ["", "options:"] + [f"  {o.name:<12} {o.help}" for o in cmd.all_options]
    lines += ["", f"needs {cmd.permission} permission"
              + ("; asks before acting (--yes skips the question)" if cmd.confirm else "")]
    if cmd.examples:
        lines += ["", "examples:"] + [f"  {e}" for e in cmd.examples]
    data = {
        "command": cmd.name, "usage": cmd.usage(), "help": cmd.help, "permission": cmd.permission,
        "confirm": bool(cmd.confirm), "examples": list(cmd.examples),
        "arguments": [{"name": a.name, "kind": a.kind, "help": a.help} for a in cmd.args],
        "options": [{"name": o.name, "kind": o.kind, "help": o.help} for o in cmd.all_options],
    }
    return Text("\n".join(lines), data)


@command("exit", permission="read", examples=("exit",))
async def exit_(ctx: Context, args: Any) -> None:
    """Leave the shell (Ctrl-D does the same)."""
    ctx.extras["exit"] = True
