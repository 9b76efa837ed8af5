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
from kshell.lang.binding import parse_args


def wanted(session: Session) -> bool:
    return session.discovery.refresh_on_start and "discover" in session.registry.commands


async def refresh(session: Session, done: Callable[[], None]) -> None:
    """Discover once; ``done`` is called afterwards (to redraw the toolbar)."""
    cmd = session.registry.commands["discover"]
    session.refresh_status = "discovering..."
    done()
    try:
        table = await cmd.func(session, parse_args(cmd, []))
        answered = getattr(table, "data", {}).get("answered", 0)
        session.refresh_status = f"{answered} answered discovery"
    except asyncio.CancelledError:
        session.refresh_status = None
        raise
    except KshellError as exc:
        session.refresh_status = f"discovery failed: {exc.message}"
    except Exception as exc:  # noqa: BLE001 - a background refresh must never end the shell
        session.refresh_status = f"discovery failed: {type(exc).__name__}"
    done()
