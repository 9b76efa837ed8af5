"""Exclusive locks that keep two listeners apart: on the journal (one home), and on the
source itself (the same mail, whichever home a listener runs in).

A lock is ``flock`` on a file that names the holder's pid: the kernel drops it when the
process dies, so a crash never leaves a stale lock. Where the lock lives:

- a Maildir: inside it (``.kshell-listener.lock``), so every listener that reads that
  folder meets it, whatever its home or user, on this machine or over NFS where flock works;
- an IMAP folder: this user's runtime folder (``$XDG_RUNTIME_DIR/kshell``, else
  ``/tmp/kshell-UID``), one file per host, port, user and folder. That covers the homes of
  one user on one machine, not listeners of another user or on another machine: IMAP has
  no atomic lock a client could take (a keyword or METADATA entry is set, not tested and
  set in one step), so those must be kept apart by running one listener per mailbox;
- the SMTP listener: none needed (a second one cannot bind its port).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from kshell.app.remote.settings import SourceSpec
from kshell.errors import KshellError

MAILDIR_LOCK = ".kshell-listener.lock"


class SourceLocked(KshellError):
    kind = "refused"


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


def source_lock_path(spec: SourceSpec) -> Path | None:
    """Where the lock of this source lives (None: the source needs none)."""
    if spec.kind == "maildir" and spec.path is not None:
        return spec.path / MAILDIR_LOCK
    if spec.kind == "imap":
        where = f"{spec.host.lower()}:{spec.port}/{spec.user}/{spec.folder}"
        digest = hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:24]
        return runtime_dir() / f"imap-{digest}.lock"
    return None


def runtime_dir() -> Path:
    """This user's folder for locks: private, created on first use."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    path = Path(base) / "kshell" if base else Path(tempfile.gettempdir()) / f"kshell-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid != os.getuid() or path.is_symlink():
        raise SourceLocked(f"{path} belongs to someone else: lock refused")
    return path


def lock_source(spec: SourceSpec) -> TextIO | None:
    """Take the source's lock (None where it needs none); ``SourceLocked`` when another
    listener, of any home, reads the same mail."""
    path = source_lock_path(spec)
    if path is None:
        return None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

        def refused(holder: str) -> KshellError:
            return SourceLocked(
                f"another listener (pid {holder}) already reads {spec.describe()}; "
                "two listeners never share one source, even from different homes"
            )

        return take_lock(path, refused)
    except OSError as exc:
        raise SourceLocked(f"cannot lock {spec.describe()}: {exc.strerror or exc}") from None
