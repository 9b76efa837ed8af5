"""Facts the KLAP and AES transports share (docs/protocols.md, KLAP to SMART): the credentials a
plug knows before its owner claims it, and the error codes their transports answer with.

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


# Outer error codes of the current generation's transports (kasa/exceptions.py SmartErrorCode)
SESSION_REFUSED = frozenset({9999, -1012})  # answered before the request was looked at
TRANSPORT_CODES = {
    9999: "session timed out",
    -1012: "session refused",
    -1005: "the plug could not decrypt the request",
    -1010: "invalid public key",
    -1501: "login refused: wrong e-mail or password",
    1002: "transport not available",
    1003: "unknown credentials: the plug's encryption changed (a firmware update?)",
    1100: "handshake failed",
    1111: "login failed",
    1112: "transport failure",
}
AUTH_CODES = frozenset({1003, 1100, 1111, -1501})


def code_meaning(code: int) -> str:
    return f"{code}, {TRANSPORT_CODES[code]}" if code in TRANSPORT_CODES else str(code)
