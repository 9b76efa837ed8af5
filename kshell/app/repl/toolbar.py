"""The prompt text and the bottom toolbar: where the operator is and what the plugs are doing.

Both are redrawn on every keystroke, so they read in-memory state only: the device index,
the current plug's store entry (online unless a request to it failed; when it was last heard
and how), the session's last readings (filled by the energy
commands) and its remote service (while remote mode runs).
"""

from __future__ import annotations

from prompt_toolkit.formatted_text import StyleAndTextTuples

from kshell.core.session import Session
from kshell.errors import KshellError
from kshell.text import clean
from kshell.ui.completer.engine import Model


def prompt_text(session: Session) -> StyleAndTextTuples:
    parts: StyleAndTextTuples = [("class:prompt", "kshell")]
    if session.current:
        parts.append(("class:prompt.target", " " + clean(session.current, 40)))
    if remote_status(session):
        parts.append(("class:prompt.remote", " [remote]"))
    parts.append(("class:prompt", "> "))
    return parts


def remote_status(session: Session) -> str:
    remote = session.remote
    return clean(remote.describe(), 60) if remote is not None and remote.running else ""


def toolbar_text(session: Session, model: Model) -> StyleAndTextTuples:
    index = model.index()
    parts: StyleAndTextTuples = [
        ("class:bottom-toolbar", f" {index.count} known, {index.online} online")
    ]
    refresh = session.refresh_status
    if refresh:
        parts.append(("class:bottom-toolbar", f" ({clean(refresh, 40)})"))
    if session.current:
        parts.append(("class:bottom-toolbar", "  |  "))
        parts += _current(session)
    remote = remote_status(session)
    if remote:
        parts += [
            ("class:bottom-toolbar", "  |  "),
            ("class:bottom-toolbar.remote", f"remote: {remote}"),
        ]
    parts.append(("class:bottom-toolbar", "  |  Tab completes, ? usage, Ctrl-D exits "))
    return parts


def _current(session: Session) -> StyleAndTextTuples:
    """The current plug's state and its last power reading, from memory only."""
    from kshell.core.targets import resolve

    assert session.current is not None
    try:
        targets = resolve(session, session.current)
    except KshellError:
        return [("class:bottom-toolbar", f"{clean(session.current, 40)}: unknown")]
    target = targets[0]
    record = target.record
    state = "?"
    if record is not None:
        state = record.state or "?"
        if target.child_id:
            child = next((c for c in record.children if c.get("id") == target.child_id), {})
            state = child.get("state") or "?"
        if not record.online:
            state = "offline"  # a request made to it failed
    parts: StyleAndTextTuples = [
        ("class:bottom-toolbar", f"{clean(target.label, 40)}: "),
        ("class:bottom-toolbar.on" if state == "on" else "class:bottom-toolbar", state),
    ]
    watts = session.readings.power_w.get(target.label)
    if isinstance(watts, (int, float)):
        parts.append(("class:bottom-toolbar", f", {watts:.1f} W"))
    if record is not None and record.last_heard:
        parts.append(("class:bottom-toolbar", f", heard {record.heard_text()}"))
    return parts
