"""Key bindings: ``?`` shows the usage of what is typed so far (the line stays as it is).

Tab completes at once, even when typed faster than the completion menu appears: matching
is fuzzy and aliases get quoted, so there is rarely a common prefix to insert, and
prompt_toolkit's own Tab would only open the menu. Ctrl-C (cancel the line), Ctrl-D (exit on
an empty line) and the history keys are prompt_toolkit's own; Ctrl-C while a command runs is
handled by the app, not here.
"""

from __future__ import annotations

from prompt_toolkit.application import run_in_terminal
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from kshell.lang.grammar import COMMENT, WORD, scan
from kshell.text import clean
from kshell.ui.completer.engine import Model, describe


def wants_literal_question_mark(text: str) -> bool:
    """Inside quotes or a comment a ``?`` is just a character."""
    tokens = scan(text)
    if not tokens or tokens[-1].end != len(text):
        return False
    last = tokens[-1]
    return last.kind == COMMENT or (last.kind == WORD and bool(last.quote))


def build_key_bindings(model: Model) -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("?")
    def _usage(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        text = buffer.document.text_before_cursor
        if wants_literal_question_mark(text) or buffer.document.text_after_cursor.strip():
            buffer.insert_text("?")
            return
        shown = clean(text, 200)
        usage = describe(model, text)
        run_in_terminal(lambda: print(f"{shown}?\n{usage}"), in_executor=False)

    @bindings.add("tab")
    def _complete(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.complete_state:
            buffer.complete_next()
            return

        # A completion started while typing may still be running; prompt_toolkit then drops
        # this request, so also take the first suggestion as soon as the running one lands.
        def select_first(_: object) -> None:
            buffer.on_completions_changed -= select_first
            state = buffer.complete_state
            if state and state.completions and state.complete_index is None:
                buffer.go_to_completion(0)

        buffer.on_completions_changed += select_first
        buffer.start_completion(select_first=True)

    return bindings
