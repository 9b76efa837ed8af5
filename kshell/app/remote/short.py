"""Short replies, for a phone: one line per command, the result in the fewest words.

An SMS gateway such as Google Voice turns a reply mail into text messages of 160
characters each, so a short reply is the results alone ("Kettle: off", "Dryer 1.2 W"):
no head line, no quoted commands, no signature, the whole of it under ``SMS_LIMIT``
characters where the commands allow. The words come from the results the commands
returned (their JSON form), never from parsing the text a terminal would show.

A reply line must not read as an order when it comes back: every word is cleaned of
control characters, and a line that would start with the marker (a plug may call itself
"!off all") is quoted as the full transcript quotes it.
"""

from __future__ import annotations

from email.message import Message
from email.utils import getaddresses
from fnmatch import fnmatchcase
from typing import Any

from kshell.app.remote.reply import LINE_PREFIX
from kshell.app.remote.settings import RemoteSettings
from kshell.errors import KshellError
from kshell.events import Row
from kshell.results import Chart, Failure, Record, Result, Table, Text
from kshell.text import clean
from kshell.ui.output import Collector, Output

SMS_LIMIT = 160  # one text message
KEEP_RESULTS = 20  # results a short line is made of, at most (the transcript keeps its own)
LINE_FLOOR = 30  # a line cut to share the limit keeps at least this much
WORD_LIMIT = 60  # one value (a name, a message) in a short line


# what the owner is told when a code is refused: why, and what to do; never the code
# expected, nor anything of the secret
CODE_NOTICES = {
    "used": "kshell: code already used: wait for the next one. Nothing was run.",
    "expired": "kshell: code expired: send a fresh one. Nothing was run.",
    "wrong": "kshell: wrong code: check the authenticator for this address. Nothing was run.",
    "locked": "kshell: codes are locked after wrong ones; the operator can lift it "
    "(remote unlock). Nothing was run.",
}


def reply_address(msg: Message, sender: str) -> str:
    """Where a reply to ``sender`` goes: its From: address as written there, when that is
    ``sender`` but for case, else ``sender`` itself. Senders are compared lower-cased, but a
    local part is the receiving domain's to read: Google Voice names the conversation in it
    (``<number>.<sender>.<hash>``), so its case is given back as it came."""
    written = from_written(msg)
    return written if written is not None and written.lower() == sender else sender


def reply_style(settings: RemoteSettings, sender: str) -> str:
    """How the reply to ``sender`` reads: short for an SMS gateway's address, else the
    configured ``reply_style``."""
    bare = sender.lower()
    if any(fnmatchcase(bare, glob) for glob in settings.sms_senders):
        return "short"
    return settings.reply_style


class RecordsResults(Output):
    """Mixed into a mail's collector (before it: ``class X(RecordsResults, Collector)``):
    also keeps what a short line is made of, the first results and a stream's row count
    and last row (a watch may send thousands), whatever else the collector does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.results: list[Result] = []
        self.rows = 0
        self.last_row: Row | None = None

    def emit(self, result: Result) -> None:
        if not isinstance(result, Failure):  # error() keeps a failure, once
            self._keep(result)
        super().emit(result)

    def error(self, error: KshellError) -> None:
        self._keep(Failure(error))
        super().error(error)

    def emit_row(self, row: Row) -> None:
        self.rows += 1
        self.last_row = row
        super().emit_row(row)

    def _keep(self, result: Result) -> None:
        if len(self.results) < KEEP_RESULTS:
            self.results.append(result)

    def summary(self, ok: bool) -> str:
        """The command's result in the fewest words, on one line."""
        results = self.results
        if self.last_row is not None:  # a stream: its last reading says it, not its summary
            results = [result for result in results if not isinstance(result, Table)]
        words = [_words(result) for result in results]
        if self.last_row is not None:
            words.append(_row_words(self.last_row, self.rows))
        text = "; ".join(word for word in words if word)
        return text or ("ok" if ok else "failed")


class ResultRecorder(RecordsResults, Collector):
    """The mail's collector: the transcript's text, and what a short line is made of."""


def short_reply(lines: list[str], marker: str) -> str:
    """The short reply's body: the lines, cut to share ``SMS_LIMIT`` when together they
    are longer, none of them an order."""
    safe = [_unordered(" ".join(clean(line, 2000).split()), marker) for line in lines]
    if len("\n".join(safe)) > SMS_LIMIT and safe:
        share = max(LINE_FLOOR, (SMS_LIMIT - (len(safe) - 1)) // len(safe))
        safe = [_cut(line, share) for line in safe]
    return "\n".join(safe) + "\n"


def short_notice(text: str, marker: str) -> str:
    """One short line of our own (a refusal), cut to a text message."""
    return _unordered(_cut(" ".join(clean(text, 2000).split()), SMS_LIMIT), marker) + "\n"


def from_written(msg: Message) -> str | None:
    """The one address of From:, as written (stripped), or None."""
    headers = msg.get_all("From") or []
    pairs = [addr for _, addr in getaddresses([str(h) for h in headers]) if addr]
    return pairs[0].strip() if len(headers) == 1 and len(pairs) == 1 else None


def _unordered(line: str, marker: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith((marker, ">")) or not stripped:
        return LINE_PREFIX + stripped
    return line


def _cut(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _words(result: Result) -> str:
    if isinstance(result, Failure):
        message = _word(result.error.message, 100)
        return f"{_word(result.error.target)}: {message}" if result.error.target else message
    if isinstance(result, Text):
        return _data_words(result.data) or _first_line(result.text)
    if isinstance(result, Table):
        return _table_words(result)
    if isinstance(result, Record):
        pairs = [f"{_word(k)} {_word(v)}" for k, v in list(result.data.items())[:3]]
        return f"{_word(result.title)}: {', '.join(pairs)}"
    if isinstance(result, Chart):
        return f"{_word(result.title)}: {_number(sum(result.values))} {_word(result.unit)}"
    return ""


def _data_words(data: dict[str, Any] | None) -> str:
    """Words from a result's JSON: a plug's state, its status light or its power."""
    if not isinstance(data, dict):
        return ""
    target = data.get("target") or data.get("alias")
    if not isinstance(target, str) or not target:
        return ""
    name = _word(target)
    power = data.get("power_w")
    if isinstance(power, (int, float)) and not isinstance(power, bool):
        return f"{name} {_number(power)} W"
    for key, label in (("state", ""), ("led", "led ")):
        value = data.get(key)
        if isinstance(value, str) and value:
            return f"{name}: {label}{_word(value)}"
    return ""


def _table_words(table: Table) -> str:
    """A plug list as ``name: state`` pairs; any other table by its size."""
    headers = [h.lower() for h in table.headers]
    if "alias" in headers and "state" in headers:
        name, state = headers.index("alias"), headers.index("state")
        pairs = [
            f"{_word(row[name])}: {_word(row[state]) or '?'}"
            for row in table.rows[:KEEP_RESULTS]
            if len(row) > max(name, state)
        ]
        return ", ".join(pairs) or "no plugs"
    title = _word(table.title) if table.title else "rows"
    return f"{title}: {len(table.rows)}"


def _row_words(row: Row, count: int) -> str:
    try:
        data = row.json()
    except Exception:  # noqa: BLE001 - a row that cannot say its JSON still has its line
        data = None
    words = _data_words(data) or _first_line(row.line())
    return f"{words} ({count} readings)" if count > 1 else words


def _first_line(text: str) -> str:
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    return _word(line, 100)


def _word(value: Any, limit: int = WORD_LIMIT) -> str:
    return " ".join(clean("" if value is None else value, limit).split())


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"
