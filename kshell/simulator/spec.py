"""``PlugSpec``: how to build one simulated device, and the transport it then speaks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kshell.simulator.accounts import Account


@dataclass
class PlugSpec:
    """How to build one simulated device."""

    host: str
    model: str = "HS110(EU) 2.0"
    alias: str | None = None
    port: int = 9999  # 0: any free port (the bound one is in SimPlug.port)
    udp_port: int | None = 9999  # None: no UDP; 0: one free port shared by the simulator
    profile: str | None = None  # load profile (see energy.PROFILES); None: picked by seed
    seed: int | None = None  # None: derived from host and port
    relay_state: int = 1
    led_off: int = 0
    sw_ver: str | None = None  # override the model's firmware string
    outlet_aliases: tuple[str, ...] | None = None  # strips
    outlet_profiles: tuple[str, ...] | None = None
    outlet_states: tuple[int, ...] | None = None
    # the current generation (see ``web``): HTTP instead of TCP 9999, discovery on UDP 20002
    transport: str | None = None  # "xor", "klap" or "aes"; None: what the model speaks
    login_version: int | None = None  # KLAP/AES login version; None: the model's
    http_port: int = 80  # 0: any free port (the bound one is in SimPlug.http_port)
    tdp_port: int | None = 20002  # UDP discovery port of KLAP/AES plugs; 0: one free port
    account: Account | None = None  # the owner's login; None: the simulator's account
    factory_default: bool = False  # not set up yet: knows only the vendor's setup account
    session_timeout: float = 86400  # seconds a KLAP/AES session lasts (the TIMEOUT cookie)
    child_page: int = 10  # SMART strips: children per page of get_child_device_list
    faults: tuple[
        tuple[str, Any], ...
    ] = ()  # faults the plug starts with: (("bogus_power", True),)
    clock_drift: float = 0.0  # seconds the plug's own clock is off (wall.PlugClock)
    clock_speed: float = 1.0  # how fast the plug's clock runs: tests fire rules quickly
    # "host" or "host:port" whose MAC and deviceId this plug carries (None: its own address's):
    # the plug DHCP moved there, so two plugs can trade addresses and stay themselves
    identity: str | None = None


def resolve_transport(spec: PlugSpec, key: str) -> tuple[str, int]:
    """(transport, login version) of a spec, filling in what the model speaks."""
    from kshell.simulator.smart_models import DEFAULT_TRANSPORT

    transport, version = DEFAULT_TRANSPORT.get(key, ("xor", 0))
    transport = spec.transport or transport
    if transport not in ("xor", "klap", "aes"):
        raise ValueError(f"unknown transport {transport!r}: xor, klap or aes")
    if transport == "xor" and key in DEFAULT_TRANSPORT:
        raise ValueError(f"{key} does not speak the old protocol on TCP 9999")
    version = spec.login_version or version or 2
    if version not in (1, 2):
        raise ValueError(f"login version {version} is 1 or 2")
    return transport, version
