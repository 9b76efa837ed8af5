"""Schedule rules in words: parsing what an owner types, saying what a plug keeps.

``AT`` is ``HH:MM``, ``sunrise[±MIN]`` or ``sunset[±MIN]``; ``DAYS`` is ``daily``, ``once``,
``weekdays``, ``weekends``, a range (``mon-fri``) or a list (``sat,sun``). Days are kept as
the IOT family's ``wday``: seven flags, Sunday first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kshell.errors import UsageError

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
AT_HELP = "HH:MM, sunrise[+-MIN] or sunset[+-MIN]"
DAYS_HELP = "daily, once, weekdays, weekends, mon-fri or a list like sat,sun"
SUN = {1: "sunrise", 2: "sunset"}  # the IOT family's stime_opt; 0 is a clock time
_AT = re.compile(r"^(?:(\d{1,2}):(\d{2})|(sunrise|sunset)(?:([+-])(\d{1,3}))?)$")


@dataclass(frozen=True, slots=True)
class When:
    """A moment of the day: a clock minute, or minutes from sunrise/sunset."""

    option: int  # 0 clock, 1 sunrise, 2 sunset
    minute: int  # since midnight (option 0), else the offset from the sun event

    def words(self) -> str:
        if self.option == 0:
            return f"{self.minute // 60:02d}:{self.minute % 60:02d}"
        sun = SUN.get(self.option, "sun")
        if not self.minute:
            return sun
        return f"{sun}{'+' if self.minute > 0 else '-'}{abs(self.minute)} min"


def when_fields(prefix: str, when: When) -> dict[str, int]:
    """An IOT rule's fields for one moment. On record: a clock time goes in ``smin`` (minutes
    past midnight); a sun time is ``stime_opt`` 1 or 2 with its offset in ``soffset``
    (minutes, may be negative), ``smin`` then unused (``e...`` likewise for an end)."""
    if when.option == 0:
        return {f"{prefix}time_opt": 0, f"{prefix}min": when.minute}
    return {f"{prefix}time_opt": when.option, f"{prefix}min": 0, f"{prefix}offset": when.minute}


def when_of(prefix: str, raw: dict[str, Any]) -> When | None:
    """The moment an IOT rule names (``s`` start or ``e`` end), None if its fields are not."""
    option = raw.get(f"{prefix}time_opt")
    key = f"{prefix}min" if option == 0 else f"{prefix}offset"
    value = raw.get(key, 0)
    if option not in (0, 1, 2) or isinstance(value, bool) or not isinstance(value, int):
        return None
    return When(option, value)


def parse_at(text: str) -> When:
    found = _AT.match(text.strip().lower())
    if not found:
        raise UsageError(f"{text[:20]!r} is not a time: use {AT_HELP}")
    hour, minute, sun, sign, offset = found.groups()
    if sun is None:
        if int(hour) > 23 or int(minute) > 59:
            raise UsageError(f"{text!r} is not a time of day: HH is 00-23, MM 00-59")
        return When(0, int(hour) * 60 + int(minute))
    shift = int(offset or 0) * (-1 if sign == "-" else 1)
    if abs(shift) > 180:
        raise UsageError(f"{sun} offsets go up to 180 minutes either way")
    return When(1 if sun == "sunrise" else 2, shift)


def parse_days(text: str | None) -> tuple[tuple[int, ...], bool]:
    """(wday flags Sunday first, repeats weekly); ``once`` repeats never."""
    word = (text or "daily").strip().lower()
    named = {
        "daily": (1,) * 7,
        "everyday": (1,) * 7,
        "once": (1,) * 7,
        "weekdays": (0, 1, 1, 1, 1, 1, 0),
        "weekends": (1, 0, 0, 0, 0, 0, 1),
    }
    if word in named:
        return named[word], word != "once"
    flags = [0] * 7
    for part in word.split(","):
        ends = part.split("-")
        if len(ends) > 2 or not all(e in DAY_NAMES for e in ends):
            raise UsageError(f"{word[:30]!r} is not a day list: use {DAYS_HELP}")
        first = DAY_NAMES.index(ends[0])
        last = DAY_NAMES.index(ends[-1])
        day = first
        while True:
            flags[day] = 1
            if day == last:
                break
            day = (day + 1) % 7
    return tuple(flags), True


def days_words(wday: tuple[int, ...], repeat: bool) -> str:
    if not repeat:
        return "once"
    picked = [DAY_NAMES[i] for i, on in enumerate(wday) if on]
    if len(picked) == 7:
        return "every day"
    if wday == (0, 1, 1, 1, 1, 1, 0):
        return "weekdays"
    if wday == (1, 0, 0, 0, 0, 0, 1):
        return "weekends"
    return ",".join(picked) if picked else "no day"


@dataclass(frozen=True, slots=True)
class Rule:
    """One schedule rule as the plug keeps it, in shared terms."""

    id: str
    enabled: bool
    on: bool  # the action: switch on (True) or off
    when: When
    wday: tuple[int, ...]
    repeat: bool

    def words(self) -> str:
        return (
            f"{days_words(self.wday, self.repeat)} {self.when.words()} {'on' if self.on else 'off'}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.words(),
            "enabled": self.enabled,
            "action": "on" if self.on else "off",
            "at": self.when.words(),
            "days": days_words(self.wday, self.repeat),
        }


def safe_id(value: Any) -> str | None:
    """A rule id from a plug, if it is one: printable, short."""
    if isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable():
        return value
    return None
