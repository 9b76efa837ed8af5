"""Remote mode with its own SMTP listener as the mail source: the config, a mail handed to
it by SMTP, and one simulated plug's address on 127.50.3.x."""

from __future__ import annotations

import smtplib
from pathlib import Path

from helpers.dovecot import ReplySink
from helpers.mail import SECRET
from helpers.shell import write_config

PLUG = "127.50.3.2"


def configure(home: Path, sink: ReplySink, port: int) -> None:
    write_config(
        home,
        extra=(
            f"\n[remote]\nsource = smtp://127.0.0.1:{port}\n"
            f"reply = smtp://127.0.0.1:{sink.port}\nreply_from = kshell@home.test\n"
            "trusted_authserv_id = mx.home.test\n"
            f"[totp]\nboss@home.test = {SECRET}\n"
            "[senders]\nboss@home.test = control\n"
        ),
    )


def send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail("boss@home.test", ["kshell@home.test"], raw)
