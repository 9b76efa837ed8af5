"""The XOR autokey codec and framing: known vectors, round trips, hostile bytes."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kshell.device import codec as protocol
from kshell.errors import ProtocolError

# The sysinfo request as every Kasa client sends it, encrypted with first key 171.
SYSINFO_PLAIN = b'{"system":{"get_sysinfo":{}}}'
SYSINFO_CIPHER = bytes.fromhex("d0f281f88bff9af7d5ef94b6d1b4c09fec95e68fe187e8caf08bf68bf6")


def test_known_vector_encrypts_like_real_clients():
    assert protocol.encrypt(SYSINFO_PLAIN) == SYSINFO_CIPHER
    assert protocol.decrypt(SYSINFO_CIPHER) == SYSINFO_PLAIN


def test_first_byte_uses_key_171():
    assert protocol.encrypt(b"\x00") == bytes([171])
    assert protocol._py_encrypt(b"{") == bytes([ord("{") ^ 171])


def test_framed_message_has_big_endian_length():
    message = protocol.encode({"system": {"get_sysinfo": {}}})
    assert message[:4] == struct.pack(">I", len(SYSINFO_CIPHER))
    assert message[4:] == SYSINFO_CIPHER
    assert protocol.decode(message) == {"system": {"get_sysinfo": {}}}


def test_datagram_is_unframed():
    assert protocol.encode_datagram({"system": {"get_sysinfo": {}}}) == SYSINFO_CIPHER


@given(st.binary(max_size=4096))
def test_cipher_round_trips_any_bytes(data):
    assert protocol.decrypt(protocol.encrypt(data)) == data
    assert protocol._py_decrypt(protocol._py_encrypt(data)) == data
    assert protocol.encrypt(data) == protocol._py_encrypt(data)  # C codec agrees when present


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_requests_round_trip(obj):
    assert protocol.decode(protocol.encode(obj)) == obj
    assert protocol.decode_datagram(protocol.encode_datagram(obj)) == obj


@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_protocol_errors(data):
    for decoder in (protocol.decode, protocol.decode_datagram):
        try:
            result = decoder(data)
        except ProtocolError:
            continue
        assert isinstance(result, dict)


def test_oversized_frame_is_refused_before_reading():
    with pytest.raises(ProtocolError, match="more than"):
        protocol.frame_length(struct.pack(">I", protocol.MAX_FRAME + 1))


def test_truncated_header_and_body():
    with pytest.raises(ProtocolError, match="truncated"):
        protocol.frame_length(b"\x00\x00")
    whole = protocol.encode({"a": 1})
    with pytest.raises(ProtocolError, match="announces"):
        protocol.decode(whole[:-2])


def test_non_object_json_is_refused():
    with pytest.raises(ProtocolError, match="expected an object"):
        protocol.decode_datagram(protocol.encrypt(b"[1,2]"))
    with pytest.raises(ProtocolError, match="not valid JSON"):
        protocol.decode_datagram(protocol.encrypt(b'{"a":'))
