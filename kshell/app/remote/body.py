"""From a mail to its orders: the text of the body, and the command lines in it.

The text is the first text/plain part that is not an attachment (nor inside an attached
or forwarded mail); when a mail has only HTML, the HTML as text. Command lines start with the marker (``!`` by default) in the
first column; quoted lines (``>``) and everything after a ``-- `` signature line or the
start of an unmarked quote (``-----Original Message-----``, an Outlook ``____`` rule, a
``From:`` line, ``On ... wrote:``, a forward) or Google Voice's footer under a forwarded
text (``YOUR ACCOUNT ... HELP CENTER``, ``To respond to this text message...``) are
ignored, and so is any other line (SMS gateways append text). A line ends at CR or LF only. ``!auth CODE`` is a TOTP
code, not a command; a mail may hold one such line at most.

A part whose charset is unknown, or names a codec that cannot decode arbitrary bytes
(``idna``, ``punycode``, ``undefined``...), makes the whole mail ``Unreadable``: an error for
that mail, never for the listener.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser

from kshell.errors import KshellError

MAX_PARTS = 200  # a message of thousands of MIME parts is junk, not an order
MAX_LINE = 1000  # longer "command lines" are not commands anyone typed on a phone
_LINE_END = re.compile(r"\r\n|\r|\n")
# Where clients that top-post put the original below the sender's own text, unmarked: an
# order quoted there is a stranger's (reply-all to a mail that had kshell in Cc)
_QUOTED_BELOW = re.compile(
    r"-{2,}\s*original message\s*-{2,}|_{10,}\s*$|-{3,}\s*forwarded message\s*-{3,}"
    r"|begin forwarded message:|on\s.*\swrote:\s*$",
    re.IGNORECASE,
)
# a header block quoted below the sender's text; at the very top it is a gateway's (some
# SMS-to-mail gateways begin the body with "From: +1555...")
_HEADER_BELOW = re.compile(r"from:\s", re.IGNORECASE)
# Google Voice's footer under a forwarded text (its links, then how to answer): the text
# the owner sent ends above it, and nothing below it is theirs
_GATEWAY_FOOTER = re.compile(
    r"YOUR ACCOUNT\b.*\bHELP CENTER\b"
    r"|(?i:to respond to this text message, reply to this email)"
)
_OTHER_BREAK = re.compile("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# UTF-7 spells the marker "+ACE-": a line no person or filter reads as an order would be one
HIDING_CHARSETS = frozenset({"utf_7"})


class Unreadable(KshellError):
    """The mail cannot be read safely: journaled as unreadable, moved, never parsed again."""

    kind = "unreadable"


@dataclass
class Orders:
    commands: list[str] = field(default_factory=list)
    auth_codes: list[str] = field(default_factory=list)
    auth_lines: int = 0  # every ``auth`` line, well formed or not: more than one runs nothing
    problems: list[str] = field(default_factory=list)


def body_text(msg: Message, limit: int = 1_000_000) -> str:
    """The text a person wrote: plain text if there is any, else HTML turned into text.

    At most ``limit`` characters of it; raises ``Unreadable`` for a charset it cannot decode.
    """
    plain = html = None
    for count, part in enumerate(_own_parts(msg)):
        if count > MAX_PARTS:
            break
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = _decode(part, limit)
        elif ctype == "text/html" and html is None:
            html = _decode(part, limit)
    if plain is not None:
        return plain
    return html_to_text(html) if html is not None else ""


def _own_parts(msg: Message) -> list[Message]:
    """The leaf parts the sender wrote, in order: never an attachment, and never inside an
    attached or forwarded mail (message/*), whose text is someone else's."""
    found: list[Message] = []
    stack = [msg]
    while stack and len(found) <= MAX_PARTS:
        part = stack.pop()
        if part.get_content_disposition() == "attachment":
            continue
        if part is not msg and part.get_content_maintype() == "message":
            continue
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            stack += [sub for sub in reversed(payload) if isinstance(sub, Message)]
        elif not part.is_multipart():
            found.append(part)
    return found


def _decode(part: Message, limit: int) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        if codecs.lookup(charset).name.replace("-", "_") in HIDING_CHARSETS:
            raise Unreadable(f"a text part is in {charset[:40]!r}, which hides what it says")
        # bytes.decode refuses the non-text codecs (zlib, base64...) with a LookupError
        return payload[:limit].decode(charset, errors="replace")[:limit]
    except (LookupError, UnicodeError, ValueError, TypeError):
        raise Unreadable(f"a text part has a charset that cannot be read ({charset[:40]!r})")


def parse_orders(text: str, marker: str = "!") -> Orders:
    """The command lines (marker removed) and ``auth`` codes of a body, in order."""
    orders = Orders()
    # A mail line ends at CR or LF (CRLF, LF or CR alike), never at what splitlines() also
    # breaks at (VT, FF, FS/GS/RS, NEL, U+2028/2029): a client shows "> quoted\u2028!off X"
    # as one quoted line, and so must we.
    written = False  # a line of the sender's own above
    for line in _LINE_END.split(text):
        if line in ("-- ", "--") or _QUOTED_BELOW.match(line):  # a signature, or the
            break  # start of what a reply or a forward quotes without "> " (not the sender's)
        if _GATEWAY_FOOTER.match(line.strip()):
            break  # an SMS gateway's footer: the end of the text, not a problem
        if written and _HEADER_BELOW.match(line):
            break
        written = written or bool(line.strip())
        if line.startswith(">") or not line.startswith(marker):
            continue
        command = line[len(marker) :].strip()
        if not command:
            continue
        if _OTHER_BREAK.search(command):
            orders.problems.append("a command line holds a line-breaking character")
            continue
        if len(command) > MAX_LINE:
            orders.problems.append(f"a command line is longer than {MAX_LINE} characters")
            continue
        words = command.split()
        if words[0].lower() == "auth":
            orders.auth_lines += 1
            if len(words) == 2:
                orders.auth_codes.append(words[1])
            continue
        orders.commands.append(command)
    return orders


class _TextOfHtml(HTMLParser):
    """Visible text of HTML, with line breaks where block elements end."""

    BREAKS = frozenset(
        {
            "br",
            "p",
            "div",
            "li",
            "tr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "pre",
            "blockquote",
            "table",
        }
    )
    HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.quote = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        if tag == "blockquote":
            self.quote += 1
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1
        if tag == "blockquote" and self.quote:
            self.quote -= 1
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.quote:  # quoted HTML is as ignored as "> " lines in plain text
            data = "\n".join("> " + line for line in data.splitlines())
        self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOfHtml()
    with contextlib.suppress(Exception):  # junk HTML gives what was read so far
        parser.feed(html)
        parser.close()
    text = "".join(parser.parts).replace("\xa0", " ")
    return "\n".join(line.strip() for line in re.split(r"\r\n|\r|\n", text))
