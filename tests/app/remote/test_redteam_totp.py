"""Red team, TOTP (issue 9 classes 1 and 2): variations on ``!auth`` and on the buckets.

- A stranger who fills the unproven bucket (``unproven_per_hour`` junk mails) must not
  lock the owner's TOTP orders out: the bucket is there to spare DNS lookups, and a code
  costs none (wrong codes are already locked out per claimed sender).
- Other spellings of ``auth`` (case, a space after the marker, tabs, more words) still
  count as the one auth line a mail may hold; codes in an HTML alternative, a second text
  part or the subject are never read.

Over the Maildir source with a simulated plug and a real SMTP sink.
"""

from __future__ import annotations

from pathlib import Path

import pyotp
from helpers.dovecot import ReplySink
from helpers.mail import SECRET, make_mail
from helpers.maildir import PLUG, Listener, configure, run

from kshell.simulator import PlugSpec, SimulatorThread


def _sim() -> SimulatorThread:
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0")
    return SimulatorThread([spec])


def _ran(listener: Listener) -> list[str]:
    return [a["command"] for a in listener.audit() if a["command"] and a["outcome"] == "ok"]


def test_a_flood_of_unproven_mail_does_not_lock_the_owners_code_out(
    home: Path, sink: ReplySink
) -> None:
    configure(home, sink, "unproven_per_hour = 3\n")

    async def scenario(listener: Listener) -> None:
        for i in range(4):  # a stranger, not even on the allowlist
            await listener.deliver(make_mail(f"!off {PLUG} {i}", proof=None, sender="x@evil.test"))
        await listener.deliver(
            make_mail(f"!auth {pyotp.TOTP(SECRET).now()}\n!off {PLUG}", proof=None)
        )

    with _sim() as sim:
        listener = run(home, scenario)
        assert sim.plug(PLUG).relay_state == 0
    assert _ran(listener) == [f"off {PLUG}"]
    assert len(sink.messages) == 1


def test_every_spelling_of_auth_is_the_one_auth_line(home: Path, sink: ReplySink) -> None:
    configure(home, sink)
    code = pyotp.TOTP(SECRET).now()
    spellings = ["!AUTH 000000", "! auth 000001", "!Auth\t000002", "!auth 000003 extra", "!auth"]

    async def scenario(listener: Listener) -> None:
        for first in spellings:
            await listener.deliver(make_mail(f"{first}\n!auth {code}\n!off {PLUG}", proof=None))

    with _sim() as sim:
        listener = run(home, scenario)
        assert sim.plug(PLUG).relay_state == 1
    assert _ran(listener) == [] and sink.messages == []
    assert all("2 auth lines" in a["verdict"] for a in listener.audit()), listener.audit()


def test_codes_outside_the_text_that_is_read_prove_nothing(home: Path, sink: ReplySink) -> None:
    configure(home, sink)
    code = pyotp.TOTP(SECRET).now()
    boundary = "b0und"
    alternative = (
        f'Content-Type: multipart/alternative; boundary="{boundary}"\n'
        f"\n--{boundary}\nContent-Type: text/plain\n\n!off {PLUG}\n"
        f"\n--{boundary}\nContent-Type: text/html\n\n<p>!auth {code}</p>\n--{boundary}--\n"
    )
    head = make_mail("", proof=None, subject=f"!auth {code}").partition(b"\r\n\r\n")[0]
    mails = [
        head + b"\r\n" + alternative.replace("\n", "\r\n").encode(),  # code in the HTML part
        make_mail(f"!off {PLUG}", proof=None, subject=f"!auth {code}"),  # code in the subject
    ]

    async def scenario(listener: Listener) -> None:
        for raw in mails:
            await listener.deliver(raw)

    with _sim() as sim:
        listener = run(home, scenario)
        assert sim.plug(PLUG).relay_state == 1
    assert _ran(listener) == [] and sink.messages == []
