"""What commands return: small typed objects the output layer renders.

Each carries ``data``, the JSON form, and enough shape for a table or a line of text.
A command returns one result, a list of them (one per target), or an async iterator
of them (a stream, such as energy samples).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kshell.errors import KshellError


@dataclass
class Text:
    """A line (or a few) of text; JSON is ``data`` or ``{"message": text}``."""

    text: str
    data: dict[str, Any] | None = None

    def json(self) -> dict[str, Any]:
        return self.data if self.data is not None else {"message": self.text}


@dataclass
class QrCode(Text):
    """Text with a URI to scan (an authenticator's ``otpauth://``): a terminal view draws
    the URI as a QR code above the text; JSON is ``data`` alone, never a drawing."""

    uri: str = ""


# the output layer bounds each line it prints; a longer one is folded here instead of cut
FOLD = 480


@dataclass
class Document(Text):
    """Text worth paging at a terminal; its lines are folded, never cut."""

    pageable = True

    def __post_init__(self) -> None:
        self.text = "\n".join(_fold(line) for line in self.text.splitlines())


def _fold(line: str) -> str:
    if len(line) <= FOLD:
        return line
    return "\n".join(line[i : i + FOLD] for i in range(0, len(line), FOLD))


@dataclass
class Record:
    """Key/value pairs about one target (sysinfo, hw_info)."""

    title: str
    data: dict[str, Any]
    target: str | None = None

    def json(self) -> dict[str, Any]:
        return {"target": self.target, **self.data} if self.target else dict(self.data)


@dataclass
class Table:
    """Rows under headers; ``data`` is the JSON form (usually the rows as objects)."""

    headers: list[str]
    rows: list[list[Any]]
    data: Any = None
    title: str | None = None
    footer: str | None = None
    numbers: tuple[int, ...] = ()  # columns of figures: right-aligned, as a table of them reads

    def json(self) -> Any:
        if self.data is not None:
            return self.data
        return [dict(zip(self.headers, row)) for row in self.rows]


@dataclass
class Failure:
    """One target of a multi-target command failed; the others went on."""

    error: KshellError

    def json(self) -> dict[str, Any]:
        return error_json(self.error)


@dataclass
class Chart:
    """Labelled values drawn as bars in a terminal (energy per day or month)."""

    title: str
    labels: list[str]
    values: list[float]
    unit: str
    data: Any = None
    extra: list[Any] = field(default_factory=list)

    def json(self) -> Any:
        if self.data is not None:
            return self.data
        return [{"label": lbl, "value": v} for lbl, v in zip(self.labels, self.values)]


Result = Text | Record | Table | Failure | Chart


def not_recorded(result: Result, cause: str) -> Result:
    """A result whose plug acted but whose store could not record it: the action stands,
    and the same line says what was not recorded and why (``not_recorded`` in JSON)."""
    note = f"not recorded: {cause}"
    if isinstance(result, Text):
        return Text(f"{result.text} ({note})", {**result.json(), "not_recorded": cause})
    if isinstance(result, Record):
        return Record(result.title, {**result.data, "not recorded": cause}, result.target)
    if isinstance(result, Table):
        footer = f"{result.footer}; {note}" if result.footer else note
        return Table(result.headers, result.rows, result.data, result.title, footer, result.numbers)
    return result


def error_json(error: KshellError) -> dict[str, Any]:
    return {"error": {"target": error.target, "kind": error.kind, "message": error.message}}
