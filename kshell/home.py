"""The state folder, trusted the way ssh trusts ``~/.ssh``.

A home, config file or command folder that another user owns, or that group or others
can write, is refused: whoever can write there could plant a command module that runs as
us, or a symlink our secrets would be written through. The home is made 0700 and what
kshell writes in it 0600; secrets and temporary files are created with ``O_EXCL`` and
``O_NOFOLLOW`` under a name nobody can guess, then renamed into place.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kshell.errors import UsageError

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
# never through a planted symlink, never onto a file someone made first
EXCLUSIVE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


def _trusted_owner(uid: int) -> bool:
    return uid in (os.geteuid(), 0)  # as ssh: the user, or root (who could do anything anyway)


def check_trusted(path: Path, what: str, fix: str) -> None:
    """Refuse ``path`` (a ``what``: "state folder", "config"...) when another user owns it
    or group/others may write it; ``fix`` says how to put it right. A missing path passes."""
    try:
        st = path.stat()
    except OSError:
        return
    if not _trusted_owner(st.st_uid):
        raise UsageError(
            f"{what} {path} is owned by uid {st.st_uid}, not you (uid {os.geteuid()}): {fix}"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022:
        raise UsageError(f"{what} {path} is writable by group/others (mode {mode:04o}): {fix}")


def prepare_home(path: Path) -> None:
    """Make the state folder 0700 when it is new; refuse one that is not safely ours."""
    check_trusted(
        path, "state folder", f"use a home of your own, or chown it to you and chmod 700 {path}"
    )
    if path.is_dir():
        return
    try:
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the state folder {path}: {exc.strerror}") from None


def make_private(*paths: Path) -> None:
    """Files kshell made in the home, readable by us only (SQLite makes its -wal and -shm
    files with the database's mode, so the database is made private before they exist)."""
    for path in paths:
        try:
            if path.lstat().st_uid == os.geteuid() and not path.is_symlink():
                os.chmod(path, PRIVATE_FILE)
        except OSError:
            pass  # not there (yet), or a read-only home: nothing to tighten


def open_append(path: Path) -> int:
    """A descriptor to append to a state file, made 0600 if new, never through a symlink."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE)


def write_private(path: Path, text: str, *, sync: bool = True) -> None:
    """Replace ``path`` with ``text`` whole: written to a fresh 0600 file beside it (a random
    name, created exclusively, no symlink followed), then renamed over it."""
    for _ in range(8):
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, EXCLUSIVE, PRIVATE_FILE)
        except FileExistsError:
            continue
        break
    else:
        raise OSError(f"cannot make a temporary file beside {path}")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
