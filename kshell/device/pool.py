"""One device object per plug per session, made from how the plug speaks (its ``Link``).

The table from "family + transport" to protocol and transport lives here and nowhere
else (docs/protocols.md): IOT over XOR on 9999, IOT over KLAP, SMART over KLAP or AES.

It is also the one place that decides whether an AES plug gets the owner's cloud login. KLAP
proves the plug knows the password before anything is sent; AES proves nothing, so an AES
transport is given the credentials only for an address the owner trusts: one the store holds
as that AES plug (``trust``, asked with the MAC an announcement claimed), or one the owner
confirmed this session (``grant``). Every route (discovery, a command, a mail, a scrape)
makes its devices here, so none can send the login anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kshell.device.transports.xor import DEFAULT_PORT

if TYPE_CHECKING:  # each family and transport is imported when a plug of it is made
    from kshell.device.device import Device
    from kshell.device.transports.base import Credentials, Transport

# How far the owner trusts an AES plug with the cloud login: not at all, login version 2
# (SHA-1 of the e-mail and of the password), or version 1 as well (the password in base64)
UNTRUSTED, HASHED, PASSWORD = "", "hashed", "password"
LOGIN_TRUST = (UNTRUSTED, HASHED, PASSWORD)
# (host, port, the MAC an announcement claimed there or "") -> one of LOGIN_TRUST
Trust = Callable[[str, int, str], str]


def _trusts_nobody(host: str, port: int, mac: str) -> str:
    return UNTRUSTED


def allows(trust: str, link: Link) -> bool:
    """Does ``trust`` let the owner's login go to a plug speaking ``link``?"""
    if link.transport != "aes":
        return True  # XOR needs none; KLAP proves the plug knows it first
    return trust == PASSWORD or (trust == HASHED and link.login_version == 2)


@dataclass(frozen=True, slots=True)
class Link:
    """How a plug speaks: what discovery or the store says about it."""

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
        self,
        timeout: float,
        credentials: Callable[[], Credentials | None] | None = None,
        trust: Trust | None = None,
    ) -> None:
        self.timeout = timeout
        self.credentials = credentials or (lambda: None)
        self.trust = trust or _trusts_nobody
        self._devices: dict[tuple[str, int], Device] = {}
        self._links: dict[tuple[str, int], Link] = {}
        self._granted: dict[tuple[str, int], str] = {}  # confirmed by the owner this session
        self._claimed: dict[tuple[str, int], str] = {}  # MAC the address's announcement gave

    def get(self, host: str, port: int = DEFAULT_PORT, link: Link | None = None) -> Device:
        """The plug's device, made on first use; a changed ``link`` makes it afresh."""
        key = (host, port)
        link = link or self._links.get(key) or XOR
        device = self._devices.get(key)
        if device is not None and self._links.get(key) == link:
            return device
        if device is not None:
            device.close()
        device = self._devices[key] = self.detached(host, port, link, self.timeout)
        self._links[key] = link
        return device

    def detached(self, host: str, port: int, link: Link, timeout: float) -> Device:
        """A device outside the pool (a short-lived probe) under the same trust rules."""
        trust = self.login_trust(host, port)
        return make_device(host, port, link, timeout, self.credentials, trust)

    def grant(self, host: str, port: int, trust: str = HASHED) -> None:
        """The owner confirmed this AES plug at the prompt: it gets the login this session."""
        if trust not in LOGIN_TRUST:
            raise ValueError(f"login trust {trust!r}")
        self._granted[(host, port)] = trust
        self._forget_device(host, port)

    def login_trust(self, host: str, port: int, mac: str | None = None) -> str:
        """How far the owner trusts the plug at host:port (``mac``: the one it answered
        with; by default the one its announcement claimed, if any)."""
        key = (host, port)
        granted = self._granted.get(key, UNTRUSTED)
        if granted:
            return granted
        return self.trust(host, port, self._claimed.get(key, "") if mac is None else mac)

    def peek(self, host: str, port: int = DEFAULT_PORT) -> Device | None:
        """The plug's device if the session has one (never makes one)."""
        return self._devices.get((host, port))

    def link(self, host: str, port: int) -> Link | None:
        """What the session has learned about how this plug speaks (None: nothing yet)."""
        return self._links.get((host, port))

    def learn(self, host: str, port: int, link: Link, mac: str = "") -> None:
        """How the plug speaks, from its announcement (which claims ``mac``): its next device
        uses that link, and is trusted only as far as a plug with that MAC is."""
        key = (host, port)
        if self._links.get(key) != link or self._claimed.get(key, "") != mac:
            self._forget_device(host, port)
            self._links[key] = link
            self._claimed[key] = mac

    def _forget_device(self, host: str, port: int) -> None:
        self.close(host, port)
        self._devices.pop((host, port), None)

    def close(self, host: str, port: int) -> None:
        device = self._devices.get((host, port))
        if device is not None:
            device.close()

    def close_all(self) -> None:
        for device in self._devices.values():
            device.close()
        self._devices.clear()
        self._links.clear()
        self._claimed.clear()


def withheld(host: str, trust: str, link: Link) -> str:
    """Why an AES plug is not sent the owner's login, and what the owner can do about it."""
    if trust == UNTRUSTED:
        return (
            "an AES plug kshell was not told to trust (AES cannot prove it is yours): not "
            f"logged in, nothing sent; at the prompt, add {host} sends it your cloud login "
            "once you confirm"
        )
    return (
        "asks for login version 1, which sends your cloud password itself (base64): not "
        f"sent; add {host} --send-password allows it for this plug"
    )


def make_transport(
    host: str,
    port: int,
    link: Link,
    timeout: float,
    credentials: Callable[[], Credentials | None],
    trust: str = UNTRUSTED,
) -> Transport:
    """The plug's transport; an AES one gets the owner's credentials only as far as
    ``trust`` allows (by default not at all)."""
    if link.transport == "xor":
        from kshell.device.transports.xor import XorTransport

        return XorTransport(host, port, timeout)
    trusted = allows(trust, link)
    # None: the transport says what to set, when it first needs them (or why it withholds)
    creds = credentials() if trusted else None
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
        withheld="" if trusted else withheld(host, trust, link),
    )


def make_device(
    host: str,
    port: int,
    link: Link,
    timeout: float,
    credentials: Callable[[], Credentials | None],
    trust: str = UNTRUSTED,
) -> Device:
    transport = make_transport(host, port, link, timeout, credentials, trust)
    from kshell.device.device import Device

    if link.family == "smart":
        from kshell.device.protocols.smart import SmartProtocol

        return Device(SmartProtocol(transport))
    from kshell.device.protocols.iot import IotProtocol

    return Device(IotProtocol(transport))
