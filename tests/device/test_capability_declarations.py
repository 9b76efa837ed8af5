"""A capability is declared once, in its own file: the command registry, the target resolver
and completion read that declaration (``kshell.device.capabilities.declaration``), and every
capability file says how each family has it."""

from __future__ import annotations

import abc
import types

import pytest

from kshell.core.targets import known_to_lack
from kshell.device.capabilities import declaration
from kshell.device.capabilities.declaration import Capability, Known, declared, every
from kshell.device.protocols.smart import Learnt
from kshell.errors import KshellError
from kshell.lang.registry import Arg, Command, Registry
from kshell.store.devices import DeviceRecord
from kshell.ui.completer.capable import lacking, needed


class Chime(abc.ABC):
    """A throwaway capability: a doorbell chime only plain plugs have."""


class IotChime(Chime):
    pass


def _has_chime(plug: Known) -> bool:
    return plug.kind == "plug"


CHIME: Capability[Chime] = Capability(
    "chime", iot=IotChime, smart=None, lacking="a chime", known=_has_chime, absent="none made"
)


@pytest.fixture
def chime_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    """The throwaway capability's file, as the import system would find it."""
    module = types.ModuleType(f"{declaration.PACKAGE}.chime")
    module.CAPABILITY = CHIME  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, module.__name__, module)


async def _nothing(session: object, args: object) -> None:
    return None


def _ring_command(need: str) -> Command:
    return Command("ring", _nothing, "Ring.", args=(Arg("target", "target", needs=(need,)),))


PLUG = DeviceRecord("127.20.8.2", alias="Hall", model="HS100(US)", kind="plug")
STRIP = DeviceRecord(
    "127.20.8.3",
    alias="Desk",
    model="HS300(US)",
    kind="strip",
    children=[{"number": 1, "id": "c1", "alias": "Monitor"}],
)


def test_a_capability_declared_in_one_place_reaches_registry_targets_and_completion(
    chime_declared: None,
) -> None:
    registry = Registry()
    registry.add(_ring_command("chime"))  # the registry accepts the need it can find
    assert needed(registry) == {"chime"}
    assert known_to_lack(STRIP, ("chime",)) and not known_to_lack(PLUG, ("chime",))
    lacks = lacking([PLUG, STRIP], needed(registry))
    assert {"desk", "127.20.8.3", "desk/1", "monitor"} <= lacks["chime"]
    assert "hall" not in lacks["chime"]
    assert declared("chime").lacking == "a chime"  # what `all` says of the plugs it skips


def test_a_need_no_capability_file_declares_is_refused_when_the_command_is_added() -> None:
    with pytest.raises(KshellError, match="no capability 'chimes'"):
        Registry().add(_ring_command("chimes"))


def test_a_family_without_a_form_must_say_why() -> None:
    with pytest.raises(TypeError, match="must say why"):
        Capability("chime", iot=IotChime, smart=None, lacking="a chime")


def test_every_capability_file_declares_both_families_under_its_own_name() -> None:
    found = every()
    assert {"info", "relay", "led", "alias", "meter", "clock"} <= {c.name for c in found}
    for capability in found:
        assert declared(capability.name) is capability  # the file's name is the need's word
        assert capability.lacking, capability.name
        if capability.iot is None or capability.smart is None:
            assert capability.absent, capability.name
        else:
            assert capability.iot is not capability.smart, capability.name


class _Speaks:
    """A protocol stand-in: building a form only keeps the protocol it is given."""

    def __init__(self, family: str) -> None:
        self.family, self.label = family, f"127.20.8.9 ({family})"
        self.learnt = Learnt()  # what a SMART plug's forms share


@pytest.mark.parametrize("family", ["iot", "smart"])
def test_every_capability_builds_its_own_form_for_each_family(family: str) -> None:
    for capability in every():
        form = capability.iot if family == "iot" else capability.smart
        if form is None:
            with pytest.raises(KshellError):
                capability.build(_Speaks(family))
            continue
        built = capability.build(_Speaks(family))
        assert type(built) is form, capability.name
