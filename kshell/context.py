"""Transition only: ``Context`` is now ``kshell.session.Session``.

Nothing in kshell/, commands/ or history/ imports this module any more; branches started
before the rename (and a user's command module written against it) still may. It goes once
they are merged.
"""

from kshell.session import Session as Context

__all__ = ["Context"]
