"""AES ("securePassthrough") transport over real loopback sockets, against tests/klap_peer.py,
with python-kasa as the judge of the wire format."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time

import pytest
from helpers.klap_peer import PeerPlug
from helpers.waiting import eventually
from kasa.credentials import Credentials as KasaCredentials
from kasa.deviceconfig import (
    DeviceConfig,
    DeviceConnectionParameters,
    DeviceEncryptionType,
    DeviceFamily,
)
from kasa.transports.aestransport import AesEncyptionSession
from kasa.transports.aestransport import AesTransport as KasaAes

from kshell.device.transports import defaults
from kshell.device.transports.aes import AesSession, AesTransport, login_params, rsa_key_pair
from kshell.device.transports.base import Credentials
from kshell.errors import AuthenticationError, DeviceTimeout, ProtocolError, TransportError

HOST = "127.0.0.1"
OWNER = Credentials("owner@example.com", "s3cret")
READ = b'{"method":"get_device_info"}'
SWITCH = b'{"method":"set_device_info","params":{"device_on":false}}'


def run(coro):
    return asyncio.run(coro)


async def plug(**options) -> PeerPlug:
    return await PeerPlug(mode="aes", **options).start(HOST)


def client(peer: PeerPlug, credentials=OWNER, **options) -> AesTransport:
    options.setdefault("timeout", 2.0)
    options.setdefault("login_version", peer.login_version)
    return AesTransport(HOST, peer.port, credentials=credentials, **options)


@pytest.mark.parametrize("version", [1, 2])
def test_login_params_and_session_crypto_match_python_kasa(version):
    username, password = KasaAes.hash_credentials(
        version == 2, KasaCredentials(OWNER.username, OWNER.password)
    )
    field = "password2" if version == 2 else "password"
    assert login_params(version, OWNER) == {"username": username, field: password}
    if version == 1:  # the password itself, in base64: what AES cannot protect
        assert base64.b64decode(password) == b"s3cret"
    key, iv = secrets.token_bytes(16), secrets.token_bytes(16)
    theirs, ours = AesEncyptionSession(key, iv), AesSession(key, iv, "ID")
    for message in (b"{}", READ, b"y" * 32):
        assert ours.encrypt(message) == theirs.encrypt(message).decode()
        assert ours.decrypt(theirs.encrypt(message).decode()) == message


def test_the_rsa_key_pair_is_made_once_per_process():
    assert rsa_key_pair() is rsa_key_pair()
    assert rsa_key_pair()[0].key_size == 1024


@pytest.mark.parametrize("version", [1, 2])
def test_python_kasa_talks_to_the_test_peer(version):
    async def go():
        peer = await plug(login_version=version)
        config = DeviceConfig(
            HOST,
            port_override=peer.port,
            credentials=KasaCredentials(*peer.holds),
            connection_type=DeviceConnectionParameters(
                DeviceFamily.SmartTapoPlug, DeviceEncryptionType.Aes, login_version=version
            ),
        )
        transport = KasaAes(config=config)
        try:
            answer = await transport.send(READ.decode())
        finally:
            await transport.close()
            await peer.stop()
        assert answer["result"]["echo"] == {"method": "get_device_info"}

    run(go())


@pytest.mark.parametrize("version", [1, 2])
def test_one_login_serves_many_requests(version):
    async def go():
        peer = await plug(login_version=version)
        transport = client(peer)
        for n in range(10):
            answer = json.loads(await transport.send(b'{"n":%d}' % n, idempotent=True))
            assert answer["result"]["echo"] == {"n": n}
        assert (peer.handshakes, len(peer.logins), peer.connections) == (1, 1, 1)
        assert peer.handshake_sizes == [314]  # byte for byte the size python-kasa sends
        assert transport.session_established and not transport.authenticates_plug
        assert transport.credentials_source == defaults.OWNER
        await peer.stop()

    run(go())


def test_session_timeout_9999_renews_and_a_switch_is_carried_out_once():
    async def go():
        peer = await plug()
        transport = client(peer)
        await transport.send(READ, idempotent=True)
        peer.forget_sessions()
        await transport.send(SWITCH, idempotent=False)
        assert (peer.refusals, peer.handshakes, len(peer.logins)) == (1, 2, 2)
        assert peer.processed.count(SWITCH) == 1
        await peer.stop()

    run(go())


def test_wrong_password_is_one_line_and_never_falls_back_to_login_version_1():
    async def go():
        peer = await plug()
        transport = client(peer, credentials=Credentials(OWNER.username, "wrong-pass"))
        started = time.monotonic()
        with pytest.raises(AuthenticationError) as caught:
            await transport.send(SWITCH, idempotent=False)
        assert time.monotonic() - started < 1.0
        message = str(caught.value)
        assert message.startswith(HOST) and "-1501" in message and "KSHELL_PASSWORD" in message
        assert "wrong-pass" not in message and "\n" not in message
        assert all("password" not in login for login in peer.logins)  # v1 would send it
        assert peer.processed == []
        await peer.stop()

    run(go())


def test_setup_default_only_for_a_factory_default_plug():
    async def go():
        tapo = defaults.TAPO_SETUP
        peer = await plug(holds=(tapo.username, tapo.password))
        with pytest.raises(AuthenticationError):
            await client(peer).send(READ, idempotent=True)
        transport = client(peer, try_defaults=True)
        await transport.send(READ, idempotent=True)
        assert transport.credentials_source == "the Tapo setup default"
        await peer.stop()

    run(go())


def test_bad_answers_are_one_line():
    async def go():
        cases = [
            (PeerPlug.http(200, b"<html>"), "is not JSON: '<html>'"),
            (PeerPlug.http(200, b'{"error_code":0}'), "lacks a readable result.response"),
            (PeerPlug.http(200, b'{"error_code":-1002}'), "securePassthrough answered error_code"),
            (PeerPlug.http(200, b'{"error_code":1003}'), "1003, unknown credentials"),
            (PeerPlug.http(200, b"[1]"), "not an object"),
            (b"\x00\x01garbage\r\n\r\n", "garbage instead of an HTTP status line"),
        ]
        for raw, expected in cases:
            peer = await plug(raw=raw)
            with pytest.raises((ProtocolError, AuthenticationError)) as caught:
                await client(peer).send(SWITCH, idempotent=False)
            assert expected in str(caught.value) and str(caught.value).isprintable()
            assert peer.processed == [SWITCH]
            await peer.stop()

    run(go())


def test_bad_handshakes():
    async def go():
        key = base64.b64encode(b"\x00" * 128).decode()
        cases = [
            (PeerPlug.http(200, b'{"error_code":-1010}'), "handshake answered error_code -1010"),
            (PeerPlug.http(200, b'{"error_code":0,"result":{}}'), "lacks a readable result.key"),
            (
                PeerPlug.http(200, json.dumps({"error_code": 0, "result": {"key": key}}).encode()),
                "does not decrypt with the shell's RSA key",
            ),
            (PeerPlug.http(500), "HTTP 500 to the handshake"),
        ]
        for raw, expected in cases:
            peer = await plug(raw_on_handshake=raw)
            with pytest.raises(ProtocolError, match=expected):
                await client(peer).send(READ, idempotent=True)
            await peer.stop()

    run(go())


def test_an_answer_that_does_not_decrypt():
    async def go():
        peer = await plug(undecryptable=True)
        with pytest.raises(ProtocolError, match="does not decrypt"):
            await client(peer).send(SWITCH, idempotent=False)
        assert peer.processed == [SWITCH]
        await peer.stop()

    run(go())


def test_deadline_and_nothing_sent_twice():
    async def go():
        peer = await plug(delay=0.4)
        transport = client(peer, timeout=1.0)  # handshake + login take 0.8 s
        started = time.monotonic()
        with pytest.raises(DeviceTimeout):
            await transport.send(SWITCH, idempotent=False)
        assert time.monotonic() - started < 1.3
        await eventually(lambda: peer.processed)  # it got there (the plug answers late)
        assert peer.processed == [SWITCH] and peer.connections == 1  # and was not sent again
        peer.delay = 0
        await transport.send(READ, idempotent=True)
        peer.close_after_processing = 1
        with pytest.raises(TransportError, match="not sent again"):
            await transport.send(SWITCH, idempotent=False)
        assert peer.processed.count(SWITCH) == 2  # the timed-out one and this one, once each
        await peer.stop()

    run(go())
