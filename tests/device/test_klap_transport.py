"""KLAP transport over real loopback sockets, against tests/klap_peer.py (a test plug),
with python-kasa as the judge of the wire format."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

import pytest
from helpers.clock import FakeClock
from helpers.klap_peer import PeerPlug
from helpers.waiting import eventually
from kasa.credentials import Credentials as KasaCredentials
from kasa.deviceconfig import (
    DeviceConfig,
    DeviceConnectionParameters,
    DeviceEncryptionType,
    DeviceFamily,
)
from kasa.transports.klaptransport import KlapEncryptionSession
from kasa.transports.klaptransport import KlapTransport as KasaKlapV1
from kasa.transports.klaptransport import KlapTransportV2 as KasaKlapV2

from kshell.device.transports import defaults
from kshell.device.transports.base import Credentials
from kshell.device.transports.klap import (
    SEQ_MAX,
    KlapKeys,
    KlapSession,
    KlapTransport,
    ProofMismatch,
    ThirdPartyOff,
    auth_hash,
    client_proof,
    server_proof,
)
from kshell.errors import AuthenticationError, DeviceTimeout, ProtocolError, TransportError

HOST = "127.0.0.1"
OWNER = Credentials("owner@example.com", "s3cret")
READ = b'{"method":"get_device_info"}'
SWITCH = b'{"method":"set_device_info","params":{"device_on":true}}'


def run(coro):
    return asyncio.run(coro)


async def plug(**options) -> PeerPlug:
    return await PeerPlug(**options).start(HOST)


def client(peer: PeerPlug, credentials=OWNER, **options) -> KlapTransport:
    options.setdefault("timeout", 2.0)
    options.setdefault("login_version", peer.login_version)
    return KlapTransport(HOST, peer.port, credentials=credentials, **options)


def echoed(answer: bytes) -> dict:
    return json.loads(answer)["result"]["echo"]


# -- the wire format, judged by python-kasa --------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_hashes_keys_and_ciphertext_match_python_kasa(version):
    kasa_class = KasaKlapV1 if version == 1 else KasaKlapV2
    local, remote = secrets.token_bytes(16), secrets.token_bytes(16)
    auth = auth_hash(version, OWNER)
    assert auth == kasa_class.generate_auth_hash(KasaCredentials(OWNER.username, OWNER.password))
    assert server_proof(version, local, remote, auth) == kasa_class.handshake1_seed_auth_hash(
        local, remote, auth
    )
    assert client_proof(version, local, remote, auth) == kasa_class.handshake2_seed_auth_hash(
        local, remote, auth
    )
    theirs = KlapEncryptionSession(local, remote, auth)
    keys = KlapKeys.derive(local, remote, auth)
    assert (keys.key, keys.iv_prefix, keys.signature_key, keys.first_seq) == (
        theirs._key,
        theirs._iv,
        theirs._sig,
        theirs._seq,
    )
    ours = KlapSession(keys, "ID")
    for message in (b"{}", READ, b"x" * 16, "é".encode() * 100):
        their_body, their_seq = theirs.encrypt(message)
        seq, body = ours.encrypt(message)
        assert (seq, body) == (their_seq, their_body)
        assert ours.decrypt(seq, body) == message
        assert theirs.decrypt(body) == message.decode()


@pytest.mark.parametrize("version", [1, 2])
def test_python_kasa_talks_to_the_test_peer(version):
    """The peer the other tests use speaks the real protocol."""

    async def go():
        peer = await plug(login_version=version)
        config = DeviceConfig(
            HOST,
            port_override=peer.port,
            credentials=KasaCredentials(*peer.holds),
            connection_type=DeviceConnectionParameters(
                DeviceFamily.SmartTapoPlug, DeviceEncryptionType.Klap, login_version=version
            ),
        )
        transport = (KasaKlapV1 if version == 1 else KasaKlapV2)(config=config)
        try:
            answer = await transport.send(READ.decode())
        finally:
            await transport.close()
            await peer.stop()
        assert answer["result"]["echo"] == {"method": "get_device_info"}

    run(go())


# -- sessions --------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_one_session_serves_many_requests_in_sequence(version):
    async def go():
        peer = await plug(login_version=version)
        transport = client(peer)
        assert not transport.session_established
        for n in range(20):
            assert echoed(await transport.send(b'{"n":%d}' % n, idempotent=True)) == {"n": n}
        assert transport.session_established and transport.login_version == version
        assert (peer.handshakes, transport.handshakes, peer.connections) == (1, 1, 1)
        assert peer.seqs == list(range(peer.seqs[0], peer.seqs[0] + 20))
        assert transport.credentials_source == defaults.OWNER
        transport.close()
        assert not transport.session_established
        await transport.send(READ, idempotent=True)
        assert peer.handshakes == 2
        await peer.stop()

    run(go())


def test_the_other_login_version_is_taken_when_the_plug_proves_it():
    async def go():
        peer = await plug(login_version=1)
        transport = client(peer, login_version=2)
        await transport.send(READ, idempotent=True)
        assert transport.login_version == 1
        await peer.stop()

    run(go())


def test_expired_session_is_renewed_and_a_switch_is_carried_out_once():
    async def go():
        peer = await plug()
        transport = client(peer)
        await transport.send(READ, idempotent=True)
        peer.forget_sessions()  # the plug rebooted, or its session timed out
        assert echoed(await transport.send(SWITCH, idempotent=False))["params"] == {
            "device_on": True
        }
        assert peer.refusals == 1 and peer.handshakes == 2
        assert peer.processed.count(SWITCH) == 1
        await peer.stop()

    run(go())


def test_session_is_renewed_before_the_plug_timeout_runs_out():
    async def go():
        peer = await plug(timeout_cookie="2")  # renewed after 1.5 s, before the plug drops it
        clock = FakeClock()
        transport = client(peer, clock=clock)
        await transport.send(READ, idempotent=True)
        await transport.send(READ, idempotent=True)
        assert peer.handshakes == 1
        clock.advance(1.4)
        assert transport.session_established
        clock.advance(0.2)
        assert not transport.session_established
        await transport.send(SWITCH, idempotent=False)
        assert (peer.handshakes, peer.refusals) == (2, 0)
        await peer.stop()

    run(go())


def test_plain_session_timeout_code_renews_the_session():
    async def go():
        peer = await plug()
        transport = client(peer)
        await transport.send(READ, idempotent=True)
        peer.plain_error = 9999
        await transport.send(SWITCH, idempotent=False)
        assert peer.handshakes == 2 and peer.processed == [READ, SWITCH]
        await peer.stop()

    run(go())


# -- credentials and identity ----------------------------------------------------------


def test_wrong_password_is_refused_at_handshake1_without_sending_anything():
    async def go():
        peer = await plug()
        transport = client(peer, credentials=Credentials(OWNER.username, "wrong-pass"))
        with pytest.raises(ProofMismatch) as caught:
            await transport.send(SWITCH, idempotent=False)
        message = str(caught.value)
        assert message.startswith(f"{HOST}:{peer.port}: ") and "\n" not in message
        assert "e-mail or password is wrong" in message and "not the plug" in message
        assert "wrong-pass" not in message and "s3cret" not in message
        assert caught.value.kind == "auth" and caught.value.proves is None
        assert peer.processed == [] and all(not s.confirmed for s in peer.klap.values())
        await peer.stop()

    run(go())


def test_no_credentials_says_what_to_set():
    async def go():
        peer = await plug()
        with pytest.raises(AuthenticationError, match="KSHELL_USERNAME and KSHELL_PASSWORD"):
            await client(peer, credentials=None).send(READ, idempotent=True)
        await peer.stop()

    run(go())


@pytest.mark.parametrize("name,pair", defaults.SETUP_CREDENTIALS)
def test_setup_defaults_only_when_asked(name, pair):
    async def go():
        peer = await plug(holds=(pair.username, pair.password))
        with pytest.raises(ProofMismatch) as caught:
            await client(peer).send(READ, idempotent=True)
        assert caught.value.proves == name and "not bound to a cloud account" in str(caught.value)
        transport = client(peer, try_defaults=True)
        await transport.send(READ, idempotent=True)
        assert transport.credentials_source == name
        await peer.stop()

    run(go())


def test_third_party_compatibility_off_says_so():
    async def go():
        peer = await plug(third_party_off=True)
        with pytest.raises(ThirdPartyOff, match="third-party compatibility is probably off"):
            await client(peer).send(READ, idempotent=True)
        await peer.stop()

    run(go())


def test_handshake2_refused_is_an_authentication_error():
    async def go():
        peer = await plug(refuse_handshake2=True)
        transport = client(peer)
        with pytest.raises(AuthenticationError, match="refused the shell's proof in handshake2"):
            await transport.send(SWITCH, idempotent=False)
        assert not transport.session_established and peer.processed == []
        await peer.stop()

    run(go())


# -- bad answers, within the deadline, nothing sent twice -------------------------------


@pytest.mark.parametrize(
    "raw,expected",
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n\x1b[2J\r\n\r\n", "garbage instead of an HTTP status line"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 9000, "HTTP header over 8 KiB"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n", "over the 512 KiB limit"),
        (b"HTTP/1.1 200 OK\r\n\r\nhello", "without a Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello", "chunked"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nshort", "not a signature and AES"),
        (b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", "HTTP 500 to a KLAP request"),
    ],
)
def test_bad_http_is_one_clean_line_and_the_switch_is_not_repeated(raw, expected):
    async def go():
        peer = await plug(raw=raw)
        transport = client(peer)
        started = time.monotonic()
        with pytest.raises(ProtocolError) as caught:
            await transport.send(SWITCH, idempotent=False)
        assert time.monotonic() - started < 1.5
        message = str(caught.value)
        assert expected in message and message.startswith(HOST)
        assert message.isprintable()
        assert peer.processed == [SWITCH]
        await peer.stop()

    run(go())


def test_garbage_handshake_answers():
    async def go():
        for raw, expected in [
            (PeerPlug.http(200, b"short"), "handshake1 answer of 5 bytes, not 48"),
            (PeerPlug.http(200, b'{"error_code":1003}'), "1003, unknown credentials"),
            (PeerPlug.http(404), "HTTP 404 to handshake1"),
        ]:
            peer = await plug(raw_on_handshake=raw)
            with pytest.raises(ProtocolError, match=expected):
                await client(peer).send(READ, idempotent=True)
            await peer.stop()

    run(go())


def test_an_answer_that_does_not_decrypt_drops_the_session():
    async def go():
        peer = await plug(undecryptable=True)
        transport = client(peer)
        with pytest.raises(ProtocolError, match="does not decrypt"):
            await transport.send(SWITCH, idempotent=False)
        assert not transport.session_established and peer.processed == [SWITCH]
        peer.undecryptable = False
        await transport.send(READ, idempotent=True)
        assert peer.handshakes == 2
        await peer.stop()

    run(go())


def test_slow_answers_within_the_deadline_are_fine():
    async def go():
        peer = await plug(delay=0.3)  # handshake1, handshake2 and the request: 0.9 s in all
        transport = client(peer, timeout=2.0)
        assert echoed(await transport.send(READ, idempotent=True)) == {"method": "get_device_info"}
        await peer.stop()

    run(go())


def test_one_deadline_covers_the_handshake_and_a_slow_switch_is_not_sent_again():
    async def go():
        peer = await plug(delay=0.4)
        transport = client(peer, timeout=1.0)  # 0.8 s of handshake leaves 0.2 s for the switch
        started = time.monotonic()
        with pytest.raises(DeviceTimeout, match="no answer within 1 s"):
            await transport.send(SWITCH, idempotent=False)
        assert time.monotonic() - started < 1.3
        await eventually(lambda: peer.processed)  # it got there (the plug answers late)
        assert peer.processed == [SWITCH] and peer.connections == 1  # and was not sent again
        await peer.stop()

    run(go())


def test_a_switch_the_plug_took_without_answering_is_not_sent_again():
    async def go():
        peer = await plug()
        transport = client(peer)
        await transport.send(READ, idempotent=True)
        peer.close_after_processing = 1
        with pytest.raises(TransportError, match="not sent again"):
            await transport.send(SWITCH, idempotent=False)
        assert peer.processed.count(SWITCH) == 1
        await peer.stop()

    run(go())


def test_a_read_on_a_dropped_kept_connection_is_sent_again():
    async def go():
        peer = await plug()
        transport = client(peer)
        await transport.send(READ, idempotent=True)
        peer.close_before_processing = 1
        await transport.send(b'{"n":1}', idempotent=True)
        assert peer.processed == [READ, b'{"n":1}'] and peer.connections == 2
        await peer.stop()

    run(go())


def test_refused_connection_is_one_line():
    async def go():
        peer = await plug()
        port = peer.port
        await peer.stop()
        transport = KlapTransport(HOST, port, credentials=OWNER, timeout=1)
        with pytest.raises(TransportError, match=f"connection refused on port {port}"):
            await transport.send(READ, idempotent=True)

    run(go())


def test_one_request_in_flight_per_plug():
    async def go():
        peer = await plug(delay=0.05)
        transport = client(peer)
        answers = await asyncio.gather(
            *(transport.send(b'{"n":%d}' % n, idempotent=True) for n in range(8))
        )
        assert [echoed(a)["n"] for a in answers] == list(range(8))
        assert (peer.handshakes, peer.connections) == (1, 1)
        await peer.stop()

    run(go())


@pytest.mark.parametrize("fresh_after", [0.2, None])
def test_a_switch_never_goes_out_on_a_line_idle_long_enough_to_be_dropped(fresh_after):
    async def go():
        peer = await plug(idle_drop=0.3)  # the plug drops connections idle for 0.3 s
        transport = client(peer)
        transport.fresh_line_after = fresh_after if fresh_after is not None else 3600.0
        await transport.send(READ, idempotent=True)
        await asyncio.sleep(0.5)
        if fresh_after is None:  # what happens without the rule: a switch that may be lost
            with pytest.raises(TransportError, match="not sent again"):
                await transport.send(SWITCH, idempotent=False)
            assert peer.processed == [READ]
        else:
            await transport.send(SWITCH, idempotent=False)
            assert peer.processed == [READ, SWITCH] and peer.connections == 2
        await peer.stop()

    run(go())


def test_a_session_whose_sequence_numbers_run_out_is_renewed_not_wrapped():
    async def go():
        peer = await plug()
        transport = client(peer)
        await transport.send(READ, idempotent=True)
        transport._session.seq = SEQ_MAX - 1  # as after two billion requests
        await transport.send(READ, idempotent=True)  # the last number: SEQ_MAX
        assert peer.seqs[-1] == SEQ_MAX and peer.handshakes == 1
        await transport.send(READ, idempotent=True)
        assert peer.handshakes == 2 and peer.seqs[-1] != -(2**31)
        await peer.stop()

    run(go())
