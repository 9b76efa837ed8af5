"""The KLAP and AES transports against the simulator's current-generation plugs (the other
side, written apart from the client, proven by python-kasa in test_sim_interop.py), over real
sockets on 127.13.x.y."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from helpers.clock import FakeClock

from kshell.device.transports.aes import AesTransport
from kshell.device.transports.base import Credentials
from kshell.device.transports.http import HttpTransport
from kshell.device.transports.klap import KlapTransport, ProofMismatch, ThirdPartyOff
from kshell.errors import AuthenticationError, DeviceTimeout, ProtocolError
from kshell.simulator import DEMO_ACCOUNT, PlugSpec, SimulatorThread

OWNER = Credentials(DEMO_ACCOUNT.username, DEMO_ACCOUNT.password)
INFO = b'{"method":"get_device_info"}'
SYSINFO = b'{"system":{"get_sysinfo":{}}}'


def switch(on: bool) -> bytes:
    return json.dumps({"method": "set_device_info", "params": {"device_on": on}}).encode()


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(host="127.13.0.1", model="P110(EU) 1.0", http_port=0, tdp_port=None),
        PlugSpec(host="127.13.0.2", model="HS100(UK) 4.1", http_port=0, tdp_port=None),
        PlugSpec(host="127.13.0.3", model="HS220(US) 3.26", http_port=0, tdp_port=None),
        PlugSpec(
            host="127.13.0.4", model="P110(EU) 1.0", http_port=0, tdp_port=None, session_timeout=2
        ),
    ]
    with SimulatorThread(specs, account=DEMO_ACCOUNT).start() as running:
        yield running


def transport(sim: SimulatorThread, host: str, credentials=OWNER, **options) -> HttpTransport:
    plug = sim.plug(host)
    kind = AesTransport if plug.transport == "aes" else KlapTransport
    options.setdefault("login_version", plug.login_version)
    return kind(host, plug.http_port, credentials=credentials, timeout=3.0, **options)


def answer(raw: bytes) -> dict:
    value = json.loads(raw)
    assert value.get("error_code", 0) == 0, value
    return value


def test_smart_over_klap_v2_aes_and_iot_over_klap_v1(sim):
    async def go():
        p110 = transport(sim, "127.13.0.1")
        info = answer(await p110.send(INFO, idempotent=True))["result"]
        assert info["model"] == "P110"
        hs220 = transport(sim, "127.13.0.3")
        assert answer(await hs220.send(INFO, idempotent=True))["result"]["model"] == "HS220"
        hs100 = transport(sim, "127.13.0.2")
        sysinfo = answer(await hs100.send(SYSINFO, idempotent=True))["system"]["get_sysinfo"]
        assert sysinfo["model"].startswith("HS100")
        assert (p110.login_version, hs100.login_version, hs220.login_version) == (2, 1, 2)
        assert (p110.scheme, hs220.scheme) == ("KLAP", "AES")

    asyncio.run(go())


@pytest.mark.parametrize("host", ["127.13.0.1", "127.13.0.3"])
def test_a_kept_session_switches_and_reads_and_survives_an_expired_one(sim, host):
    async def go():
        link = transport(sim, host)
        for on in (False, True, False):
            answer(await link.send(switch(on), idempotent=False))
            info = answer(await link.send(INFO, idempotent=True))["result"]
            assert info["device_on"] is on
        assert link.handshakes == 1
        sim.set_fault(host, "session_expired")
        answer(await link.send(switch(True), idempotent=False))
        assert answer(await link.send(INFO, idempotent=True))["result"]["device_on"] is True
        assert link.handshakes == 2

    asyncio.run(go())


def test_session_renewed_before_the_plug_forgets_it(sim):
    async def go():
        clock = FakeClock()
        link = transport(sim, "127.13.0.4", clock=clock)  # TIMEOUT=2: renewed after 1.5 s
        await link.send(INFO, idempotent=True)
        clock.advance(1.4)
        await link.send(INFO, idempotent=True)
        assert link.handshakes == 1
        clock.advance(0.2)
        await link.send(INFO, idempotent=True)
        assert link.handshakes == 2

    asyncio.run(go())


def test_credentials_faults(sim):
    async def go():
        wrong = Credentials(OWNER.username, "not-the-password")
        with pytest.raises(ProofMismatch, match="e-mail or password is wrong"):
            await transport(sim, "127.13.0.1", wrong).send(INFO, idempotent=True)
        with pytest.raises(AuthenticationError, match="-1501"):
            await transport(sim, "127.13.0.3", wrong).send(INFO, idempotent=True)
        sim.set_fault("127.13.0.1", "impostor")
        with pytest.raises(ProofMismatch, match="not the plug it claims to be"):
            await transport(sim, "127.13.0.1").send(switch(True), idempotent=False)
        sim.clear_faults("127.13.0.1")
        sim.set_fault("127.13.0.2", "third_party_off")
        with pytest.raises(ThirdPartyOff):
            await transport(sim, "127.13.0.2").send(SYSINFO, idempotent=True)

    asyncio.run(go())


@pytest.mark.parametrize("host", ["127.13.0.1", "127.13.0.3"])
def test_a_body_that_does_not_decrypt(sim, host):
    async def go():
        link = transport(sim, host)
        await link.send(INFO, idempotent=True)
        sim.set_fault(host, "bad_body")
        with pytest.raises(ProtocolError, match="does not decrypt") as caught:
            await link.send(INFO, idempotent=True)
        assert str(caught.value).startswith(host)

    asyncio.run(go())


@pytest.mark.parametrize(
    "fault,value,expected",
    [
        ("garbage", True, "garbage instead of an HTTP status line"),
        ("oversized", 4 * 1024 * 1024, "over the 512 KiB limit"),
    ],
)
def test_garbage_and_oversized_http_from_the_simulator(sim, fault, value, expected):
    async def go():
        for host in ("127.13.0.1", "127.13.0.3"):
            link = transport(sim, host)
            await link.send(INFO, idempotent=True)
            sim.set_fault(host, fault, value)
            with pytest.raises(ProtocolError, match=expected) as caught:
                await link.send(INFO, idempotent=True)
            assert str(caught.value).startswith(host) and str(caught.value).isprintable()
            sim.clear_faults(host)

    asyncio.run(go())


def test_slow_plug_within_and_beyond_the_deadline(sim):
    async def go():
        sim.set_fault("127.13.0.1", "delay", 0.3)
        link = transport(sim, "127.13.0.1")  # 3 s: handshake and request fit
        answer(await link.send(INFO, idempotent=True))
        sim.set_fault("127.13.0.1", "delay", 1.5)
        quick = KlapTransport(
            "127.13.0.1", sim.plug("127.13.0.1").http_port, credentials=OWNER, timeout=1.0
        )
        with pytest.raises(DeviceTimeout, match="no answer within 1 s"):
            await quick.send(switch(True), idempotent=False)

    asyncio.run(go())
