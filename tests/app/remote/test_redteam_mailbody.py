"""Red team, the body of a mail (issue 9 classes 5 and 6): what counts as a line, and which
text is read.

- A mail line ends at CR or LF. Python's ``splitlines()`` also ends one at VT, FF, FS/GS/RS,
  NEL and U+2028/2029, so ``> quoted\\u2028!off PLUG`` (hostile text a trusted sender
  quotes, shown by a mail client as one quoted line) put ``!off PLUG`` in the first
  column and ran it. Such a character in a command line is now a problem of the mail.
- UTF-7 hides the marker (``+ACE-`` is ``!``): a line no person or filter reads as an
  order ran as one. A part in UTF-7 makes the mail unreadable.

Over the Maildir source with a simulated plug and a real SMTP sink.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.dovecot import ReplySink
from helpers.mail import make_mail
from helpers.maildir import PLUG, Listener, configure, run

from kshell.simulator import PlugSpec, SimulatorThread


def _ran(listener: Listener) -> list[str]:
    return [a["command"] for a in listener.audit() if a["command"] and a["outcome"] == "ok"]


@pytest.mark.parametrize("brk", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1e"])
def test_a_line_ends_at_cr_or_lf_only(home: Path, sink: ReplySink, brk: str) -> None:
    configure(home, sink)
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0")
    quoted = make_mail(f"> what they wrote{brk}!off {PLUG}\n!info {PLUG}")
    inline = make_mail(f"!info {PLUG}{brk}!off {PLUG}")

    async def scenario(listener: Listener) -> None:
        await listener.deliver(quoted)
        await listener.deliver(inline)

    with SimulatorThread([spec]) as sim:
        listener = run(home, scenario)
        assert sim.plug(PLUG).relay_state == 1, listener.audit()
    assert f"off {PLUG}" not in _ran(listener)


def test_a_utf7_part_runs_nothing(home: Path, sink: ReplySink) -> None:
    configure(home, sink)
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0")
    raw = make_mail(f"+ACE-off {PLUG}", headers="Content-Type: text/plain; charset=utf-7\n")
    with SimulatorThread([spec]) as sim:
        listener = run(home, lambda listener: listener.deliver(raw))
        assert sim.plug(PLUG).relay_state == 1
    assert _ran(listener) == [] and sink.messages == []
    assert "unreadable" in listener.audit()[0]["verdict"]


# A stranger mails the owner "!off PLUG" with kshell's address in Cc; the owner answers
# "reply all" from a client that quotes the original below its own text without "> ".
QUOTES = [
    "-----Original Message-----\nFrom: Stranger <x@evil.test>\nSent: today\n\n",
    "________________________________\nFrom: Stranger <x@evil.test>\nSent: today\n\n",
    "From: Stranger <x@evil.test>\nSent: Sunday\nTo: boss@home.test\nSubject: hi\n\n",
    "---------- Forwarded message ---------\nFrom: Stranger <x@evil.test>\n\n",
    "Begin forwarded message:\n\n",
    "On Sun, 29 Nov 2026 at 20:00, Stranger <x@evil.test> wrote:\n\n",
]


@pytest.mark.parametrize("quote", QUOTES)
def test_what_a_reply_quotes_without_marks_is_not_an_order(
    home: Path, sink: ReplySink, quote: str
) -> None:
    configure(home, sink)
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0")
    raw = make_mail(f"!info {PLUG}\nThanks, will do.\n\n{quote}!off {PLUG}\n")
    with SimulatorThread([spec]) as sim:
        listener = run(home, lambda listener: listener.deliver(raw))
        assert sim.plug(PLUG).relay_state == 1
    assert _ran(listener) == [f"info {PLUG}"]


def test_a_forwarded_mail_inside_is_not_the_senders_text(home: Path, sink: ReplySink) -> None:
    """An HTML-only mail with a stranger's mail attached (message/rfc822): the attached
    mail's text/plain was the first plain part found, and its orders ran as the owner's."""
    configure(home, sink)
    inner = f"From: x@evil.test\nSubject: hi\n\n!off {PLUG}\n"
    body = (
        f"--outer\nContent-Type: text/html\n\n<p>!info {PLUG}</p>\n"
        "--outer\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n"
        f"{inner}\n--outer--\n"
    )
    raw = make_mail(body, headers='Content-Type: multipart/mixed; boundary="outer"\n')
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0")
    with SimulatorThread([spec]) as sim:
        listener = run(home, lambda listener: listener.deliver(raw))
        assert sim.plug(PLUG).relay_state == 1
    assert _ran(listener) == [f"info {PLUG}"]


@pytest.mark.parametrize("marker", ["|", "|!", ">"])
def test_a_marker_that_reply_lines_start_with_is_refused(
    home: Path, sink: ReplySink, marker: str
) -> None:
    """Every reply line starts with ``| `` (or ``> ``) so that none can be an order quoted
    back: with ``[remote] marker = |`` every one of them was, a plug named ``reboot all
    --yes #`` included (the ``devices`` row begins with its name)."""
    from helpers.shell import run_shell

    configure(home, sink, f"marker = {marker}\n")
    result = run_shell(home, "--listen", timeout=20)
    assert result.returncode != 0
    assert "marker" in result.stderr and "Traceback" not in result.stderr


def test_a_gateways_from_line_at_the_top_does_not_hide_the_order(
    home: Path, sink: ReplySink
) -> None:
    configure(home, sink)
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0")
    raw = make_mail(f"From: +15550100\n!off {PLUG}\n")
    with SimulatorThread([spec]) as sim:
        listener = run(home, lambda listener: listener.deliver(raw))
        assert sim.plug(PLUG).relay_state == 0
    assert _ran(listener) == [f"off {PLUG}"]
