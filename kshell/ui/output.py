"""The only place that prints: results as tables for people, JSON lines for machines.

Everything a plug or a mail says may hold control or line-breaking characters. One rule,
``clean()`` (in ``kshell.text``, below everything that shows text), escapes them all (every C0 and C1 control, LF, CR and TAB included, DEL,
U+2028/2029 and the bidi overrides) wherever text is shown: a table cell, a record value,
a title, an error, each line of a Text, the mail transcript and the report. The only line
breaks in the output are the ones this module writes (a Text's or a footer's own "\n").
JSON escapes the same characters (``json_line``), so a reader that splits on any line
break (Python's ``splitlines()``, a JavaScript parser) sees one object per line. Colour
only on a terminal without NO_COLOR, marked by the terminal view's ``Theme`` (this module
writes no escape sequence). A closed pipe (``| head``) ends the run quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from typing import Any, Protocol, TextIO

from kshell.errors import KshellError
from kshell.events import Row
from kshell.results import Chart, Failure, QrCode, Record, Result, Table, Text, error_json
from kshell.text import MAX_CELL, clean, clean_lines, json_line, json_safe


class OutputClosed(Exception):
    """The reader went away (``kshell -c ... | head``): stop, quietly."""


class Theme(Protocol):
    """How text is marked for a person. The terminal view's theme colours it
    (``kshell.ui.views.terminal``); pipes, ``--json`` and mail keep ``Plain``."""

    def error(self, text: str) -> str: ...

    def strong(self, text: str) -> str: ...


class Plain:
    """No marks: the text as it is."""

    def error(self, text: str) -> str:
        return text

    def strong(self, text: str) -> str:
        return text


def render(result: Result, *, theme: Theme | None = None, width: int | None = None) -> str:
    """A result as text for a person (the prompt, a script, a mail reply); ``width``: the
    terminal's columns, which a table is fitted to (its widest text columns wrapped)."""
    theme = theme or Plain()
    if isinstance(result, QrCode):
        from kshell.ui.qr import draw  # segno, only where a code is drawn

        return draw(result.uri) + "\n" + clean_lines(result.text)
    if isinstance(result, Text):
        return clean_lines(result.text)
    if isinstance(result, Failure):
        return theme.error(f"error: {clean(str(result.error), 500)}")
    if isinstance(result, Record):
        # two aligned columns: done by hand, so a one-shot `info` need not import tabulate
        rows = [(clean(k), _cell(v, 120)) for k, v in result.data.items()]
        width = max((len(k) for k, _ in rows), default=0)
        body = "\n".join(f"{k:<{width}}  {v}".rstrip() for k, v in rows)
        return theme.strong(clean(result.title)) + "\n" + body
    if isinstance(result, Table):
        from tabulate import tabulate

        cells = [[_cell(v) for v in row] for row in result.rows]
        headers = [clean(h) for h in result.headers]
        align = [("right" if i in result.numbers else "left") for i in range(len(headers))]
        body = tabulate(
            cells, headers=headers, tablefmt="simple", disable_numparse=True, colalign=align
        )
        if width is not None and cells and _widest_line(body) > width:
            body = _fitted(cells, headers, width, align) or body
        if not result.rows:
            body = "(none)"
        parts = ([theme.strong(clean(result.title))] if result.title else []) + [body]
        if result.footer:
            parts.append(clean_lines(result.footer))
        return "\n".join(parts)
    if isinstance(result, Chart):
        return render_chart(result)
    return clean(repr(result))


MIN_WRAPPED = 12  # a wrapped column keeps at least this many characters a line


def _widest_line(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def _fitted(cells: list[list[str]], headers: list[str], width: int, align: list[str]) -> str | None:
    """The table within ``width`` columns: the widest columns of words wrapped, widest first,
    never below MIN_WRAPPED; None when even that cannot fit."""
    from tabulate import tabulate

    columns = len(headers)
    widths = [
        max([len(headers[i])] + [len(row[i]) for row in cells if i < len(row)])
        for i in range(columns)
    ]
    # only text wraps: a column of addresses, MACs or figures (no spaces) is kept whole
    words = {i for i in range(columns) if any(i < len(row) and " " in row[i] for row in cells)}
    limits: list[int | None] = [None] * columns
    for _ in range(columns):
        body: str = tabulate(
            cells,
            headers=headers,
            tablefmt="simple",
            disable_numparse=True,
            maxcolwidths=limits,
            colalign=align,
        )
        excess = _widest_line(body) - width
        if excess <= 0:
            return body
        wide = max(
            (i for i in range(columns) if i in words and (limits[i] or widths[i]) > MIN_WRAPPED),
            key=lambda i: limits[i] or widths[i],
            default=None,
        )
        if wide is None:
            return None
        limits[wide] = max(MIN_WRAPPED, (limits[wide] or widths[wide]) - excess)
    return None


def _cell(value: Any, limit: int = MAX_CELL) -> str:
    if isinstance(value, (dict, list)):
        return clean(json.dumps(value, ensure_ascii=False), limit)
    return clean(value, limit)


def render_chart(chart: Chart, width: int = 40) -> str:
    top = max([v for v in chart.values if v > 0], default=0.0)
    rows = []
    for label, value in zip(chart.labels, chart.values):
        bar = "█" * (round(value / top * width) if top else 0)
        rows.append(f"{clean(label):>10}  {value:10.3f} {chart.unit}  {bar}")
    rows.append(f"{'total':>10}  {sum(chart.values):10.3f} {chart.unit}")
    return clean(chart.title) + "\n" + "\n".join(rows)  # labels cleaned above


class Output:
    """Where results go: a terminal or a pipe, as tables or JSON lines."""

    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        as_json: bool = False,
        color: bool | None = None,
        theme: Theme | None = None,
    ) -> None:
        """``theme``: the terminal view's colours, used only when colour is on (a terminal
        without NO_COLOR, unless ``color`` says otherwise); plain text otherwise."""
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.as_json = as_json
        tty = hasattr(self.out, "isatty") and self.out.isatty()
        self.interactive_view = tty and not as_json
        self.color = (tty and "NO_COLOR" not in os.environ) if color is None else color
        self.theme: Theme = theme if theme is not None and self.color else Plain()
        self._pending_flush: set[TextIO] = set()
        self._rows: list[str] = []  # rows of this turn of the event loop, not yet written
        self.closed = False  # the reader went away (a closed pipe)
        self._stopped = False  # OutputClosed was raised once: later writes are dropped
        # FILE:LINE of the script line running: every error it reports is prefixed by it
        self.line_label = ""

    def emit(self, result: Result) -> None:
        if isinstance(result, Failure):
            self.error(result.error)
            return
        if self.as_json:
            self._write(self.out, json_line(result.json()))
            return
        text = render(result, theme=self.theme, width=self.columns())
        if getattr(result, "pageable", False) and self.interactive_view:
            from kshell.ui.pager import page  # a long document, a person at a terminal

            if page(text, self.out):
                return
        self._write(self.out, text)

    def columns(self) -> int | None:
        """The terminal's width, when a person reads this output on one; None for a pipe."""
        if not self.interactive_view:
            return None
        try:
            return max(40, os.get_terminal_size(self.out.fileno()).columns)
        except (OSError, ValueError, AttributeError):
            return None

    def emit_row(self, row: Row) -> None:
        """A stream's row (a meter sample): its JSON object or its line, nothing built between.
        Rows come thousands a second: those of one turn of the event loop go out in one
        write, whatever buffering the stream has (``PYTHONUNBUFFERED`` writes every call)."""
        if self.as_json:
            text = row.json_text()  # a meter sample writes its own, faster than any encoder
            line = json_line(row.json()) if text is None else json_safe(text)
        else:
            line = clean_lines(row.line())
        if self.closed:
            self._stop()
            return
        rows = self._rows
        rows.append(line)
        if len(rows) == 1:
            try:
                asyncio.get_running_loop().call_soon(self._write_rows)
            except RuntimeError:  # no loop (a plain call): at once
                self._write_rows()

    def _write_rows(self) -> None:
        """The rows kept since the last write, in one write (a loop callback, or before any
        other line so the order holds); a closed pipe stops the run at the next write."""
        rows = self._rows
        if not rows:
            return
        text = "\n".join(rows) + "\n"
        rows.clear()
        if self.closed:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except (BrokenPipeError, ValueError):  # ValueError: the stream was closed
            self._reader_gone(self.out)

    def error(self, error: KshellError) -> None:
        if self.line_label:
            error = _located(error, self.line_label)
        if self.as_json:
            self._write(self.err, json_line(error_json(error)))
        else:
            self._write(self.err, self.theme.error(f"error: {clean(str(error), 500)}"))

    def note(self, text: str) -> None:
        """A side remark for a person (never on stdout in JSON mode); never stops a run."""
        with contextlib.suppress(OutputClosed):
            self._write(self.err if self.as_json else self.out, clean_lines(text))

    def _write(self, stream: TextIO, text: str) -> None:
        if self._rows and stream is self.out:
            self._write_rows()  # rows kept for the loop's turn go first
        if not self.closed:
            try:
                stream.write(text + "\n")
            except (BrokenPipeError, ValueError):  # ValueError: the stream was closed
                self._reader_gone(stream)
        if self.closed:
            self._stop()
            return
        self._flush_soon(stream)

    def _reader_gone(self, stream: TextIO) -> None:
        """Point the descriptor at /dev/null, so that the interpreter's last flush of what
        is still buffered is quiet too, and drop what comes next."""
        self.closed = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, stream.fileno())
            os.close(null)

    def _stop(self) -> None:
        """Stop the run once (the runner lets OutputClosed through); then stay quiet."""
        if not self._stopped:
            self._stopped = True
            raise OutputClosed

    def _flush_soon(self, stream: TextIO) -> None:
        """Flush once the event loop has run what is ready: a burst of samples written in one
        turn of the loop costs one write to the pipe, and a lone line still goes out at once."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            try:
                stream.flush()
            except (BrokenPipeError, ValueError):
                self._reader_gone(stream)
                self._stop()
            return
        if stream not in self._pending_flush:
            self._pending_flush.add(stream)
            loop.call_soon(self._flush, stream)

    def _flush(self, stream: TextIO) -> None:
        self._pending_flush.discard(stream)
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            self._reader_gone(stream)  # a loop callback cannot stop the run: the next write does


def _located(error: KshellError, label: str) -> KshellError:
    """The error named by where it happened, as a compiler would; --json keeps its kind."""
    located = KshellError(f"{label}: {error.message}", target=error.target)
    located.kind = error.kind
    return located


class Collector(Output):
    """Renders results as plain text into a list (a mail reply's transcript)."""

    def __init__(self, *, as_json: bool = False) -> None:
        import io

        self.buffer = io.StringIO()
        super().__init__(self.buffer, self.buffer, as_json=as_json, color=False)
        self.interactive_view = False

    def text(self) -> str:
        self._write_rows()
        return self.buffer.getvalue()


# clean and clean_lines are kshell.text's, named here too for the views that render with them
__all__ = [
    "MAX_CELL",
    "Collector",
    "Output",
    "OutputClosed",
    "clean",
    "clean_lines",
    "json_line",
    "json_safe",
    "render",
    "render_chart",
]
