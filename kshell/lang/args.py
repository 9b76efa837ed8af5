"""What a command gets as ``args``: its line's words bound to its declaration.

The binder (``kshell.lang.binding.parse``) makes one per run. Its attributes are exactly
the declared names (each ``Arg.name`` and ``Opt.dest``), read-only; reading any other name
is an ``AttributeError`` that lists the declared ones, so a misspelt read fails loudly
instead of quietly reading None. ``tests/test_command_args.py`` finds such reads before
they run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Args:
    """The bound arguments and options of one command line, by declared name."""

    __slots__ = ("_values",)
    _values: dict[str, Any]

    def __init__(self, values: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        object.__setattr__(self, "_values", {**(values or {}), **more})

    def __getattr__(self, name: str) -> Any:
        # only called for names that are not slots or methods: the declared values
        if name.startswith("__") or name == "_values":
            raise AttributeError(name)  # copy and pickle probe before __init__ has run
        try:
            return self._values[name]
        except KeyError:
            declared = ", ".join(sorted(self._values)) or "none"
            raise AttributeError(f"no argument or option '{name}' (declared: {declared})") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Args are read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Args are read-only")

    def names(self) -> tuple[str, ...]:
        """The names bound: every declared argument and option of the command."""
        return tuple(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Args) and other._values == self._values

    __hash__ = None  # type: ignore[assignment]  # values may be lists

    def __repr__(self) -> str:
        inner = ", ".join(f"{key}={value!r}" for key, value in self._values.items())
        return f"Args({inner})"
