"""Exclusive locks that keep two listeners apart: one on the journal (one home), one on
the source itself (``sources.lock``: the same mail, whichever home a listener runs in).

A lock is ``flock`` on a file that names the holder's pid: the kernel drops it when the
process dies, so a crash never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from kshell.errors import KshellError


def take_lock(path: Path, refused: Callable[[str], KshellError]) -> TextIO:
    """An exclusive, non-blocking lock held while the returned file is open; when another
    process holds it, ``refused(its pid)`` is raised."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    handle = open(fd, "a+")  # noqa: SIM115 - held open for the listener's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read(20).strip()
        handle.close()
        raise refused(holder if holder.isdigit() else "another process") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
