"""The owner's cloud credentials, which KLAP and AES plugs check.

Where they come from, first found wins: ``KSHELL_USERNAME`` / ``KSHELL_PASSWORD``; what
was typed at the prompt with ``login`` this session; the file ``login`` saved when asked
(``credentials`` in the state folder, 0600, its own file so kshell.ini keeps its comments);
``[credentials] username`` / ``password`` in kshell.ini, which must be 0600 too. The
password stays inside a ``Credentials`` (whose repr hides it): it is never put in a
result, a log line, the store or history.
"""

from __future__ import annotations

import configparser
import os
import stat
from pathlib import Path
from typing import Protocol

from kshell.device.transports.base import Credentials
from kshell.errors import KshellError
from kshell.home import write_private
from kshell.store.config import Paths


class Holder(Protocol):
    """What the credentials are looked up in: the session (core, above the store) is one."""

    login: Credentials | None
    config: configparser.ConfigParser
    paths: Paths


SAVED_NAME = "credentials"
MAX_FIELD = 256


def find(session: Holder) -> Credentials | None:
    user, password = os.environ.get("KSHELL_USERNAME"), os.environ.get("KSHELL_PASSWORD")
    if user is not None and password is not None:
        return Credentials(user[:MAX_FIELD], password[:MAX_FIELD])
    if session.login is not None:
        return session.login
    saved = saved_path(session)
    if saved.exists():
        return _read(saved, "login", f"{saved}")
    if session.config.has_section("credentials"):
        return _from_section(session.config, session.paths.config_file)
    return None


def source(session: Holder) -> str:
    """Where the credentials in force come from (for `login` and messages; never the values)."""
    if os.environ.get("KSHELL_USERNAME") is not None:
        return "KSHELL_USERNAME / KSHELL_PASSWORD"
    if session.login is not None:
        return "typed with login (this session)"
    if saved_path(session).exists():
        return str(saved_path(session))
    if session.config.has_section("credentials"):
        return f"[credentials] in {session.paths.config_file}"
    return "none"


def saved_path(session: Holder) -> Path:
    return session.paths.data / SAVED_NAME


def _private(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KshellError(f"{path} holds a password but others can read it: chmod 600 {path}")


def _login_in(parser: configparser.ConfigParser, section: str) -> tuple[str, str] | None:
    """A section's username and password (an optional section: no default), or None."""
    if not (parser.has_option(section, "username") and parser.has_option(section, "password")):
        return None
    return parser.get(section, "username"), parser.get(section, "password")


def _from_section(config: configparser.ConfigParser, path: Path) -> Credentials | None:
    pair = _login_in(config, "credentials")
    if pair is None:
        return None
    _private(path)
    user, password = pair
    return Credentials(user[:MAX_FIELD], password[:MAX_FIELD])


def _read(path: Path, section: str, label: str) -> Credentials | None:
    _private(path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error, UnicodeDecodeError):
        raise KshellError(f"{label}: unreadable; run login again") from None
    pair = _login_in(parser, section)
    if pair is None:
        return None
    user, password = pair
    return Credentials(user[:MAX_FIELD], password[:MAX_FIELD])


def save(session: Holder, creds: Credentials) -> Path:
    """Write the credentials to their own 0600 file (created so: never readable by others;
    a symlink planted at its name, or at a temporary one, is replaced, never written through)."""
    import io

    path = saved_path(session)
    parser = configparser.ConfigParser(interpolation=None)
    parser["login"] = {"username": creds.username, "password": creds.password}
    text = io.StringIO()
    parser.write(text)
    write_private(path, text.getvalue())  # a fresh 0600 file renamed over it: no symlink followed
    return path
