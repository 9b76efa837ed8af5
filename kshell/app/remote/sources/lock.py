"""The lock on a source: a second listener on the same mail, from any home, is refused.

Where the lock lives:

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

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TextIO

from kshell.app.remote.locks import take_lock
from kshell.app.remote.settings import SourceSpec
from kshell.errors import KshellError

MAILDIR_LOCK = ".kshell-listener.lock"


class SourceLocked(KshellError):
    kind = "refused"


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
