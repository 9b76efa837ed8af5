"""The credentials a plug knows before its owner claims it (facts, PROTOCOLS.md section 3).

A KLAP plug that was never bound to an account, or was reset, proves one of these in its
handshake; python-kasa tries them after the owner's (``kasa/credentials.py``
``DEFAULT_CREDENTIALS``). kshell tries them only for a plug whose discovery answer says
``factory_default``, and flags that plug as unclaimed. They are public facts, not secrets, but
like every ``Credentials`` they never reach a log or an output line (their ``repr`` hides the
password).
"""

from __future__ import annotations

from kshell.device.transports.base import Credentials

KASA_SETUP = Credentials("kasa@tp-link.net", "kasaSetup")
TAPO_SETUP = Credentials("test@tp-link.net", "test")
BLANK = Credentials("", "")

# (what to call it in a message, the pair), in python-kasa's order
SETUP_CREDENTIALS: tuple[tuple[str, Credentials], ...] = (
    ("the Kasa setup default", KASA_SETUP),
    ("the Tapo setup default", TAPO_SETUP),
    ("blank credentials", BLANK),
)

OWNER = "the owner's credentials"

# the one line every credentials error ends with
WHAT_TO_SET = "set KSHELL_USERNAME and KSHELL_PASSWORD, or run `login`"
