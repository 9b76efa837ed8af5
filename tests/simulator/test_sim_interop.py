"""python-kasa (a real third-party client) against the simulator's current-generation plugs.

If python-kasa discovers, reads, switches and meters them with credentials over KLAP (login
versions 1 and 2) and AES, the simulator speaks the real protocols. Plugs live on 127.11.x.y
(this file's range); the 20002 discovery port is a free one, given to python-kasa by setting
its ``Discover.DISCOVERY_PORT_2`` (it also accepts answers only from that port).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from kasa import AuthenticationError, Credentials, Device, Discover, KasaException, Module

from kshell.device.codec import decode_datagram, encode_datagram
from kshell.simulator import BROADCAST, PlugSpec, SimulatorThread, house_specs
from kshell.simulator.accounts import DEMO_ACCOUNT, Account
from kshell.simulator.tdp import discovery_result

CREDS = Credentials(DEMO_ACCOUNT.username, DEMO_ACCOUNT.password)


def new_gen(host: str, model: str, **kw: Any) -> PlugSpec:
    return PlugSpec(host=host, model=model, http_port=0, tdp_port=0, seed=7, **kw)


@pytest.fixture
def kasa_port(monkeypatch: pytest.MonkeyPatch) -> Callable[[SimulatorThread], None]:
    """Point python-kasa's 20002 probe (and its answer filter) at the simulator's port."""

    def point(sim: SimulatorThread) -> None:
        port = next(p.tdp_port for p in sim.plugs if p.is_http)
        monkeypatch.setattr(Discover, "DISCOVERY_PORT_2", port)

    return point


def run(sim: SimulatorThread, body: Callable[[], Awaitable[None]], limit: float = 30) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(body(), limit)

    asyncio.run(bounded())


async def discover(host: str, creds: Credentials = CREDS) -> Device:
    dev = await Discover.discover_single(host, discovery_timeout=3, credentials=creds)
    assert dev is not None
    return dev


@pytest.fixture
def sim_of(
    kasa_port: Callable[[SimulatorThread], None],
) -> Iterator[Callable[..., SimulatorThread]]:
    started: list[SimulatorThread] = []

    def start(*specs: PlugSpec, account: Account = DEMO_ACCOUNT) -> SimulatorThread:
        sim = SimulatorThread(specs, account=account).start()
        started.append(sim)
        kasa_port(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def test_klap_v2_metering_plug_p110(sim_of: Callable[..., SimulatorThread]) -> None:
    sim = sim_of(new_gen("127.11.0.1", "P110(AU) 1.0", alias="Kettle ☕", profile="media"))
    plug = sim.plugs[0]

    async def body() -> None:
        dev = await discover(plug.host)
        await dev.update()
        assert (dev.alias, dev.model, dev.mac) == (plug.alias, "P110", plug.mac)
        assert dev.config.connection_type.encryption_type.value == "KLAP"
        assert dev.config.connection_type.login_version == 2
        energy = dev.modules[Module.Energy]
        assert 60 < energy.current_consumption < 130  # the media profile's draw, in W
        assert 200 < energy.status.voltage < 260 and energy.status.current > 0.1
        assert energy.consumption_today is not None and energy.consumption_this_month > 0
        await dev.turn_off()
        assert sim.call(lambda: plug.relay_state) == 0
        await dev.update()
        assert not dev.is_on and energy.current_consumption == 0
        await dev.set_alias("Tea")
        assert sim.call(lambda: plug.alias) == "Tea"
        led = dev.modules[Module.Led]
        await led.set_led(False)
        await dev.update()
        assert led.led is False and sim.call(lambda: plug.led_off) == 1
        await dev.disconnect()

    run(sim, body)


def test_klap_v2_kp125m_and_strip_children(sim_of: Callable[..., SimulatorThread]) -> None:
    sim = sim_of(
        new_gen("127.11.1.1", "KP125M(US) 1.0", profile="computer"),
        new_gen(
            "127.11.1.2", "EP40M(US) 1.0", outlet_aliases=("Lamp", "Fan"), outlet_states=(1, 1)
        ),
        new_gen("127.11.1.3", "P300(EU) 1.0", child_page=2),  # 3 outlets: two pages
    )
    meter, strip, p300 = sim.plugs

    async def body() -> None:
        dev = await discover(meter.host)
        await dev.update()
        assert dev.model == "KP125M" and 100 < dev.modules[Module.Energy].status.voltage < 130
        await dev.disconnect()
        dev = await discover(strip.host)
        await dev.update()
        assert [c.alias for c in dev.children] == ["Lamp", "Fan"]
        await dev.children[1].turn_off()
        assert sim.call(lambda: [s.state for s in strip.sockets]) == [1, 0]
        await dev.disconnect()
        dev = await discover(p300.host)
        await dev.update()
        assert len(dev.children) == 3  # python-kasa followed start_index/sum
        await dev.disconnect()

    run(sim, body)


def test_aes_dimmer_hs220(sim_of: Callable[..., SimulatorThread]) -> None:
    sim = sim_of(new_gen("127.11.2.1", "HS220(US) 3.26", alias="Hall"))
    plug = sim.plugs[0]

    async def body() -> None:
        dev = await discover(plug.host)
        await dev.update()
        assert dev.config.connection_type.encryption_type.value == "AES"
        assert dev.alias == "Hall" and dev.is_on
        await dev.modules[Module.Brightness].set_brightness(30)
        assert sim.call(lambda: plug.smart.brightness) == 30
        await dev.turn_off()
        assert sim.call(lambda: plug.relay_state) == 0
        await dev.disconnect()

    run(sim, body)


def test_iot_over_klap_v1_hs100_uk(sim_of: Callable[..., SimulatorThread]) -> None:
    sim = sim_of(new_gen("127.11.3.1", "HS100(UK) 4.1", alias="Desk"))
    plug = sim.plugs[0]

    async def body() -> None:
        dev = await discover(plug.host)
        assert dev.config.connection_type.device_family.value == "IOT.SMARTPLUGSWITCH"
        assert dev.config.connection_type.login_version in (None, 1)
        await dev.update()
        assert dev.alias == "Desk" and dev.hw_info["hw_ver"] == "4.1"
        await dev.turn_off()
        assert sim.call(lambda: plug.relay_state) == 0
        await dev.disconnect()

    run(sim, body)


def test_broadcast_discovery_finds_every_new_generation_plug(
    sim_of: Callable[..., SimulatorThread],
) -> None:
    sim = sim_of(
        new_gen("127.11.4.1", "P110(AU) 1.0"),
        new_gen("127.11.4.2", "HS220(US) 3.26"),
        new_gen("127.11.4.3", "HS100(UK) 4.1"),
    )

    async def body() -> None:
        found = await Discover.discover(target=BROADCAST, discovery_timeout=1, credentials=CREDS)
        assert sorted(found) == sorted(sim.hosts)
        for dev in found.values():
            await dev.disconnect()

    run(sim, body)


def test_wrong_password_is_an_authentication_error(sim_of: Callable[..., SimulatorThread]) -> None:
    sim = sim_of(new_gen("127.11.5.1", "P110(AU) 1.0"), new_gen("127.11.5.2", "HS220(US) 3.26"))
    wrong = Credentials(DEMO_ACCOUNT.username, "not-the-password")

    async def body() -> None:
        for plug in sim.plugs:
            dev = await discover(plug.host, wrong)
            with pytest.raises(AuthenticationError):
                await dev.update()
            await dev.disconnect()

    run(sim, body)


def test_third_party_compatibility_off_is_403_on_handshake1(
    sim_of: Callable[..., SimulatorThread],
) -> None:
    sim = sim_of(new_gen("127.11.6.1", "P110(AU) 1.0"))
    sim.set_fault(sim.hosts[0], "third_party_off")

    async def body() -> None:
        dev = await discover(sim.hosts[0])
        with pytest.raises(KasaException, match="403 to handshake1"):
            await dev.update()
        await dev.disconnect()

    run(sim, body)


def test_an_expired_session_is_renewed_by_python_kasa(
    sim_of: Callable[..., SimulatorThread],
) -> None:
    sim = sim_of(new_gen("127.11.7.1", "P110(AU) 1.0"), new_gen("127.11.7.2", "HS220(US) 3.26"))

    async def body() -> None:
        for plug in sim.plugs:
            dev = await discover(plug.host)
            await dev.update()
            sim.set_fault(plug.host, "session_expired")  # the next request finds it gone
            await dev.update()  # 403 / 9999, a new handshake, the same request again
            assert sim.call(lambda p=plug: p.faults.get("session_expired")) is None
            await dev.disconnect()

    run(sim, body, limit=40)


def test_kp115_on_recent_firmware_meters_over_klap(sim_of: Callable[..., SimulatorThread]) -> None:
    sim = sim_of(
        new_gen(
            "127.11.8.1",
            "KP115(EU) 1.0",
            transport="klap",
            sw_ver="1.0.21 Build 231129 Rel.171238",
            profile="computer",
        )
    )
    plug = sim.plugs[0]

    async def body() -> None:
        dev = await discover(plug.host)
        await dev.update()
        assert dev.config.connection_type.login_version == 2
        status = dev.modules[Module.Energy].status
        assert status.power > 30 and 200 < status.voltage < 260 and status.total > 0
        await dev.turn_off()
        assert sim.call(lambda: plug.relay_state) == 0
        await dev.disconnect()

    run(sim, body)


def test_a_mixed_house_binds_both_generations(sim_of: Callable[..., SimulatorThread]) -> None:
    specs = house_specs(10, "127.11.20.1", port=0, udp_port=0, http_port=0, tdp_port=0)
    sim = sim_of(*specs)
    old = [p for p in sim.plugs if not p.is_http]
    new = [p for p in sim.plugs if p.is_http]
    assert len(old) == 5 and len(new) == 5 and old[0].udp_port != new[0].tdp_port

    async def body() -> None:
        found = await Discover.discover(target=BROADCAST, discovery_timeout=1, credentials=CREDS)
        assert sorted(found) == sorted(p.host for p in new)  # 20002 answers: the new ones only
        for dev in found.values():
            await dev.update()  # every new plug logs in with the demo account
            await dev.disconnect()

    run(sim, body)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.settimeout(0.5)
        s.sendto(encode_datagram({"system": {"get_sysinfo": {}}}), (BROADCAST, old[0].udp_port))
        hosts = set()
        with contextlib.suppress(TimeoutError):
            while True:
                data, (host, _port) = s.recvfrom(65536)
                assert "system" in decode_datagram(data)
                hosts.add(host)
    assert hosts == {p.host for p in old}  # the 9999 probe: the old ones only


def test_an_impostor_fails_klap_but_passes_aes(sim_of: Callable[..., SimulatorThread]) -> None:
    """A plug that does not know the password: KLAP's proof gives it away, AES cannot."""
    sim = sim_of(new_gen("127.11.9.1", "P110(AU) 1.0"), new_gen("127.11.9.2", "HS220(US) 3.26"))
    klap_plug, aes_plug = sim.plugs
    for plug in sim.plugs:
        sim.set_fault(plug.host, "impostor")

    async def body() -> None:
        dev = await discover(klap_plug.host)
        with pytest.raises(AuthenticationError, match="did not match our challenge"):
            await dev.update()
        await dev.disconnect()
        dev = await discover(aes_plug.host, Credentials("anyone@example.invalid", "anything"))
        await dev.update()  # logged in with any password: AES proves nothing
        assert dev.model == "HS220"
        await dev.disconnect()

    run(sim, body)


def test_aes_metering_plug_with_login_version_1(sim_of: Callable[..., SimulatorThread]) -> None:
    """Some P110 firmware speaks AES; login version 1 sends the password in base64."""
    sim = sim_of(
        new_gen("127.11.10.1", "P110(AU) 1.0", transport="aes", login_version=1, profile="media")
    )
    plug = sim.plugs[0]

    async def body() -> None:
        dev = await discover(plug.host)
        assert dev.config.connection_type.login_version == 1
        await dev.update()
        assert dev.config.connection_type.encryption_type.value == "AES"
        assert 60 < dev.modules[Module.Energy].current_consumption < 130
        await dev.turn_off()
        assert sim.call(lambda: plug.relay_state) == 0
        await dev.disconnect()

    run(sim, body)


def test_a_factory_default_plug_knows_the_vendor_setup_account(
    sim_of: Callable[..., SimulatorThread],
) -> None:
    sim = sim_of(
        new_gen("127.11.11.1", "KP125M(US) 1.0", factory_default=True),  # Kasa: kasa@tp-link.net
        new_gen("127.11.11.2", "P110(AU) 1.0", factory_default=True),  # Tapo: test@tp-link.net
    )

    async def body() -> None:
        for plug in sim.plugs:
            dev = await discover(plug.host, Credentials("owner@example.invalid", "whatever"))
            result = discovery_result(plug, None)
            assert result["factory_default"] is True and result["owner"] == ""
            await dev.update()  # python-kasa falls back to the vendor's setup account
            await dev.disconnect()

    run(sim, body)
