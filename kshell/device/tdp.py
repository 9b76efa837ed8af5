"""The current generation's announcement on UDP 20002: the probe, and what an answer says.

Facts: docs/protocols.md. The probe is the payload-less one (16 bytes, made once: no
RSA key to generate, so discovery keeps its time budget); the answer is a 16-byte header and
JSON whose ``result`` names the family (``device_type``), the transport (``mgt_encrypt_schm``)
and the login version. What a plug announces is untrusted: every field is type-checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kshell.device.pool import Link

PORT = 20002
HEADER = struct.Struct(">BBHHBBII")
CRC_SLOT = 0x5A6B7C8D
MAX_ANSWER = 16 * 1024


def _packet(payload: bytes) -> bytes:
    flags = 0x11 if payload else 0  # python-kasa's payload-less probe carries no flags
    head = HEADER.pack(2, 0, 1, len(payload), flags, 0, 0, CRC_SLOT)
    crc = zlib.crc32(head + payload) & 0xFFFFFFFF
    return head[:12] + struct.pack(">I", crc) + payload


PROBE = _packet(b"")


@dataclass(frozen=True)
class Announcement:
    """One plug's answer to the probe."""

    host: str
    link: Link
    model: str
    device_type: str
    device_id: str
    mac: str
    http_port: int
    factory_default: bool
    owner: str

    @property
    def label(self) -> str:
        return f"{self.link.family.upper()} over {self.link.transport.upper()}"


def _text(result: dict[str, Any], key: str, limit: int = 64) -> str:
    value = result.get(key)
    return value[:limit] if isinstance(value, str) else ""


def parse(host: str, data: bytes) -> Announcement | None:
    """An answer datagram -> Announcement; None when it is not one we can use."""
    if len(data) <= HEADER.size or len(data) > MAX_ANSWER:
        return None
    try:
        body = json.loads(data[HEADER.size :])
    except (ValueError, UnicodeDecodeError):
        return None
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, dict):
        return None
    device_type = _text(result, "device_type")
    family = device_type.split(".", 1)[0].lower()
    if family not in ("iot", "smart"):
        return None
    scheme = result.get("mgt_encrypt_schm")
    scheme = scheme if isinstance(scheme, dict) else {}
    encryption = scheme.get("encrypt_type")
    if not isinstance(encryption, str):
        info = result.get("encrypt_info")
        encryption = info.get("sym_schm") if isinstance(info, dict) else None
    transport = encryption.lower() if isinstance(encryption, str) else ""
    if transport not in ("klap", "aes") or scheme.get("is_support_https") is True:
        return None
    version = _login_version(scheme, result, family, transport)
    port = scheme.get("http_port")
    factory = result.get("factory_default") is True
    return Announcement(
        host=host,
        link=Link(family, transport, version, factory),
        model=_text(result, "device_model"),
        device_type=device_type,
        device_id=_text(result, "device_id", 80),
        mac=_text(result, "mac").replace("-", ":").upper(),
        http_port=port if isinstance(port, int) and 0 < port < 65536 else 80,
        factory_default=factory,
        owner=_text(result, "owner"),
    )


def _login_version(scheme: dict[str, Any], result: dict[str, Any], family: str, kind: str) -> int:
    lv = scheme.get("lv")
    if isinstance(lv, int) and lv in (1, 2):
        version = lv
    else:
        listed = result.get("encrypt_type")
        found = [int(v) for v in listed if v in ("1", "2")] if isinstance(listed, list) else []
        version = max(found) if found else 1  # IOT over KLAP without lv: login version 1
    if family == "smart" and kind == "klap":
        return 2  # SMART over KLAP is always version 2 (lv is not consulted)
    return version


class _Answers(asyncio.DatagramProtocol):
    def __init__(self, wanted: str | None) -> None:
        self.wanted = wanted
        self.found: dict[str, Announcement] = {}
        self.done = asyncio.get_running_loop().create_future()
        self.on_new: Callable[[Announcement], None] | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        announcement = parse(addr[0], data)
        if announcement is None or addr[0] in self.found:
            return
        self.found[addr[0]] = announcement
        if self.on_new is not None:
            self.on_new(announcement)
        if self.wanted == addr[0] and not self.done.done():
            self.done.set_result(None)

    def error_received(self, exc: Exception) -> None:  # ICMP: nothing to collect
        pass


async def probe(host: str, port: int = PORT, timeout: float = 1.0) -> Announcement | None:
    """Ask one host directly; its announcement, or None when it says nothing in time."""
    loop = asyncio.get_running_loop()
    answers = _Answers(host)
    transport, _ = await loop.create_datagram_endpoint(lambda: answers, family=socket.AF_INET)
    try:
        for attempt in range(3):
            try:
                transport.sendto(PROBE, (host, port))
            except OSError:
                return None
            try:
                await asyncio.wait_for(asyncio.shield(answers.done), timeout / 3)
                break
            except TimeoutError:
                continue
    finally:
        transport.close()
    return answers.found.get(host)


async def listen(
    addresses: list[str],
    port: int = PORT,
    timeout: float = 3.0,
    *,
    rounds: int = 3,
    on_answer: Callable[[Announcement], None] | None = None,
    until: asyncio.Event | None = None,
) -> list[Announcement]:
    """Send the probe to each address (broadcast or unicast) in ``rounds`` spread over the
    first part of ``timeout``; every announcement heard until ``timeout`` (or until ``until``
    is set: the old generation's round ended early), each host once."""
    loop = asyncio.get_running_loop()
    answers = _Answers(None)
    if on_answer is not None:
        answers.on_new = on_answer
    transport, _ = await loop.create_datagram_endpoint(
        lambda: answers, family=socket.AF_INET, allow_broadcast=True
    )
    started = loop.time()
    try:
        for n in range(rounds):
            for address in addresses:
                try:
                    transport.sendto(PROBE, (address, port))
                except OSError:
                    continue  # an unreachable interface: the 9999 side reports it
            if n + 1 < rounds:
                await asyncio.sleep(min(0.2, timeout / (rounds + 1)))
        rest = max(0.0, timeout - (loop.time() - started))
        if until is None:
            await asyncio.sleep(rest)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), rest)
    finally:
        transport.close()
    return list(answers.found.values())
