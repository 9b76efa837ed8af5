"""The output of kshell run as a service (``--listen``, ``--serve-metrics``): a log.

Every note and error is one line on stderr that starts with its level, ``INFO``,
``WARNING`` or ``ERROR``, with no colour and no control character (``clean`` escapes line
breaks too), so journald, ``docker logs`` or a file take it as it is. A note says its level
by how it starts: ``warning: ...`` and ``error: ...`` (what the shell prints at a prompt
too) are logged as WARNING and ERROR, anything else as INFO. Under systemd (stderr is the
stream ``$JOURNAL_STREAM`` names) each line also starts with its syslog priority, ``<6>``,
``<4>`` or ``<3>``, which journald reads (``SyslogLevelPrefix=``, on by default) and strips,
so ``journalctl -p warning`` finds the warnings.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TextIO

from kshell.errors import KshellError
from kshell.text import clean
from kshell.ui.output import Output, OutputClosed

INFO, WARNING, ERROR = "INFO", "WARNING", "ERROR"
PRIORITY = {INFO: 6, WARNING: 4, ERROR: 3}  # syslog's: info, warning, err
MAX_LINE = 2000  # characters of one event (a mail's subject or a server's answer is cut)


def level_of(text: str) -> tuple[str, str]:
    """The level a note says by its first word, and the note without that word."""
    head = text[:8].lower()
    if head.startswith("warning:"):
        return WARNING, text[8:].lstrip()
    if head.startswith("error:"):
        return ERROR, text[6:].lstrip()
    return INFO, text


def is_journal(stream: TextIO) -> bool:
    """Is ``stream`` the journal's (systemd sets ``JOURNAL_STREAM=DEVICE:INODE`` for it)?"""
    named = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return named == f"{st.st_dev}:{st.st_ino}"


class ServiceLog(Output):
    """An Output whose notes and errors are log lines on stderr (see the module's text)."""

    def __init__(self, err: TextIO | None = None, *, journal: bool | None = None) -> None:
        stream = err or sys.stderr
        super().__init__(stream, stream, color=False)
        self.journal = is_journal(stream) if journal is None else journal

    def note(self, text: str) -> None:
        self.log(*level_of(text))

    def error(self, error: KshellError) -> None:
        self.log(ERROR, str(error))

    def log(self, level: str, text: str) -> None:
        prefix = f"<{PRIORITY[level]}>" if self.journal else ""
        with contextlib.suppress(OutputClosed):  # the log's reader went away: the work goes on
            self._write(self.err, f"{prefix}{level} {clean(text, MAX_LINE)}")
            if not self.closed:
                with contextlib.suppress(BrokenPipeError, ValueError):
                    self.err.flush()  # now: a log line waits for no loop turn
