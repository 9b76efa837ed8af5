"""Building a session: paths, config, device cache and command registry."""

from __future__ import annotations

import argparse
from pathlib import Path

from kshell.cache import DeviceCache
from kshell.config import get_float, get_list, load_config, resolve_paths
from kshell.context import Context
from kshell.registry import build_registry


def build_context(args: argparse.Namespace) -> Context:
    paths = resolve_paths(getattr(args, "home", None), getattr(args, "config", None))
    paths.data.mkdir(parents=True, exist_ok=True)
    config = load_config(paths.config_file)
    folders = [Path(p).expanduser() for p in get_list(config, "shell", "command_folders")]
    folders += [Path(p).expanduser() for p in getattr(args, "commands", []) or []]
    timeout = getattr(args, "timeout", None) or get_float(config, "shell", "timeout", 5.0)
    return Context(
        paths=paths,
        config=config,
        cache=DeviceCache(paths.devices),
        registry=build_registry(folders, index=paths.data / "command-index.json"),
        timeout=timeout,
        assume_yes=bool(getattr(args, "yes", False)),
        debug=bool(getattr(args, "debug", False)),
    )
