"""The mail stack as the `remote` commands see it (``kshell.core.services.MailStack``).

The commands live below the app and never import the mail stack; ``kshell.app.build``
puts one of these on the session, and the commands ask it for a service, a TOTP secret or
an unlock. The mail stack itself is imported only when one of them is asked for: a
one-shot command never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kshell.core.services import TotpAdded
from kshell.core.session import Session
from kshell.errors import UsageError

if TYPE_CHECKING:
    from kshell.app.remote.service import RemoteService


class SessionMail:
    def __init__(self, session: Session) -> None:
        self.session = session

    def service(self) -> RemoteService:
        from kshell.app.remote.service import RemoteService, printer

        return RemoteService(self.session, printer(self.session))

    def add_totp(self, address: str) -> TotpAdded:
        from kshell.app.remote.settings import load_settings
        from kshell.app.remote.totp import add_secret, provisioning_uri

        settings = load_settings(self.session.config, self.session.paths.data)
        if address in settings.totp:
            raise UsageError(f"{address} already has a TOTP secret in [totp] of kshell.ini")
        secret = add_secret(settings.totp_file, address)
        uri = provisioning_uri(secret, address)
        return TotpAdded(address, settings.totp_file, uri, address in settings.senders)

    def unlock_totp(self, address: str) -> bool:
        from kshell.app.remote.audit import AuditLog
        from kshell.app.remote.journal import unlock_totp
        from kshell.app.remote.service import AUDIT_NAME, JOURNAL_NAME

        data = self.session.paths.data
        was_locked = unlock_totp(data / JOURNAL_NAME, address)
        AuditLog(data / AUDIT_NAME).write(
            sender=address,
            message_id="",
            command=None,
            verdict="totp",
            outcome="unlocked by the operator" if was_locked else "unlock asked; was not locked",
        )
        return was_locked
