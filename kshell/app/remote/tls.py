"""TLS for the mail servers: one verifying context, never a downgrade.

The certificate is checked against the system's store, or only against ``[remote] ca_file``
when one is set (a home server with its own CA), and the host name (or IP address) the
config names must match it. A failed check ends the connection: there is no setting to
turn verification off, and a STARTTLS the server does not offer is an error, not plaintext.
"""

from __future__ import annotations

import ssl
from pathlib import Path

SECURITY = ("none", "starttls", "ssl")


def client_context(ca_file: Path | None) -> ssl.SSLContext:
    """A client context that verifies the chain and the host name (TLS 1.2 at least)."""
    if ca_file is not None:
        context = ssl.create_default_context(cafile=str(ca_file))
    else:
        context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def describe_tls_error(exc: BaseException) -> str:
    """Why a handshake failed, in one line (the verification message when there is one)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate refused: {exc.verify_message or exc.reason}"
    reason = getattr(exc, "reason", None)
    return f"TLS failed: {reason or type(exc).__name__}"
