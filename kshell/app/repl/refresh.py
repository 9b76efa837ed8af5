"""The start-up refresh: discovery runs in the background while the operator types.

Completion starts from the persisted device cache at once; when the broadcast window
closes, the cache (and so completion and the toolbar) holds what answered. Runs the
registered ``discover`` command with its defaults, so it honours the same config.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kshell.core.session import Session
from kshell.errors import KshellError
from kshell.lang.registry import parse_args


def wanted(ctx: Session) -> bool:
    return ctx.discovery.refresh_on_start and "discover" in ctx.registry.commands


async def refresh(ctx: Session, done: Callable[[], None]) -> None:
    """Discover once; ``done`` is called afterwards (to redraw the toolbar)."""
    cmd = ctx.registry.commands["discover"]
    ctx.refresh_status = "discovering..."
    done()
    try:
        table = await cmd.func(ctx, parse_args(cmd, []))
        answered = getattr(table, "data", {}).get("answered", 0)
        ctx.refresh_status = f"{answered} answered discovery"
    except asyncio.CancelledError:
        ctx.refresh_status = None
        raise
    except KshellError as exc:
        ctx.refresh_status = f"discovery failed: {exc.message}"
    except Exception as exc:  # noqa: BLE001 - a background refresh must never end the shell
        ctx.refresh_status = f"discovery failed: {type(exc).__name__}"
    done()
