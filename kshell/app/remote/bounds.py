"""How much one mail's reply may hold: a byte budget shared by its commands, and a
collector that stops keeping text past its command's share while the command runs.

A watch at ``--interval 0`` writes thousands of lines a second: the bound has to hold in
memory as the lines come, not only when the reply is put together. So the collector keeps
whole lines until its share is used, then only counts what it drops, and the reply says
"... truncated (N more lines)".
"""

from __future__ import annotations

import io

from kshell.app.remote.reply import LINE_PREFIX
from kshell.events import Row
from kshell.ui.output import Collector

# what a reply line costs beyond its text: the quoting prefix and the line break
LINE_COST = len(LINE_PREFIX.encode()) + 1
# kept free in every share for the line that says what was dropped
NOTE_ROOM = 64
# the reply's own words around the transcripts (its first line, blank lines between)
HEAD_ROOM = 512


class CappedText(io.TextIOBase):
    """A text sink that keeps whole lines up to ``limit`` bytes (as the reply quotes
    them) and from then on only counts the lines it is given."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = max(0, limit)
        self.used = 0  # bytes kept, as quoted in the reply
        self.dropped = 0  # lines not kept
        self.full = False
        self._kept: list[str] = []
        self._partial = ""  # the start of a line not ended yet
        self._open = False  # (once full) the last dropped text ended inside a line

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if self.full:
            self._count_dropped(text)
            return len(text)
        self._partial += text
        while "\n" in self._partial and not self.full:
            line, _, self._partial = self._partial.partition("\n")
            self._keep(line)
        if self.full:
            rest, self._partial = self._partial, ""
            self._open = False
            self._count_dropped(rest)
        elif len(self._partial) > self.limit:  # one endless line: it cannot fit anyway
            rest, self._partial = self._partial, ""
            self.full = True
            self._count_dropped(rest)
        return len(text)

    def _keep(self, line: str) -> None:
        cost = len(line.encode("utf-8", "replace")) + LINE_COST
        if self.used + cost > self.limit:
            self.full = True
            self.dropped += 1
            return
        self._kept.append(line)
        self.used += cost

    def _count_dropped(self, text: str) -> None:
        """Count the lines that ``text`` starts (a continued line is not a new one)."""
        if not text:
            return
        ends_open = not text.endswith("\n")
        self.dropped += text.count("\n") + (1 if ends_open else 0) - (1 if self._open else 0)
        self._open = ends_open

    def count_row(self) -> None:
        """One row dropped without being written (the sink is full)."""
        self.dropped += 1
        self._open = False

    def getvalue(self) -> str:
        kept = "\n".join(self._kept) + ("\n" if self._kept else "")
        if self._partial and not self.full:
            kept += self._partial  # the last line, written without its line break
        return kept


class BoundedCollector(Collector):
    """A mail command's transcript, at most ``limit`` bytes of it kept while it runs."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.sink = CappedText(limit - NOTE_ROOM)
        self.buffer = self.sink  # type: ignore[assignment]  # a text stream, as StringIO is
        self.out = self.err = self.sink

    def emit_row(self, row: Row) -> None:
        if self.sink.full and not self._rows:
            self.sink.count_row()  # a full share: a row is only counted, not even rendered
            return
        super().emit_row(row)

    @property
    def kept_bytes(self) -> int:
        return self.sink.used

    @property
    def dropped_lines(self) -> int:
        return self.sink.dropped

    def text(self) -> str:
        self._write_rows()
        kept = self.sink.getvalue()
        if self.sink.dropped:
            if kept and not kept.endswith("\n"):
                kept += "\n"
            kept += f"... truncated ({self.sink.dropped} more lines)\n"
        return kept

    def reply_bytes(self) -> int:
        """What this transcript costs in the reply, the truncation line included."""
        return sum(len(line.encode("utf-8", "replace")) + LINE_COST for line in self.lines())

    def lines(self) -> list[str]:
        return self.text().rstrip().splitlines()


class ReplyBudget:
    """The bytes a mail's transcripts may take: each command gets an equal share of what
    is left, so one command cannot starve those after it, and what one leaves unused
    goes to the rest."""

    def __init__(self, max_bytes: int, commands: list[str]) -> None:
        overhead = HEAD_ROOM + sum(len(c.encode("utf-8", "replace")) + 8 for c in commands)
        self.left = max(0, max_bytes - overhead)

    def share(self, commands_left: int) -> int:
        return self.left // max(1, commands_left)

    def spend(self, spent: int) -> None:
        self.left = max(0, self.left - spent)


def clip(text: str, max_bytes: int) -> str:
    """The last guard: ``text`` cut at a line break to ``max_bytes`` at most."""
    data = text.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return text
    note = "\n... truncated (reply over max_reply_bytes)\n"
    head = data[: max(0, max_bytes - len(note.encode()))].decode("utf-8", "ignore")
    cut = head.rfind("\n")
    return (head[:cut] if cut > 0 else head) + note
