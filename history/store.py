"""Persistent, numbered history: every line typed at the prompt, in the state folder.

The file keeps prompt_toolkit's FileHistory layout (a ``# time`` line, then the entry
with a ``+`` before each of its lines), so it stays readable and append-only: two shells
writing to it at once only interleave whole entries. Numbers count from 1 over the whole
file, so ``replay 12`` means the same line in every session until the file is trimmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kshell.errors import UsageError
from kshell.home import open_append, write_private

if TYPE_CHECKING:
    from kshell.core.session import Session


@dataclass(frozen=True)
class Entry:
    number: int
    when: str  # "2026-11-25 14:25:01", as written
    line: str


class HistoryStore:
    def __init__(self, path: Path, limit: int = 10000) -> None:
        self.path = path
        self.limit = max(1, limit)
        self._entries: list[Entry] | None = None

    def entries(self) -> list[Entry]:
        if self._entries is None:
            self._entries = self._read()
            if len(self._entries) > self.limit + self.limit // 10:
                self._trim()
        return self._entries

    def append(self, line: str) -> Entry:
        entries = self.entries()
        when = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        entry = Entry(len(entries) + 1, when, line)
        block = f"\n# {when}\n" + "".join(f"+{part}\n" for part in line.split("\n"))
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(open_append(self.path), "a", encoding="utf-8") as handle:
                handle.write(block)
        except OSError:
            pass  # a read-only home keeps the session's history in memory only
        entries.append(entry)
        return entry

    def get(self, number: int) -> Entry:
        entries = self.entries()
        if not 1 <= number <= len(entries):
            raise UsageError(_range_message(number, len(entries)))
        return entries[number - 1]

    def span(self, first: int, last: int) -> list[Entry]:
        if first > last:
            raise UsageError(f"history range {first}-{last} runs backwards")
        self.get(first)
        self.get(last)
        return self.entries()[first - 1 : last]

    def _read(self) -> list[Entry]:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        out: list[Entry] = []
        when = ""
        parts: list[str] = []
        for raw in text.split("\n"):
            if raw.startswith("+"):
                parts.append(raw[1:])
                continue
            if parts:
                out.append(Entry(len(out) + 1, when, "\n".join(parts)))
                parts = []
            if raw.startswith("# "):
                when = raw[2:21]
        if parts:
            out.append(Entry(len(out) + 1, when, "\n".join(parts)))
        return out

    def _trim(self) -> None:
        """Keep the newest ``limit`` entries (numbers start again from 1, as in bash)."""
        assert self._entries is not None
        kept = self._entries[-self.limit :]
        self._entries = [Entry(i, e.when, e.line) for i, e in enumerate(kept, start=1)]
        body = "".join(
            f"\n# {e.when}\n" + "".join(f"+{p}\n" for p in e.line.split("\n")) for e in kept
        )
        try:
            write_private(self.path, body, sync=False)
        except OSError:
            pass


def _range_message(number: int, size: int) -> str:
    if size == 0:
        return f"no history entry {number}: the history is empty"
    return f"no history entry {number}: the history has entries 1-{size}"


def store_for(session: Session) -> HistoryStore:
    """The session's store (one per Session, so the prompt and the commands share it)."""
    if not isinstance(session.history, HistoryStore):
        from kshell.store.config import integer

        limit = integer(session.config, "shell", "history_size")
        session.history = HistoryStore(session.paths.history, limit)
    return session.history
