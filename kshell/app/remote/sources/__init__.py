"""Where command mail comes from: a Maildir, an IMAP mailbox, or our own SMTP listener.

Each source hands every new message to one callback as an ``Incoming`` and moves it to
the processed folder only when the callback calls ``finish()``, which it does after the
journal has the message. What every source shares (``Incoming``, ``Source``...) is in
``base``, which the sources import; this module picks one of them.
"""

from __future__ import annotations

from pathlib import Path

from kshell.app.remote.settings import RemoteSettings
from kshell.app.remote.sources.base import Reporter, Source


def make_source(settings: RemoteSettings, data_dir: Path, report: Reporter) -> Source:
    """The source the config names (imported lazily: each pulls its own library)."""
    spec = settings.source
    if spec.kind == "imap":
        from kshell.app.remote.sources.imap import ImapSource

        return ImapSource(spec, settings, report)
    if spec.kind == "smtp":
        from kshell.app.remote.sources.smtp import SmtpSource

        return SmtpSource(spec, settings, data_dir / "Maildir", report)
    from kshell.app.remote.sources.maildir import MaildirSource

    assert spec.path is not None
    return MaildirSource(spec.path, settings, report)
