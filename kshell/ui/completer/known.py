"""What completion reads, as plain values: the input and output of the pure engine.

``Known`` is a snapshot (commands, plugs, the current plug) plus two injected providers
for what lives on disk (library images, folder listings); the engine calls them only when
the cursor is on an argument that needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kshell.lang.registry import Registry
from kshell.store.names import PrefixIndex
from kshell.ui.completer.targets import TargetIndex


@dataclass(frozen=True)
class Suggestion:
    text: str  # inserted in place of the word being typed (quoted when needed)
    display: str
    meta: str
    kind: str  # verb | subverb | option | alias | outlet | host | mac | keyword | choice | file


@dataclass
class Completions:
    start: int  # where the replaced word begins in the text
    items: list[Suggestion]


@dataclass(frozen=True)
class FileEntry:
    name: str
    is_dir: bool
    size: int | None  # None when it could not be read


@dataclass(frozen=True)
class ImageEntry:
    name: str
    meta: str  # what the manifest says it is for, or its size


@dataclass(frozen=True)
class Known:
    registry: Registry
    verbs: list[str]
    verb_meta: dict[str, str]
    targets: TargetIndex
    lacking: dict[str, set[str]]  # capability -> folded words of plugs without it
    prefixes: PrefixIndex  # plug aliases, for unique prefixes as the resolver reads them
    current: str | None = None
    images: Callable[[], list[ImageEntry]] = list  # the firmware library, read on demand
    listdir: Callable[[str], list[FileEntry]] = lambda folder: []  # a folder as typed
    # a plug's schedule rules as this session last read them: (id, rule in words)
    rules: Callable[[str], list[tuple[str, str]]] = lambda target: []
