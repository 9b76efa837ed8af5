"""One device object per plug per session, made from how the plug speaks (its ``Link``).

The table from "family + transport" to protocol and transport lives here and nowhere
else (PROTOCOLS.md section 2): IOT over XOR on 9999, IOT over KLAP, SMART over KLAP or AES.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from kshell.device.transports.xor import DEFAULT_PORT

if TYPE_CHECKING:  # each family and transport is imported when a plug of it is made
    from kshell.device.device import Device
    from kshell.device.transports.base import Credentials, Transport

FAMILIES = ("iot", "smart")
TRANSPORTS = ("xor", "klap", "aes")


class Link(NamedTuple):
    """How a plug speaks: what discovery or the store says about it (immutable; a
    NamedTuple, cheaper than a dataclass to define at start-up)."""

    family: str = "iot"  # iot | smart
    transport: str = "xor"  # xor | klap | aes
    login_version: int = 2
    factory_default: bool = False  # only then are the setup defaults tried

    @property
    def encrypted(self) -> bool:
        return self.transport != "xor"


XOR = Link()


class DevicePool:
    """The session's devices, keyed by (host, port); each owns its link and last state."""

    def __init__(
        self, timeout: float, credentials: Callable[[], Credentials | None] | None = None
    ) -> None:
        self.timeout = timeout
        self.credentials = credentials or (lambda: None)
        self._devices: dict[tuple[str, int], Device] = {}
        self._links: dict[tuple[str, int], Link] = {}

    def get(self, host: str, port: int = DEFAULT_PORT, link: Link | None = None) -> Device:
        """The plug's device, made on first use; a changed ``link`` makes it afresh."""
        key = (host, port)
        link = link or self._links.get(key) or XOR
        device = self._devices.get(key)
        if device is not None and self._links.get(key) == link:
            return device
        if device is not None:
            device.close()
        device = self._devices[key] = make_device(host, port, link, self.timeout, self.credentials)
        self._links[key] = link
        return device

    def peek(self, host: str, port: int = DEFAULT_PORT) -> Device | None:
        """The plug's device if the session has one (never makes one)."""
        return self._devices.get((host, port))

    def link(self, host: str, port: int) -> Link | None:
        """What the session has learned about how this plug speaks (None: nothing yet)."""
        return self._links.get((host, port))

    def learn(self, host: str, port: int, link: Link) -> None:
        """How the plug speaks, from its announcement: its next device uses that link."""
        if self._links.get((host, port)) != link:
            self.close(host, port)
            self._devices.pop((host, port), None)
            self._links[(host, port)] = link

    def close(self, host: str, port: int) -> None:
        device = self._devices.get((host, port))
        if device is not None:
            device.close()

    def close_all(self) -> None:
        for device in self._devices.values():
            device.close()
        self._devices.clear()
        self._links.clear()


def make_transport(
    host: str,
    port: int,
    link: Link,
    timeout: float,
    credentials: Callable[[], Credentials | None],
) -> Transport:
    if link.transport == "xor":
        from kshell.device.transports.xor import XorTransport

        return XorTransport(host, port, timeout)
    creds = credentials()  # None: the transport says what to set, when it first needs them
    if link.transport == "klap":
        from kshell.device.transports.klap import KlapTransport

        # IOT over KLAP without a login version in its announcement speaks version 1
        return KlapTransport(
            host,
            port,
            credentials=creds,
            timeout=timeout,
            login_version=link.login_version,
            try_defaults=link.factory_default,
        )
    from kshell.device.transports.aes import AesTransport

    return AesTransport(
        host,
        port,
        credentials=creds,
        timeout=timeout,
        login_version=link.login_version,
        try_defaults=link.factory_default,
    )


def make_device(
    host: str,
    port: int,
    link: Link,
    timeout: float,
    credentials: Callable[[], Credentials | None],
) -> Device:
    transport = make_transport(host, port, link, timeout, credentials)
    if link.family == "smart":
        from kshell.device.device import smart_device
        from kshell.device.protocols.smart import SmartProtocol

        return smart_device(SmartProtocol(transport))
    from kshell.device.device import iot_device
    from kshell.device.protocols.iot import IotProtocol

    return iot_device(IotProtocol(transport))
