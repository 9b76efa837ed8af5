"""Discovery of the current generation on UDP 20002: the probe a client sends, the plug's answer.

Facts (python-kasa ``kasa/discover.py`` ``_AesDiscoveryQuery``, ``Discover._get_discovery_json``;
docs/protocols.md, "Announcements"): a 16-byte big-endian header, version 2, msg_type 0,
op_code 1, payload length (u16), flags, a reserved byte, a 32-bit serial and a CRC32 of the
whole packet computed while the CRC slot holds ``0x5A6B7C8D``; then JSON. A probe's JSON is
``{"params":{"rsa_key": PEM}}`` or absent; the answer is ``{"error_code":0,"result":{...}}``
sent from the plug's own address and port 20002.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kshell.simulator.accounts import Account
    from kshell.simulator.plug import SimPlug

HEADER = struct.Struct(">BBHHBBII")
CRC_PLACEHOLDER = 0x5A6B7C8D
MAX_PROBE = 4096  # a probe with a 2048-bit key is about 500 bytes


def _crc(packet: bytes) -> int:
    head = packet[:12] + struct.pack(">I", CRC_PLACEHOLDER)
    return zlib.crc32(head + packet[16:]) & 0xFFFFFFFF


def pack(payload: bytes, *, op_code: int = 1, flags: int = 0, serial: int = 0) -> bytes:
    """A TDP packet around ``payload`` with its CRC filled in."""
    head = HEADER.pack(2, 0, op_code, len(payload), flags, 0, serial, CRC_PLACEHOLDER)
    crc = zlib.crc32(head + payload) & 0xFFFFFFFF
    return head[:12] + struct.pack(">I", crc) + payload


def parse_probe(data: bytes) -> dict[str, Any] | None:
    """The probe's JSON ({} without payload), or None when this is not a valid probe."""
    if len(data) < HEADER.size or len(data) > MAX_PROBE:
        return None
    version, _msg_type, op_code, length, _flags, _res, _serial, crc = HEADER.unpack_from(data)
    if version != 2 or op_code != 1 or length != len(data) - HEADER.size:
        return None
    if crc != _crc(data):
        return None
    if not length:
        return {}
    try:
        body = json.loads(data[HEADER.size :])
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def answer(result: dict[str, Any]) -> bytes:
    """The plug's discovery answer datagram."""
    payload = json.dumps({"error_code": 0, "result": result}, separators=(",", ":")).encode()
    return pack(payload, op_code=1)


def discovery_result(plug: SimPlug, account: Account | None) -> dict[str, Any]:
    """The ``result`` of a KLAP/AES plug's answer to a 20002 probe (python-kasa's recordings)."""
    kind = plug.kind
    schm: dict[str, Any] = {
        "encrypt_type": plug.transport.upper(),
        "http_port": plug.http_port,
        "is_support_https": False,
    }
    if kind.device_type.startswith("SMART.") or plug.login_version >= 2:
        schm["lv"] = plug.login_version  # HS100(UK) 4.1 (IOT, login v1) sends no lv
    result: dict[str, Any] = {
        "device_id": plug.device_id[-32:],
        "device_model": kind.model,
        "device_type": kind.device_type,
        "factory_default": plug.spec.factory_default,
        "ip": plug.host,
        "is_support_iot_cloud": True,
        "mac": plug.mac.replace(":", "-"),
        "mgt_encrypt_schm": schm,
        "obd_src": "tplink",
        "owner": "" if plug.spec.factory_default or account is None else account.owner,
    }
    if kind.device_type.startswith("IOT."):
        result["hw_ver"] = kind.hw_ver
    return result
