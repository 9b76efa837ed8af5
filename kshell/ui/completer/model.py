"""The stateful side of completion: it keeps the device index fresh and hands the pure
engine a ``Known`` snapshot. The clock, the store and the disk are all injected."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kshell.errors import KshellError
from kshell.lang.registry import Registry
from kshell.store.devices import DeviceRecord
from kshell.store.names import PrefixIndex
from kshell.ui.completer.capable import lacking, needed
from kshell.ui.completer.files import FolderLister, ImageShelf
from kshell.ui.completer.known import ImageEntry, Known
from kshell.ui.completer.targets import TargetIndex


class Model:
    """The in-memory data completion and highlighting read: registry, devices, folders."""

    def __init__(
        self,
        registry: Registry,
        records: Callable[[], list[DeviceRecord]],
        *,
        current: Callable[[], str | None] = lambda: None,
        firmware_dir: Callable[[], Path | None] = lambda: None,
        shipped_dir: Callable[[], Path | None] = lambda: None,
        cwd: Callable[[], Path] = Path.cwd,
        fingerprint: Callable[[], object] | None = None,
        max_age: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        rules: Callable[[str], list[tuple[str, str]]] = lambda target: [],
    ) -> None:
        self.rules = rules
        self.registry = registry
        self._records = records
        self.current = current
        self.library = ImageShelf(firmware_dir)
        self.shipped = ImageShelf(shipped_dir)  # a checkout's demo images, beside the library
        self.listdir = FolderLister(cwd)
        # Background work (discovery, remote mode) changes the cache between keystrokes: at
        # most every max_age seconds a cheap fingerprint says whether to rebuild the index.
        self.fingerprint = fingerprint
        self.max_age = max_age
        self.clock = clock
        self._index: TargetIndex | None = None
        self._lacking: dict[str, set[str]] = {}
        self._prefixes = PrefixIndex(())
        self._built = 0.0
        self._print: object = None
        self.verbs = registry.verbs()
        self.needs = needed(registry)  # the capabilities completion tells apart
        self.verb_meta = {v: _verb_meta(registry, v) for v in self.verbs}

    @classmethod
    def from_context(cls, session: object) -> Model:
        from kshell.core.session import Session

        assert isinstance(session, Session)
        return cls(
            session.registry,
            session.store.all,
            current=lambda: session.current,
            firmware_dir=lambda: firmware_library(session),
            shipped_dir=shipped_firmware,
            fingerprint=lambda: cache_fingerprint(session.store),
            rules=lambda word: session_rules(session, word),
        )

    def index(self) -> TargetIndex:
        now = self.clock()
        if self._index is not None and now - self._built <= self.max_age:
            return self._index
        self._built = now
        if self._index is not None and self.fingerprint is not None:
            print_now = self.fingerprint()
            if print_now == self._print:
                return self._index
            self._print = print_now
        elif self.fingerprint is not None:
            self._print = self.fingerprint()
        records = self._records()
        self._index = TargetIndex.build(records)
        self._lacking = lacking(records, self.needs)
        self._prefixes = PrefixIndex(r.alias for r in records if r.alias)
        return self._index

    def images(self) -> list[ImageEntry]:
        own = self.library()
        names = {image.name for image in own}
        return own + [image for image in self.shipped() if image.name not in names]

    def known(self) -> Known:
        """A snapshot for one keystroke."""
        index = self.index()
        return Known(
            self.registry,
            self.verbs,
            self.verb_meta,
            index,
            self._lacking,
            self._prefixes,
            self.current(),
            self.images,
            self.listdir,
            self.rules,
        )

    def invalidate(self) -> None:
        self._index = None


def session_rules(session: object, word: str) -> list[tuple[str, str]]:
    """The schedule rules of the plug ``word`` names, as this session last read them (no
    request is sent while typing); nothing when it has not read them."""
    from kshell.core.session import Session
    from kshell.core.targets import resolve

    assert isinstance(session, Session)
    try:
        targets = resolve(session, word)
    except KshellError:
        return []
    out: list[tuple[str, str]] = []
    for target in targets[:1]:
        device = session.devices.peek(target.host, target.port)
        module = device.__dict__.get("schedule") if device is not None else None  # built?
        last = getattr(module, "last", None)
        out.extend((r.id, r.words()) for r in getattr(last, "rules", ()))
    return out


def cache_fingerprint(cache: object) -> int:
    """Changes whenever a record is added, replaced (observe makes a new one) or marked."""
    records = getattr(cache, "records", {})
    return hash(tuple((id(r), r.online, r.state) for r in records.values()))


def firmware_library(session: object) -> Path | None:
    """The firmware image folder, found the way the firmware commands find it."""
    from kshell.core.session import Session

    assert isinstance(session, Session)
    try:
        from kshell.work.firmware.library import library_folder
    except ImportError:
        return session.paths.data / "firmware"
    return library_folder(session.config, session.paths.data)


def shipped_firmware() -> Path | None:
    try:
        from kshell.work.firmware.library import shipped_folder
    except ImportError:
        return None
    return shipped_folder()


def _verb_meta(registry: Registry, verb: str) -> str:
    cmd = registry.commands.get(verb)
    subs = registry.subverbs(verb)
    if cmd is not None:
        return cmd.summary + (f" (also: {', '.join(subs)})" if subs else "")
    return "subcommands: " + ", ".join(subs)
