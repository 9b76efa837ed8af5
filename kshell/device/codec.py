"""The Kasa IOT wire format: XOR autokey cipher and 4-byte length framing.

Pure functions, no I/O. The cipher starts with key 171; every cipher byte becomes
the key for the next. TCP messages carry a 4-byte big-endian length prefix, UDP
datagrams do not. The C codec from ``kasa-crypt`` and ``orjson`` are used when
installed (optional ``speedups`` extra); the pure-Python fallback is always there.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

from kshell.errors import ProtocolError

FIRST_KEY = 171
HEADER = struct.Struct(">I")
HEADER_SIZE = HEADER.size
MAX_FRAME = 1024 * 1024  # a plug's answer is a few KiB; anything claiming more is hostile


def _py_encrypt(plain: bytes) -> bytes:
    key = FIRST_KEY
    out = bytearray(len(plain))
    for i, byte in enumerate(plain):
        key ^= byte
        out[i] = key
    return bytes(out)


def _py_decrypt(cipher: bytes) -> bytes:
    # each byte's key is the cipher byte before it: the whole answer XORed at once with the
    # cipher shifted by one (as big integers, in C), not a Python loop over every byte
    if not cipher:
        return b""
    keys = bytes((FIRST_KEY,)) + cipher[:-1]
    plain = int.from_bytes(cipher, "big") ^ int.from_bytes(keys, "big")
    return plain.to_bytes(len(cipher), "big")


try:  # optional C implementation (the speedups extra), same results
    from kasa_crypt import decrypt as _c_decrypt
    from kasa_crypt import encrypt as _c_encrypt

    # kasa_crypt works on UTF-8 text and frames what it encrypts; anything else (or a build
    # that disagrees with the reference) falls back to the pure-Python codec.
    def encrypt(plain: bytes) -> bytes:
        """XOR-autokey encrypt ``plain`` (unframed)."""
        try:
            return _c_encrypt(plain.decode("utf-8"))[HEADER_SIZE:]
        except UnicodeDecodeError:
            return _py_encrypt(plain)

    def decrypt(cipher: bytes) -> bytes:
        """XOR-autokey decrypt ``cipher`` (unframed)."""
        try:
            text: str = _c_decrypt(cipher)
            return text.encode("utf-8")
        except UnicodeDecodeError:
            return _py_decrypt(cipher)

    _SAMPLE = '{"system":{"get_sysinfo":{"alias":"Küche ☕"}}}'.encode()
    if encrypt(_SAMPLE) != _py_encrypt(_SAMPLE) or decrypt(_py_encrypt(_SAMPLE)) != _SAMPLE:
        raise ImportError("kasa_crypt disagrees with the reference codec")
except Exception:  # noqa: BLE001 - any problem with the extra means: use the fallback
    encrypt = _py_encrypt
    decrypt = _py_decrypt

try:
    import orjson as _orjson

    def dumps(obj: Any) -> bytes:
        return _orjson.dumps(obj)

    _LOADS: Callable[[bytes], Any] = _orjson.loads  # called directly: one frame less per answer
    _JSON_ERRORS: tuple[type[Exception], ...] = (_orjson.JSONDecodeError, ValueError)
except ImportError:

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    _decoder = json.JSONDecoder()
    _decode_text = _decoder.decode
    # the decoder's own scanner, without its two whitespace regexes
    _scan: Callable[[str, int], tuple[Any, int]] = getattr(_decoder, "scan_once")  # noqa: B009 - typeshed omits the attribute

    def _stdlib_loads(raw: bytes) -> Any:
        # UTF-8, as orjson reads it (json.loads would sniff for UTF-16 and -32 every time);
        # a plug's answer has no whitespace around it: scanned at once, else decoded fully
        text = raw.decode("utf-8")
        try:
            obj, end = _scan(text, 0)
        except StopIteration:
            return _decode_text(text)  # raises the decoder's own error
        return obj if end == len(text) else _decode_text(text)

    _LOADS = _stdlib_loads
    _JSON_ERRORS = (ValueError,)


def encode(request: dict[str, Any]) -> bytes:
    """A request as a framed TCP message."""
    payload = encrypt(dumps(request))
    return HEADER.pack(len(payload)) + payload


def encode_datagram(request: dict[str, Any]) -> bytes:
    """A request as an unframed UDP datagram."""
    return encrypt(dumps(request))


def frame_length(header: bytes) -> int:
    """Length announced by a 4-byte header; refuses truncated headers and huge frames."""
    if len(header) != HEADER_SIZE:
        raise ProtocolError(f"truncated frame header ({len(header)} of 4 bytes)")
    length = int(HEADER.unpack(header)[0])
    if length > MAX_FRAME:
        raise ProtocolError(f"frame claims {length} bytes, more than the {MAX_FRAME} allowed")
    return length


def parse_payload(plain: bytes) -> dict[str, Any]:
    """Decrypted bytes -> JSON object, or a ProtocolError saying what was wrong."""
    try:
        obj = _LOADS(plain)
    except _JSON_ERRORS as exc:
        raise ProtocolError(f"answer is not valid JSON ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the device's fault
        raise ProtocolError(f"answer is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"answer is JSON {type(obj).__name__}, expected an object")
    return obj


def decode(message: bytes) -> dict[str, Any]:
    """A complete framed TCP message -> JSON object."""
    length = frame_length(message[:HEADER_SIZE])
    body = message[HEADER_SIZE:]
    if len(body) != length:
        raise ProtocolError(f"frame announces {length} bytes but carries {len(body)}")
    return parse_payload(decrypt(body))


def decode_datagram(datagram: bytes) -> dict[str, Any]:
    """An unframed UDP datagram -> JSON object."""
    if len(datagram) > MAX_FRAME:
        raise ProtocolError("datagram too large")
    return parse_payload(decrypt(datagram))
