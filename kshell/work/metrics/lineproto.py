"""InfluxDB line protocol for the watch's samples: measurement ``kasa``.

Tags ``alias`` (a strip outlet's own alias), ``host``, ``outlet`` (sorted by key, as InfluxDB
prefers; ``outlet`` only on a strip's outlet: an empty tag is not allowed); fields ``power_w``, ``voltage_v``,
``current_a``, ``total_kwh`` (floats, where the plug gave them) and ``implausible`` (an
integer, 0 or 1, so that it sums). Timestamps in milliseconds.

Escaping: a tag value escapes commas, equals signs and spaces with a backslash. A literal
backslash has no escape in InfluxDB 1.x: one before a comma, an equals sign, a space, another
backslash or the end of the value is misread or refused, so there it is written as the
visible ``\\x5c``, the way kshell shows any character that cannot be written raw (elsewhere
it stands for itself); line breaks and controls are already escaped by ``clean``.
"""

from __future__ import annotations

import re
from typing import Any

from kshell.text import clean

MEASUREMENT = "kasa"
TAG_LIMIT = 120
_TAG_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})


_AMBIGUOUS_BACKSLASH = re.compile(r"\\(?=[,= \\]|$)")


def tag(value: str) -> str:
    text = _AMBIGUOUS_BACKSLASH.sub(r"\\x5c", clean(value, TAG_LIMIT))
    return text.translate(_TAG_ESCAPES)


def _float(value: float) -> str:
    return repr(float(value))


def sample_line(sample: Any) -> str | None:
    """One watch ``Sample`` as a line; None for a failed attempt (no reading to write)."""
    reading = sample.reading
    if reading is None:
        return None
    alias = getattr(sample, "name", "") or sample.label  # an outlet's own alias on a strip
    tags = f"{MEASUREMENT},alias={tag(alias)},host={tag(sample.address)}"
    if sample.outlet:
        tags += f",outlet={int(sample.outlet)}"
    fields = [
        f"{name}={_float(value)}"
        for name, value in (
            ("power_w", reading.power_w),
            ("voltage_v", reading.voltage_v),
            ("current_a", reading.current_a),
            ("total_kwh", reading.total_kwh),
        )
        if value is not None
    ]
    fields.append(f"implausible={1 if sample.flags else 0}i")
    return f"{tags} {','.join(fields)} {round(sample.t * 1000)}"
