"""A URI drawn as a QR code in a terminal, for a phone's camera (segno draws it).

Half-block characters put two rows of modules in one line, so the code fits a terminal;
light modules are drawn (a terminal's text is light on dark), with segno's recommended
quiet zone around them, which scanners need.
"""

from __future__ import annotations

import io


def draw(uri: str) -> str:
    """``uri`` as lines of half blocks (medium error correction: a screen photo is good)."""
    import segno  # only a command that shows a code pays for it

    buffer = io.StringIO()
    segno.make(uri, error="m").terminal(out=buffer, compact=True)
    return buffer.getvalue().rstrip("\n")
