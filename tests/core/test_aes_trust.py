"""The owner's cloud login goes only to an AES plug the owner trusts (issue 18, item 1).

AES cannot prove the plug knows the password: whoever answers gets the login (with login
version 1, the password itself). So kshell sends it only to a plug the store holds as that
AES plug, or one the owner confirmed at the prompt (``add HOST``, ``--yes`` where nobody can
ask), never because a broadcast answer, a mail or a scrape named an address.

The stranger here is a simulated AES plug with the ``impostor`` fault (it accepts any login,
as a host pretending to be a plug would) that logs everything it is sent: ``aes_received``
holds "handshake" and each ``login_device``'s params. Plugs on 127.43.0.x (this file's range),
serving port 80 as real ones do and announcing on a free UDP port of their own (not 20002:
another run's discovery on this machine must not reach them and make them log anything).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from helpers.shell import json_lines, run_shell, write_config

from kshell.app.build import build_session
from kshell.core.invocation import Invocation, MailRules
from kshell.core.session import Session
from kshell.device.transports.base import Credentials
from kshell.errors import KshellError
from kshell.simulator import PlugSpec, SimulatorThread
from kshell.simulator.accounts import DEMO_ACCOUNT
from kshell.store.devices import DeviceRecord, normalise_mac
from kshell.ui.output import Collector
from kshell.ui.runner import run_line

STRANGER, HALL = "127.43.0.2", "127.43.0.3"
OWNER = Credentials(DEMO_ACCOUNT.username, DEMO_ACCOUNT.password)
CREDS = {"KSHELL_USERNAME": DEMO_ACCOUNT.username, "KSHELL_PASSWORD": DEMO_ACCOUNT.password}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    specs = [
        PlugSpec(  # a host claiming to be an AES plug on login version 1
            host=STRANGER,
            model="HS220(US) 3.26",
            alias="Stranger",
            transport="aes",
            login_version=1,
            faults=(("impostor", True),),
            tdp_port=0,
        ),
        PlugSpec(host=HALL, model="HS220(US) 3.26", alias="Hall", tdp_port=0),  # the owner's
    ]
    with SimulatorThread(specs, account=DEMO_ACCOUNT) as running:
        yield running


def received(sim: SimulatorThread, host: str) -> list[Any]:
    return sim.call(lambda: list(sim.plug(host).aes_received))


@pytest.fixture
def fresh(sim: SimulatorThread, home: Path) -> Path:
    """A home of its own (discovery at the plugs' announcement port), both logs emptied."""
    write_config(home, extra=f"tdp_port = {sim.plug(STRANGER).tdp_port}\n")
    for host in (STRANGER, HALL):
        sim.call(lambda h=host: sim.plug(h).aes_received.clear())
    return home


def session(home: Path) -> Session:
    ctx = build_session(SimpleNamespace(home=str(home), config=None))
    ctx.login = OWNER  # the owner's login is known: the question is only where it goes
    return ctx


def run(ctx: Session, *lines: str) -> list[tuple[bool, str]]:
    async def go() -> list[tuple[bool, str]]:
        out = []
        try:
            for line in lines:
                collected = Collector(as_json=True)
                ok = await run_line(ctx, line, collected)
                out.append((ok, collected.text()))
        finally:
            ctx.close_connections()
        return out

    return asyncio.run(go())


def logins(log: list[Any]) -> list[dict[str, Any]]:
    return [entry for entry in log if isinstance(entry, dict)]


# -- routes that must send nothing ------------------------------------------------------------


def test_discover_lists_an_unknown_aes_plug_and_sends_it_nothing(
    sim: SimulatorThread, fresh: Path
) -> None:
    [(ok, text)] = run(session(fresh), "discover")
    assert ok, text
    assert received(sim, STRANGER) == []  # not a login, not even a handshake
    report = json_lines(text)[0]
    assert any(STRANGER in entry for entry in report["not_logged_in"])
    assert STRANGER in {d["host"] for d in report["devices"]}  # listed, from its announcement
    assert any(HALL in entry for entry in report["not_logged_in"])  # not trusted yet either


def test_a_mac_stored_as_klap_that_now_announces_aes_is_not_logged_in_at_all(
    sim: SimulatorThread, fresh: Path
) -> None:
    ctx = session(fresh)
    mac = normalise_mac(sim.call(lambda: sim.plug(STRANGER).mac))
    ctx.store.observe(
        DeviceRecord(host=STRANGER, port=80, mac=mac, alias="Kettle", family="smart",
                     transport="klap", login_version=2, sw_ver="1.0")
    )  # fmt: skip
    [(ok, text), (added, refusal)] = run(ctx, "discover", "add 127.43.0.2 --yes")
    assert ok, text
    assert received(sim, STRANGER) == []
    assert any("Kettle" in e for e in json_lines(text)[0]["not_followed"])
    assert not added and "--replace" in refusal  # refused before any handshake, too
    assert received(sim, STRANGER) == []


def test_info_of_an_unknown_address_sends_nothing(sim: SimulatorThread, fresh: Path) -> None:
    [(ok, text)] = run(session(fresh), f"info {STRANGER}:80")
    assert not ok and "not logged in" in text and f"add {STRANGER}" in text
    assert received(sim, STRANGER) == []


def test_add_in_c_without_yes_is_refused_and_sends_nothing(
    sim: SimulatorThread, fresh: Path
) -> None:
    result = run_shell(fresh, "-c", f"add {STRANGER}", env=CREDS)
    assert result.returncode != 0
    assert "cannot prove it is yours" in result.stderr and "--yes" in result.stderr
    assert received(sim, STRANGER) == []


def test_a_mail_can_neither_trust_nor_reach_an_unproven_plug(
    sim: SimulatorThread, fresh: Path
) -> None:
    ctx = session(fresh)
    mail = ctx.for_invocation(Invocation.for_mail("admin", MailRules()))
    outcomes = run(mail, f"info {STRANGER}:80", f"add {STRANGER} --yes --send-password")
    assert not any(ok for ok, _ in outcomes)
    assert "never by mail" in outcomes[1][1]
    assert received(sim, STRANGER) == []


def test_the_exporters_probe_path_sends_nothing(sim: SimulatorThread, fresh: Path) -> None:
    from kshell.core.targets import resolve
    from kshell.work.metrics.read import read_plug

    ctx = session(fresh)

    async def go() -> None:
        try:
            await read_plug(ctx, resolve(ctx, f"{STRANGER}:80")[0])
        finally:
            ctx.close_connections()

    # refused in the pool (Unproven) or, for a target the store lacks, read over XOR only
    # (the exporter's guard): either way the plug hears no handshake and no login
    with pytest.raises(KshellError):
        asyncio.run(go())
    assert received(sim, STRANGER) == []


# -- the owner's explicit step, and what it allows afterwards ---------------------------------


def test_add_yes_trusts_the_plug_says_so_and_a_stored_aes_plug_keeps_working(
    sim: SimulatorThread, fresh: Path
) -> None:
    result = run_shell(fresh, "--json", "-c", f"add {HALL} --yes", env=CREDS)
    assert result.returncode == 0, result.stderr
    added = json_lines(result.stdout)[0]
    assert added["credentials_sent"] is True and "sent your cloud login" in result.stdout
    assert [set(p) for p in logins(received(sim, HALL))] == [{"username", "password2"}]
    # later processes: the store holds it as that AES plug, so it gets the login unasked
    result = run_shell(fresh, "-c", "info Hall", env=CREDS)
    assert result.returncode == 0, result.stderr
    report = json_lines(run_shell(fresh, "--json", "-c", "discover", env=CREDS).stdout)[0]
    assert "Hall" in {d["alias"] for d in report["devices"]}
    assert not any(HALL in entry for entry in report["not_logged_in"])
    assert len(logins(received(sim, HALL))) == 3


def test_a_stored_plug_whose_address_now_announces_another_mac_gets_nothing(
    sim: SimulatorThread, fresh: Path
) -> None:
    ctx = session(fresh)
    ctx.store.observe(  # trusted once at this address, with another MAC than it announces
        DeviceRecord(host=HALL, port=80, mac="AA:BB:CC:00:00:01", alias="Hall", family="smart",
                     transport="aes", login_version=2, sw_ver="1.0", login_trust="hashed")
    )  # fmt: skip
    [(ok, text)] = run(ctx, "discover")
    assert ok, text
    assert received(sim, HALL) == []


def test_login_version_1_needs_its_own_consent(sim: SimulatorThread, fresh: Path) -> None:
    result = run_shell(fresh, "-c", f"add {STRANGER} --yes", env=CREDS)
    assert result.returncode != 0 and "--send-password" in result.stderr
    assert received(sim, STRANGER) == []
    result = run_shell(fresh, "-c", f"add {STRANGER} --yes --send-password", env=CREDS)
    assert result.returncode == 0, result.stderr
    assert "your cloud password itself" in result.stdout
    assert [set(p) for p in logins(received(sim, STRANGER))] == [{"username", "password"}]
    listed = json_lines(run_shell(fresh, "--json", "-c", "devices").stdout)[0]["devices"]
    assert [d["host"] for d in listed] == [STRANGER]


def test_at_the_prompt_add_asks_and_a_no_sends_nothing(sim: SimulatorThread, fresh: Path) -> None:
    asked: list[str] = []

    def answering(yes: bool) -> Any:
        async def ask(question: str) -> bool:
            asked.append(question)
            return yes

        return ask

    ctx = session(fresh)
    ctx.ask = answering(False)
    [(ok, _)] = run(ctx, f"add {HALL}")
    assert not ok and received(sim, HALL) == []
    assert asked == [asked[0]] and "send your cloud login to this unproven plug" in asked[0]
    ctx = session(fresh)
    ctx.ask = answering(True)
    [(ok, text)] = run(ctx, f"add {HALL}")
    assert ok, text
    assert len(logins(received(sim, HALL))) == 1 and "sent your cloud login" in text
