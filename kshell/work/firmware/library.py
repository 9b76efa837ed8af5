"""The firmware library: a folder of images and a manifest saying what each one is for.

``manifest.json`` records, per image, the models (with region: ``HS110(EU)``) and hardware
versions it fits, its version string and its sha256. The staging flow refuses an image the
manifest does not vouch for, so the manifest is the operator's statement of intent and the
hash ties that statement to the exact bytes.

Where the library lives: ``[firmware] library`` in the config, else ``<home>/firmware`` (the
state folder; created on the first ``firmware add``), in a checkout as in an installed shell.
A checkout's own ``firmware/`` holds only the shipped demo images (installed, they are under
the prefix's ``share/kshell/firmware``): listed beside the library, usable by name, never
written to.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kshell.errors import KshellError, UsageError
from kshell.store.config import text
from kshell.work.firmware.version import parse_version

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
NOT_IMAGES = {MANIFEST, "README.md", "README", "README.txt"}
MAX_IMAGE = 32 * 1024 * 1024  # real plug images are 1-4 MiB; anything far larger is a mistake

_MODEL = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,15}(\([A-Z]{2,3}\))?$", re.IGNORECASE)
_HW = re.compile(r"^\d{1,3}(\.\d{1,3}){0,2}$")


class LibraryError(KshellError):
    """The library folder or its manifest cannot be used as it is."""

    kind = "firmware"


# --- the manifest -----------------------------------------------------------------------


@dataclass
class Image:
    """One manifest entry."""

    file: str
    models: list[str]
    hw_versions: list[str]
    version: str
    sha256: str
    size: int = 0
    note: str = ""
    simulator_only: bool = False  # a demo image for simulated plugs: never sent to a real one

    def fits_model(self, model: str) -> bool:
        """Exact model with region; a manifest model without region fits every region."""
        want = model.strip().upper()
        for entry in self.models:
            entry = entry.strip().upper()
            if entry == want or ("(" not in entry and want.split("(")[0] == entry):
                return True
        return False

    def fits_hw(self, hw_ver: str) -> bool:
        return hw_ver.strip() in [h.strip() for h in self.hw_versions]

    def json(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.note:
            data.pop("note")
        if not self.simulator_only:
            data.pop("simulator_only")
        return data


@dataclass
class Listing:
    """What ``firmware list`` shows: entries, files nobody described, entries whose file is gone."""

    images: list[Image] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    shipped: list[Image] = field(default_factory=list)  # read-only, beside the library


def library_folder(config: Any, data_folder: Path) -> Path:
    """Where the library is: the configured folder, else the state folder's ``firmware``."""
    configured = text(config, "firmware", "library")
    if configured:
        return Path(configured).expanduser()
    return data_folder / "firmware"


INSTALLED_DEMO = Path("share") / "kshell" / "firmware"  # under the install prefix (setup.cfg)


def shipped_folder() -> Path | None:
    """The demo images shipped with kshell (read-only): a checkout's ``firmware/``, or,
    installed, the copy setup.cfg's data_files puts under the prefix; None without them."""
    import sys

    checkout = Path(__file__).resolve().parents[3]  # kshell/work/firmware/library.py
    if (checkout / "shell.py").is_file() and (checkout / "firmware" / MANIFEST).is_file():
        return checkout / "firmware"
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):  # a venv, then the system
        installed = Path(prefix) / INSTALLED_DEMO
        if (installed / MANIFEST).is_file():
            return installed
    return None


def open_library(config: Any, data_folder: Path) -> Library:
    """The operator's library, with a checkout's shipped images beside it."""
    return Library(library_folder(config, data_folder), shipped=shipped_folder())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Library:
    """The images in ``folder`` (written by ``add``), and read-only ones in ``shipped``."""

    def __init__(self, folder: Path, shipped: Path | None = None) -> None:
        self.folder = folder
        same = shipped is not None and shipped.resolve() == folder.resolve()
        self.shipped = None if same else shipped

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def images(self) -> list[Image]:
        """The images of the operator's own library (what its manifest says)."""
        return _read_manifest(self.manifest_path)

    def shipped_images(self) -> list[Image]:
        """The shipped demo images a library image of the same name does not hide."""
        if self.shipped is None:
            return []
        own = {img.file for img in self.images()}
        return [i for i in _read_manifest(self.shipped / MANIFEST) if i.file not in own]

    def path_of(self, image: Image) -> Path:
        own = {img.file for img in self.images()}
        if image.file in own or self.shipped is None:
            return self.folder / image.file
        return self.shipped / image.file

    def listing(self) -> Listing:
        images = self.images()
        named = {img.file for img in images}
        present = set()
        if self.folder.is_dir():
            present = {
                p.name
                for p in self.folder.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.name not in NOT_IMAGES
            }
        shipped = self.shipped_images()
        return Listing(
            images=images,
            unknown=sorted(present - named),
            missing=sorted(img.file for img in images if img.file not in present)
            + [img.file for img in shipped if not self.path_of(img).is_file()],
            shipped=shipped,
        )

    def by_name(self, name: str) -> Image | None:
        for img in self.images() + self.shipped_images():
            if img.file == name:
                return img
        return None

    def by_hash(self, digest: str) -> Image | None:
        for img in self.images() + self.shipped_images():
            if img.sha256 == digest:
                return img
        return None

    def add(
        self, source: Path, models: list[str], hw_versions: list[str], version: str, note: str = ""
    ) -> Image:
        """Copy ``source`` into the library (unless it is already there) and describe it."""
        models, hw_versions = _checked_models(models), _checked_hw(hw_versions)
        if parse_version(version) is None:
            raise UsageError(
                f"firmware add: '{version}' is not a firmware version like "
                "'1.5.10' or '1.5.10 Build 230615 Rel.101530'"
            )
        if not source.is_file():
            raise UsageError(f"firmware add: no such file: {source}")
        size = source.stat().st_size
        if size == 0 or size > MAX_IMAGE:
            raise UsageError(
                f"firmware add: {source} has {size} bytes; an image has 1 to {MAX_IMAGE}"
            )
        name = source.name
        if name in NOT_IMAGES or name.startswith("."):
            raise UsageError(f"firmware add: '{name}' cannot be an image name")
        digest = sha256_file(source)
        images = self.images()
        for img in images + self.shipped_images():
            if img.sha256 == digest:
                raise UsageError(
                    f"firmware add: this image is already in the library as {img.file}"
                )
            if img.file == name:
                raise UsageError(
                    f"firmware add: the library already has a different {name}; "
                    "rename the file first"
                )
        self.folder.mkdir(parents=True, exist_ok=True)
        dest = self.folder / name
        if dest.exists() and not dest.samefile(source):
            if sha256_file(dest) != digest:
                raise UsageError(
                    f"firmware add: {dest} exists with other contents; rename the file"
                )
        elif not dest.exists():
            _atomic_copy(source, dest)
        image = Image(name, models, hw_versions, version.strip(), digest, size, note.strip())
        self._write([*images, image])
        return image

    def _write(self, images: list[Image]) -> None:
        body = {
            "format": MANIFEST_FORMAT,
            "about": "kshell firmware library: see README.md; 'firmware add' keeps this file",
            "images": [img.json() for img in images],
        }
        text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".manifest-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, self.manifest_path)  # never leave half a manifest behind


def _read_manifest(path: Path) -> list[Image]:
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LibraryError(f"firmware manifest {path} is unreadable: {exc}") from None
    entries = raw.get("images") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise LibraryError(f"firmware manifest {path}: expected an object with an 'images' list")
    return [_image_from(path, index, entry) for index, entry in enumerate(entries)]


def _image_from(path: Path, index: int, entry: Any) -> Image:
    where = f"firmware manifest {path}, image {index + 1}"
    if not isinstance(entry, dict):
        raise LibraryError(f"{where}: not an object")

    def strings(key: str) -> list[str]:
        value = entry.get(key)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise LibraryError(f"{where}: '{key}' must be a list of strings")
        return value

    file, version, digest = entry.get("file"), entry.get("version"), entry.get("sha256")
    if not isinstance(file, str) or not file or "/" in file or "\\" in file or file.startswith("."):
        raise LibraryError(f"{where}: 'file' must be a plain file name")
    if not isinstance(version, str) or parse_version(version) is None:
        raise LibraryError(f"{where}: 'version' must be a firmware version such as '1.5.10'")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise LibraryError(f"{where}: 'sha256' must be 64 lower-case hex digits")
    size = entry.get("size", 0)
    note = entry.get("note", "")
    return Image(
        file=file,
        models=strings("models"),
        hw_versions=strings("hw_versions"),
        version=version,
        sha256=digest,
        size=size if isinstance(size, int) else 0,
        note=note if isinstance(note, str) else "",
        simulator_only=entry.get("simulator_only") is True,
    )


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _checked_models(values: list[str]) -> list[str]:
    models = _split(values)
    if not models:
        raise UsageError("firmware add: give the model(s) it is for: --model 'HS110(EU)'")
    for m in models:
        if not _MODEL.match(m):
            raise UsageError(f"firmware add: '{m}' is not a model such as HS110(EU)")
    return [m.upper() for m in models]


def _checked_hw(values: list[str]) -> list[str]:
    hws = _split(values)
    if not hws:
        raise UsageError("firmware add: give the hardware version(s) it is for: --hw 2.0")
    for h in hws:
        if not _HW.match(h):
            raise UsageError(f"firmware add: '{h}' is not a hardware version such as 2.0")
    return hws


def _atomic_copy(source: Path, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".adding-")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- choosing the image for a stage ----------------------------------------------------------


@dataclass
class ChosenImage:
    """The bytes to serve and what the manifest says about them (None: not in the manifest)."""

    path: Path
    data: bytes
    sha256: str
    entry: Image | None

    @property
    def name(self) -> str:
        return self.path.name


def choose_image(library: Library, word: str) -> ChosenImage:
    """IMAGE on the command line: a library image's name, else a file path.

    The bytes are read once and hashed here; exactly these bytes are served, so a file
    changed after the check cannot reach a plug. A hash that differs from the manifest is
    always refused (``--force`` does not cover it).
    """
    entry = library.by_name(word)
    in_library = library.path_of(entry) if entry is not None else library.folder / word
    if entry is not None and not in_library.is_file():
        raise LibraryError(f"{word} is in the manifest but {in_library} is missing")
    plain_name = "/" not in word and "\\" not in word and word not in NOT_IMAGES
    path = in_library if plain_name and in_library.is_file() else Path(word).expanduser()
    if not path.is_file():
        hint = f"no image '{word}' in the library ({library.folder}) and no such file"
        raise UsageError(f"{hint}; 'firmware list' shows the images")
    size = path.stat().st_size
    if size == 0 or size > MAX_IMAGE:
        raise UsageError(f"{path} has {size} bytes; an image has 1 to {MAX_IMAGE}")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if entry is None:
        entry = library.by_hash(digest)
        named = library.by_name(path.name)
        if entry is None and named is not None:
            entry = named  # same name as a library image, other bytes: a hash mismatch
    if entry is not None and entry.sha256 != digest:
        raise LibraryError(
            f"{path}: sha256 {digest[:16]}... does not match the manifest's {entry.sha256[:16]}... "
            f"for {entry.file}: refusing (corrupt or replaced image)"
        )
    return ChosenImage(path, data, digest, entry)
