"""One rule for showing untrusted text: what a plug, a mail or a file says, made safe to show.

``clean()`` escapes every C0 and C1 control (LF, CR and TAB included), DEL, U+2028/2029 and
every format character (Unicode category Cf: bidi controls, zero-width characters, the soft
hyphen, word joiners, tags, the BOM), and bounds the length, wherever text is shown: a table
cell, a record value, a title, an error, each line of a Text, the mail transcript, a
completion's meta, a metric's label. It lives here, below everything that shows text, so that the resolver, the
completer or the metrics need not import the output layer to use it; ``output`` renders with it.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Controls and everything that breaks a line somewhere (str.splitlines, a terminal, a mail
# client, JavaScript), plus the format characters (Cf): bidi controls reorder what a line seems
# to say, and the invisible ones make "Kitchen\u200b" look exactly like "Kitchen".
# JSON writers escape C0 themselves and leave the rest raw inside strings. Lone surrogates
# (a plug's \ud800, read by the stdlib parser) cannot even be encoded for a terminal.
# FORMAT is Cf as of Unicode 15.1, written out: deriving it from unicodedata at import would
# walk every code point on each start (tests/test_names_capture.py checks it against the
# tables); a range's unassigned neighbours (U+2065) are escaped with it.
FORMAT = (
    r"\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    r"\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
    r"\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    r"\U000e0001\U000e0020-\U000e007f"
)
BEYOND_C0 = (
    r"\x7f-\x9f\u2028\u2029"  # DEL, C1 (NEL among them), line and paragraph separators
    + FORMAT  # bidi marks and overrides, zero-width characters, soft hyphen, tags, BOM
    + r"\ud800-\udfff"  # lone surrogates
)
_CONTROL = re.compile(rf"[\x00-\x1f{BEYOND_C0}]")
MAX_CELL = 200


def clean(value: Any, limit: int = MAX_CELL) -> str:
    """A value as one line of text, safe anywhere: controls and line breaks escaped
    (``\\x0a``, ``\\u2028``), bounded to ``limit`` characters."""
    text = value if isinstance(value, str) else _plain(value)
    if _CONTROL.search(text):
        text = _CONTROL.sub(_escape, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_lines(text: str, limit: int = 2000) -> str:
    """Text whose own "\\n" separate lines (a command's message, a footer): each line cleaned."""
    return "\n".join(clean(line, limit) for line in text.split("\n"))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 256:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))[:MAX_CELL]
    return str(value)


# --- JSON lines: the same characters escaped, so a line is one object to every reader ---

_JSON_RAW = re.compile(rf"[{BEYOND_C0}]")  # JSON writers escape C0 themselves


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a tag character: JSON spells it as a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_safe(text: str) -> str:
    """JSON text with nothing that breaks a line raw. Both writers leave U+2028/2029, NEL and
    the other C1 controls raw; they only ever occur inside strings, so their \\u escapes
    keep the JSON what it was."""
    if text.isascii():  # what every sample line is: nothing to look for
        return text
    return _JSON_RAW.sub(_json_escape, text) if _JSON_RAW.search(text) else text


# one encoder made once: json.dumps with options builds a new one for every line
_STDLIB_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


def _stdlib_json(obj: Any) -> str:
    return _STDLIB_ENCODER.encode(obj)


try:  # the speedups extra: a stream of samples spends much of its time here
    import orjson as _orjson

    def json_line(obj: Any) -> str:
        try:
            text = _orjson.dumps(obj, default=str, option=_orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # what orjson refuses (huge ints...), json may still write
            text = _stdlib_json(obj)
        return json_safe(text)

except ImportError:

    def json_line(obj: Any) -> str:
        return json_safe(_stdlib_json(obj))
