"""What long work yields: typed events a view renders and the runner answers.

A long-running command returns a ``Stream``: an async iterator of events. Results (a Text,
a Failure, a summary Table, or a ``Row`` such as a meter sample) are what it found;
``Progress`` says how far it is; a ``Confirm`` is a question. The stream never draws and
never asks by itself: the view of the surface it runs on renders it (kshell.ui.views), and
the runner answers questions (a person, ``--yes``, or a refusal where nobody can answer),
writing the answer into the event before asking the stream for the next one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from kshell.results import Result

ViewKind = Literal["lines", "meters", "progress"]


class Row(ABC):
    """A result that renders itself cheaply: one line for a person, one object for a
    machine (a meter sample: thousands a second, so no Text is built for each)."""

    @abstractmethod
    def line(self) -> str: ...

    @abstractmethod
    def json(self) -> dict[str, Any]: ...

    def json_text(self) -> str | None:
        """``json()`` as the standard library writes it (compact, ``ensure_ascii=False``),
        when the row can write it faster than a generic encoder; None: encode ``json()``."""
        return None


@dataclass
class Progress:
    """How far one step is (a download ratio, a reboot countdown): a bar on a terminal,
    every tenth of the way elsewhere (``milestone``), nothing for a countdown."""

    text: str
    data: dict[str, Any]
    milestone: bool = False  # worth a line of its own where no bar can be drawn


@dataclass
class Confirm:
    """A question: go ahead with ``touches``? The runner sets ``approved`` before the
    stream goes on; a stream reads None (nobody answered) as no."""

    question: str
    touches: list[str] = field(default_factory=list)
    approved: bool | None = None


Event = Result | Row | Progress | Confirm


class Stream(ABC):
    """A long-running command's answer; ``view`` names how a terminal draws it."""

    view: ClassVar[ViewKind] = "lines"
    failed: bool = False  # some part failed: the command's exit status
    _running: AsyncGenerator[Event, None] | None = None  # the events being read

    def __aiter__(self) -> AsyncIterator[Event]:
        self._running = self.events()
        return self._running

    @abstractmethod
    def events(self) -> AsyncGenerator[Event, None]:
        """The events, once; leaving early (Ctrl-C, a closed pipe) must clean up."""

    async def aclose(self) -> None:
        """Stop whatever still runs (a stream left early): its steps' ``finally`` run now."""
        if self._running is not None:
            await self._running.aclose()
