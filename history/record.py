"""Recording the commands that run into a script that ``replay`` and ``shell.py FILE`` run.

The recorder is an ``after_command`` hook: it sees each command once it has run, so a
recorded script holds what actually ran (commands a ``replay`` ran included). A command
that failed is written as a comment, so replaying the script does not stop on it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TextIO

from kshell.core.session import Session
from kshell.errors import UsageError
from kshell.lang.grammar import Line

SKIPPED_VERBS = ("record", "replay", "history")
HEADER = (
    "# kshell session script, recorded {when} with 'record'.\n"
    "# Run it again with: {program} {name}   (or, at the kshell prompt: replay {name})\n"
    "# One line of commands per line; lines starting with # are comments.\n"
)


class Recorder:
    def __init__(self, path: Path, *, append: bool = False) -> None:
        if path.exists() and not append:
            raise UsageError(f"record: {path} exists (add --append, or choose another name)")
        if path.is_dir():
            raise UsageError(f"record: {path} is a folder")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.handle: TextIO = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"record: cannot write {path}: {exc.strerror or exc}") from None
        self.path = path
        self.count = 0
        self.failed = 0
        when = datetime.now().strftime("%Y-%m-%d %H:%M")
        if not append or path.stat().st_size == 0:
            self._write(HEADER.format(when=when, name=path, program=program_name()))
        else:
            self._write(f"# continued {when}\n")

    def __call__(self, session: Session, line: Line, ok: bool) -> None:
        if session.invocation.by_mail or not line.words or line.words[0] in SKIPPED_VERBS:
            return
        if ok:
            self.count += 1
            self._write(line.text + "\n")
        else:
            self.failed += 1
            self._write(f"# failed: {line.text}\n")

    def _write(self, text: str) -> None:
        self.handle.write(text)
        self.handle.flush()  # a crash must not lose what was recorded so far

    def close(self) -> None:
        self.handle.close()


def program_name() -> str:
    """How this kshell was started, as the owner would type it again: ``kshell`` when
    installed, ``python shell.py`` from a checkout, ``python -m kshell`` as a module."""
    import sys

    started = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    if started == "__main__.py":
        return "python -m kshell"
    return "python shell.py" if started.endswith(".py") else "kshell"


def active(session: Session) -> Recorder | None:
    """The recording in force: the recorder among the session's after-command hooks."""
    return next((h for h in session.after_command if isinstance(h, Recorder)), None)


def start(session: Session, path: Path, *, append: bool = False) -> Recorder:
    current = active(session)
    if current is not None:
        raise UsageError(f"record: already recording to {current.path} (record stop first)")
    recorder = Recorder(path, append=append)
    session.after_command.append(recorder)
    return recorder


def stop(session: Session) -> Recorder:
    recorder = active(session)
    if recorder is None:
        raise UsageError("record stop: not recording (record FILE starts)")
    session.after_command.remove(recorder)
    recorder.close()
    return recorder
