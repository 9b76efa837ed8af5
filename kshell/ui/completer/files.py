"""The disk side of completion: folder listings and the firmware library, injected into
``Known`` as providers, and the pure step that turns what they found into suggestions."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kshell.text import clean
from kshell.ui.completer.known import FileEntry, ImageEntry, Suggestion
from kshell.ui.completer.matcher import Matcher
from kshell.ui.completer.targets import quote_word

MAX_FILES = 200
SKIPPED_IN_LIBRARY = (".json", ".md", ".txt")


class FolderLister:
    """Lists a folder as typed: relative to the working folder, ``~`` expanded."""

    def __init__(self, cwd: Callable[[], Path] = Path.cwd) -> None:
        self.cwd = cwd

    def __call__(self, typed_folder: str) -> list[FileEntry]:
        folder = self.cwd()
        if typed_folder:
            path = Path(os.path.expanduser(typed_folder))
            folder = path if path.is_absolute() else folder / path
        return [_entry(e) for e in _scandir(folder)]


class ImageShelf:
    """The library's images with what its manifest says each is for. The manifest is
    re-read only when it changes (the stamp is kept here, not in a module global)."""

    def __init__(self, folder: Callable[[], Path | None]) -> None:
        self.folder = folder
        self._described: tuple[Path, int, dict[str, str]] | None = None

    def __call__(self) -> list[ImageEntry]:
        folder = self.folder()
        if folder is None:
            return []
        described = self._manifest(folder)
        found = []
        for entry in _scandir(folder):
            name = entry.name
            if name.startswith(".") or name.lower().endswith(SKIPPED_IN_LIBRARY):
                continue
            if entry.is_file():
                size = size_text(_entry(entry).size)
                meta = described.get(name) or f"image, {size}, not in the manifest"
                found.append(ImageEntry(name, meta))
        return found

    def _manifest(self, folder: Path) -> dict[str, str]:
        path = folder / "manifest.json"
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return {}
        if self._described is not None and self._described[:2] == (path, stamp):
            return self._described[2]
        described: dict[str, str] = {}
        try:
            from kshell.work.firmware.library import Library

            for image in Library(folder).images():
                models = ", ".join(image.models) or "any model"
                hw = f" hw {', '.join(image.hw_versions)}" if image.hw_versions else ""
                described[image.file] = clean_meta(f"{models}{hw}: firmware {image.version}")
        except Exception:  # noqa: BLE001 - a broken manifest only costs the descriptions
            described = {}
        self._described = (path, stamp, described)
        return described


def clean_meta(text: str) -> str:

    return clean(text, 120)


def image_suggestions(images: list[ImageEntry], match: Matcher) -> list[Suggestion]:
    found = [Suggestion(quote_word(i.name), i.name, i.meta, "image") for i in images]
    return match.rank(found, key=lambda s: s.display)


def path_suggestions(listdir: Callable[[str], list[FileEntry]], typed: str) -> list[Suggestion]:
    """Files and folders whose names start with what is typed (scripts for ``replay``)."""
    head, sep, base = typed.rpartition("/")
    prefix = head + "/" if sep else ""
    out = []
    for entry in sorted(listdir((head or "/") if sep else ""), key=lambda e: e.name):
        name = entry.name
        if not name.startswith(base) or (name.startswith(".") and not base.startswith(".")):
            continue
        shown = name + ("/" if entry.is_dir else "")
        meta = "folder" if entry.is_dir else size_text(entry.size)
        out.append(Suggestion(quote_word(prefix + shown), shown, meta, "file"))
        if len(out) >= MAX_FILES:
            break
    return out


def size_text(size: int | None) -> str:
    if size is None:
        return "file"
    amount = float(size)
    for unit in ("B", "kB", "MB"):
        if amount < 1024 or unit == "MB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return "file"


def _entry(entry: os.DirEntry[str]) -> FileEntry:
    try:
        is_dir = entry.is_dir()
        size = None if is_dir else entry.stat().st_size
    except OSError:
        return FileEntry(entry.name, False, None)
    return FileEntry(entry.name, is_dir, size)


def _scandir(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        return []
