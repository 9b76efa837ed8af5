"""Building a session: paths, config, device store, command registry, discovery settings,
and the services above core that the session holds behind its interfaces (the mail stack,
the runner `replay` runs lines through)."""

from __future__ import annotations

import argparse
from pathlib import Path

from kshell.app.mail import SessionMail
from kshell.core.invocation import Invocation
from kshell.core.session import DiscoverySettings, Session
from kshell.home import prepare_home
from kshell.lang.registry import build_registry
from kshell.store.config import get_list, load_config, number, resolve_paths
from kshell.store.devices import DeviceStore
from kshell.ui.runner import run_line_into


def build_session(args: argparse.Namespace) -> Session:
    paths = resolve_paths(getattr(args, "home", None), getattr(args, "config", None))
    prepare_home(paths.data)  # refused when not safely ours, before anything in it is read
    config = load_config(paths.config_file)
    folders = [Path(p).expanduser() for p in get_list(config, "shell", "command_folders")]
    folders += [Path(p).expanduser() for p in getattr(args, "commands", []) or []]
    timeout = getattr(args, "timeout", None) or number(config, "shell", "timeout")
    session = Session(
        paths=paths,
        config=config,
        store=DeviceStore(paths.devices),
        registry=build_registry(folders, index=paths.data / "command-index.json"),
        timeout=timeout,
        invocation=Invocation(assume_yes=bool(getattr(args, "yes", False))),
        debug=bool(getattr(args, "debug", False)),
        discovery=DiscoverySettings.from_config(config),
        run_line=run_line_into,
    )
    session.mail = SessionMail(session)
    return session
