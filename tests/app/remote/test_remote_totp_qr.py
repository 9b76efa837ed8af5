"""``remote totp add`` draws the otpauth URI as a QR code a phone can scan; --json carries
the URI alone. The drawing is read back as a camera would (zxing-cpp), not compared with
our own idea of it."""

from __future__ import annotations

from pathlib import Path

import pyotp
from helpers.shell import json_lines, run_shell

BLOCKS = {" ": (0, 0), "▀": (1, 0), "▄": (0, 1), "█": (1, 1)}  # (top, bottom) drawn light


def _drawing(stdout: str) -> list[str]:
    lines = [line for line in stdout.splitlines() if line and set(line) <= set(BLOCKS)]
    assert lines and len({len(line) for line in lines}) == 1, stdout
    return lines


def _scan(lines: list[str], scale: int = 4) -> list[str]:
    """What a camera reads from the terminal: light cells white, the rest black."""
    import zxingcpp

    rows: list[list[int]] = []
    for line in lines:
        top = [255 if BLOCKS[ch][0] else 0 for ch in line]
        bottom = [255 if BLOCKS[ch][1] else 0 for ch in line]
        rows += [top, bottom]
    quiet = [[255] * len(rows[0])] * 4  # the terminal around it, as a screen shows it
    rows = quiet + rows + quiet
    pixels = bytearray()
    for row in rows:
        wide = bytes(value for value in row for _ in range(scale))
        pixels += wide * scale
    image = memoryview(bytes(pixels)).cast("B", (len(rows) * scale, len(rows[0]) * scale))
    return [code.text for code in zxingcpp.read_barcodes(image)]


def test_totp_add_draws_a_qr_code_that_scans_to_the_uri(home: Path) -> None:
    result = run_shell(home, "-c", "remote totp add reader@home.test")
    assert result.returncode == 0, result.stderr
    uri = next(line for line in result.stdout.splitlines() if line.startswith("otpauth://"))
    assert _scan(_drawing(result.stdout)) == [uri]
    parsed = pyotp.parse_uri(uri)
    assert parsed.name == "reader@home.test" and parsed.issuer == "kshell"
    assert result.stdout.index("█") < result.stdout.index("otpauth://")  # the code first


def test_totp_add_in_json_carries_the_uri_and_no_drawing(home: Path) -> None:
    result = run_shell(home, "--json", "-c", "remote totp add reader@home.test")
    assert result.returncode == 0, result.stderr
    [line] = json_lines(result.stdout)
    assert line["uri"].startswith("otpauth://totp/") and line["address"] == "reader@home.test"
    assert not set(result.stdout) & set("▀▄█")
