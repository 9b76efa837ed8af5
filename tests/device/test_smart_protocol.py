"""The SMART protocol over a real KLAP session to the simulator: batches that stop at a failing
entry, paged lists, control_child, error codes with their meaning. Plugs on 127.41.5.x."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from kshell.device.pool import DevicePool, Link
from kshell.device.protocols.smart import SmartError, SmartProtocol
from kshell.device.transports.base import Credentials
from kshell.simulator import PlugSpec, SimulatorThread
from kshell.simulator.accounts import DEMO_ACCOUNT

P110, STRIP = "127.41.5.2", "127.41.5.3"
KLAP = Link("smart", "klap", 2)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(host=P110, model="P110(AU) 1.0", alias="Kettle", udp_port=None),
        PlugSpec(
            host=STRIP,
            model="P300(EU) 1.0",
            alias="Office Strip",
            outlet_aliases=("PC", "Printer", "Phone"),
            child_page=1,  # one child per page: the list comes in three pages
            udp_port=None,
        ),
    ]
    with SimulatorThread(specs, account=DEMO_ACCOUNT) as running:
        yield running


def with_protocol(host: str, body: Any) -> Any:
    async def go() -> Any:
        creds = Credentials(DEMO_ACCOUNT.username, DEMO_ACCOUNT.password)
        pool = DevicePool(3.0, lambda: creds)
        pool.learn(host, 80, KLAP)
        proto = pool.get(host, 80).protocol
        assert isinstance(proto, SmartProtocol)
        try:
            return await body(proto)
        finally:
            pool.close_all()

    return asyncio.run(go())


def test_a_batch_stops_at_a_failing_entry_and_the_rest_are_still_answered(
    sim: SimulatorThread,
) -> None:
    async def body(proto: SmartProtocol) -> dict[str, Any]:
        calls = [("get_device_info", None), ("no_such_method", None), ("get_device_time", None)]
        calls += [("get_led_info", None), ("get_energy_usage", None), ("get_device_usage", None)]
        return await proto.call_many(calls)

    answers = with_protocol(P110, body)
    error = answers["no_such_method"]
    assert isinstance(error, SmartError) and error.code == -1002
    assert "no_such_method failed: error -1002 (unknown method)" in str(error)
    for method in ("get_device_info", "get_device_time", "get_led_info", "get_device_usage"):
        assert isinstance(answers[method], dict), method
    assert isinstance(answers["get_energy_usage"]["current_power"], int)


def test_a_paged_list_is_asked_again_from_where_it_stopped(sim: SimulatorThread) -> None:
    async def body(proto: SmartProtocol) -> list[Any]:
        return await proto.call_paged("get_child_device_list", "child_device_list")

    children = with_protocol(STRIP, body)
    assert len(children) == 3 and len({c["device_id"] for c in children}) == 3


def test_control_child_reaches_an_outlet_and_its_errors_keep_their_meaning(
    sim: SimulatorThread,
) -> None:
    async def body(proto: SmartProtocol) -> tuple[dict[str, Any], SmartError]:
        kids = await proto.call_paged("get_child_device_list", "child_device_list")
        second = next(c for c in kids if c["position"] == 2)["device_id"]
        await proto.call("set_device_info", {"device_on": False}, child_id=second)
        info = await proto.call("get_device_info", child_id=second, idempotent=True)
        with pytest.raises(SmartError) as caught:
            await proto.call("set_device_info", {"device_on": "yes"}, child_id=second)
        return info, caught.value

    info, error = with_protocol(STRIP, body)
    assert info["device_on"] is False and info["position"] == 2
    assert sim.call(lambda: sim.plug(STRIP).sockets[1].state) == 0
    assert error.code in (-1008, -1) and "set_device_info failed" in str(error)
