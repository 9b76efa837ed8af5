"""The facts about the line being run that the gate reads: who asked, with what permission,
whether anyone can answer a question, and (for a mail) what the operator allows mail to do.

A Session carries one Invocation; the mail service runs each mail's lines on the same
session with its own (mail, the sender's permission, nobody to ask, the [remote] rules).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

Source = Literal["local", "mail"]
Ask = Callable[[str], Awaitable[bool]]


class MailRules(NamedTuple):  # immutable; cheaper than a dataclass to define at start-up
    """What the operator allows a mail to run beyond each command's own declaration."""

    allow_raw: bool = False
    allow_firmware: bool = False
    sweep_networks: tuple[str, ...] = ()  # CIDRs a mail may sweep (empty: no sweep by mail)
    # a stream run by mail (a watch, a ping): seconds between rounds at least, samples at most
    min_interval: float = 1.0
    max_samples: int = 600


@dataclass(frozen=True)
class Invocation:
    """The facts about one line: its source, its permission, who answers its questions."""

    source: Source = "local"
    permission: str = "admin"  # what this source may do: read | control | admin
    ask: Ask | None = None  # who can answer a question; None: nobody (refuse without --yes)
    assume_yes: bool = False  # `--yes` on the command line: every question answered yes
    mail: MailRules | None = None  # set exactly when the line came from a mail
    # typed by a person (the prompt, -c): a unique prefix may name a plug; never in a script
    # file, a replayed line or a mail, where a later rename must not change what a line means
    typed: bool = False
    # the command being run changes plugs (its declaration): each target is checked first
    changes: bool = False
    line_started: float = 0.0  # time.monotonic() when the line began: a read since is reused

    @property
    def by_mail(self) -> bool:
        return self.source == "mail"

    @property
    def may_use_files(self) -> bool:
        """Mail never reads or writes a file (replay FILE, record, --out)."""
        return not self.by_mail

    @classmethod
    def for_mail(cls, permission: str, rules: MailRules) -> Invocation:
        return cls(source="mail", permission=permission, ask=None, mail=rules)
