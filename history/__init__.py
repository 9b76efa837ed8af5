"""History of the lines typed at the prompt, replay of them, and recorded session scripts.

Installed as ``kshell.history`` (setup.cfg maps this folder into the package), so modules
here import each other as ``kshell.history.x``. Nothing here imports prompt_toolkit: the
``history``/``replay``/``record`` commands work from ``-c`` and scripts too.
"""
