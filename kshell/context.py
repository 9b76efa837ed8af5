"""Transition only: ``Context`` is now ``kshell.session.Session``.

Branches started before the rename (new command files, the event streams) still import
``Context`` from here; once they are merged, this module goes.
"""

from kshell.session import Session as Context

__all__ = ["Context"]
