"""Remote settings from a ``[remote]`` snippet, and the IMAP source's ``remote test`` steps,
for the auth tests (the packaged defaults under the snippet, as kshell reads a config)."""

from __future__ import annotations

import asyncio
import configparser
from pathlib import Path

from kshell.app.remote.settings import RemoteSettings, load_settings
from kshell.app.remote.sources.base import Step
from kshell.store.config import DEFAULT_CONFIG


def settings(data_dir: Path, remote: str) -> RemoteSettings:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(DEFAULT_CONFIG)
    parser.read_string("[remote]\n" + remote)
    return load_settings(parser, data_dir)


def source_steps(remote: RemoteSettings) -> list[Step]:
    from kshell.app.remote.sources.imap import ImapSource

    return asyncio.run(ImapSource(remote.source, remote, print).check())


def failed(steps: list[Step]) -> list[Step]:
    return [step for step in steps if not step[1]]
