"""A faithful Kasa plug simulator on loopback, for ``--demo``, the tests and benchmarks.

Many plugs run in one asyncio loop; each has its own 127.x address with a TCP listener (framed,
ciphered protocol, kept-open connections) and answers UDP discovery broadcast to
127.255.255.255. Plugs of the current generation instead listen on HTTP (``web``: KLAP in
``klap``, AES in ``aes``, IOT JSON or SMART JSON-RPC in ``smart`` behind them) and answer the
UDP 20002 probe (``tdp``); they know the simulator's ``Account`` (``DEMO_ACCOUNT`` by
default). See ``server`` for how loopback broadcast works, ``faults`` for the faults a plug can
show and ``firmware`` for the firmware flow and image format.
"""

from kshell.simulator.accounts import DEMO_ACCOUNT, Account
from kshell.simulator.faults import FAULTS
from kshell.simulator.firmware import FirmwareConfig, make_image, parse_image
from kshell.simulator.models import MODELS, ModelSpec
from kshell.simulator.plug import SimPlug
from kshell.simulator.runner import (
    SimulatorThread,
    addresses,
    bulk_specs,
    demo_specs,
    house_specs,
)
from kshell.simulator.server import BROADCAST, Simulator
from kshell.simulator.smart_models import get_model
from kshell.simulator.spec import PlugSpec

__all__ = [
    "BROADCAST",
    "DEMO_ACCOUNT",
    "FAULTS",
    "MODELS",
    "Account",
    "FirmwareConfig",
    "ModelSpec",
    "PlugSpec",
    "SimPlug",
    "Simulator",
    "SimulatorThread",
    "addresses",
    "bulk_specs",
    "demo_specs",
    "get_model",
    "house_specs",
    "make_image",
    "parse_image",
]
