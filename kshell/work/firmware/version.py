"""Firmware version strings: "1.5.10", "1.5.10 Build 230615 Rel.101530", compared as numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_VERSION = re.compile(
    r"^\s*(?P<nums>\d{1,4}(?:\.\d{1,4}){0,3})"
    r"(?:\s+Build\s+(?P<build>\d{1,10}))?"
    r"(?:\s+Rel\.?\s*(?P<rel>\d{1,10}))?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FwVersion:
    """A Kasa ``sw_ver`` such as "1.5.6 Build 191125 Rel.135516", or a bare "1.5.6"."""

    numbers: tuple[int, ...]
    build: int | None = None
    rel: int | None = None

    def __str__(self) -> str:
        text = ".".join(str(n) for n in self.numbers)
        if self.build is not None:
            text += f" Build {self.build}"
        if self.rel is not None:
            text += f" Rel.{self.rel}"
        return text


def parse_version(text: Any) -> FwVersion | None:
    """The version in ``text``, or None when it is not a Kasa version string."""
    if not isinstance(text, str):
        return None
    m = _VERSION.match(text)
    if not m:
        return None
    numbers = tuple(int(n) for n in m.group("nums").split("."))
    build = int(m.group("build")) if m.group("build") else None
    rel = int(m.group("rel")) if m.group("rel") else None
    return FwVersion(numbers, build, rel)


def compare_versions(a: FwVersion, b: FwVersion) -> int:
    """-1, 0 or 1. Build and Rel decide only when both sides carry them (a bare "1.5.6"
    says nothing about which build of 1.5.6 it is, so it counts as equal)."""
    width = max(len(a.numbers), len(b.numbers))
    na = a.numbers + (0,) * (width - len(a.numbers))
    nb = b.numbers + (0,) * (width - len(b.numbers))
    if na != nb:
        return -1 if na < nb else 1
    if a.build is None or b.build is None:
        return 0
    ka, kb = (a.build, a.rel or 0), (b.build, b.rel or 0)
    return 0 if ka == kb else (-1 if ka < kb else 1)


def is_newer(candidate: str, current: str) -> bool | None:
    """Is ``candidate`` a later firmware than ``current``? None when either is unreadable."""
    new, old = parse_version(candidate), parse_version(current)
    if new is None or old is None:
        return None
    return compare_versions(new, old) > 0


def same_version(expected: str, actual: str) -> bool:
    new, got = parse_version(expected), parse_version(actual)
    return new is not None and got is not None and compare_versions(new, got) == 0
