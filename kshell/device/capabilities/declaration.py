"""What a capability file declares of itself, and finding those declarations.

A capability file (``led.py``, ``meter.py``) holds its interface, its IOT and SMART forms
and one ``CAPABILITY``: the word an Arg's ``needs=`` gives (the file's name), and how a
plug the store has read is known to lack it. The command registry, the target resolver and
completion read that declaration (``declared``), so adding a capability is adding its file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from kshell.errors import KshellError, UnsupportedDevice

PACKAGE = __name__.rpartition(".")[0]
Form = TypeVar("Form")


class Known(Protocol):
    """What the device store knows of a plug it has read (``kshell.store`` records match
    this by shape: the device layer names nothing above it)."""

    @property
    def kind(self) -> str: ...

    @property
    def emeter(self) -> bool: ...


def _every_plug(plug: Known) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Capability(Generic[Form]):
    """One capability, declared once in its own file as ``CAPABILITY``.

    ``name`` is the file's name and the word an Arg's ``needs=`` gives; ``iot`` and
    ``smart`` are its form in each family (``absent`` says why a family has none);
    ``lacking`` names it in "skipped 2 plugs without ..."; ``known`` tells from a plug the
    store has read whether it has it; ``outlets``: a strip's outlets have their own (a
    meter), else it is the whole device's (the status light).
    """

    name: str
    iot: type[Form] | None
    smart: type[Form] | None
    lacking: str
    known: Callable[[Known], bool] = _every_plug
    outlets: bool = False
    absent: str = ""

    def build(self, proto: Any) -> Form:
        """Its form for the family ``proto`` speaks (by ``family``, not isinstance: a
        one-shot loads only the protocol its plug speaks). A family without one is refused."""
        form = self.iot if proto.family == "iot" else self.smart
        if form is None:
            raise UnsupportedDevice(self.absent, target=proto.label)
        make: Callable[[Any], Form] = form  # each form is made from the protocol alone
        return make(proto)

    def __post_init__(self) -> None:
        if (self.iot is None or self.smart is None) and not self.absent:
            raise TypeError(f"capability {self.name}: a family without a form must say why")


def declared(name: str) -> Capability[Any]:
    """The declaration in the capability file ``name`` (what an Arg's ``needs=`` names)."""
    try:
        module = importlib.import_module(f"{PACKAGE}.{name}")
    except ModuleNotFoundError:
        module = None
    found = getattr(module, "CAPABILITY", None)
    if not isinstance(found, Capability) or found.name != name:
        raise KshellError(f"no capability {name!r} is declared (in {PACKAGE})")
    return found


def every() -> list[Capability[Any]]:
    """Every capability file's declaration, by name (imports them all: tests and listings)."""
    folder = str(Path(__file__).parent)
    names = sorted(m.name for m in pkgutil.iter_modules([folder]))
    modules = [importlib.import_module(f"{PACKAGE}.{name}") for name in names]
    return [m.CAPABILITY for m in modules if isinstance(getattr(m, "CAPABILITY", None), Capability)]
