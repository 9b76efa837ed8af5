"""discover in a house of both generations, over real sockets: the 9999 broadcast beside the
UDP 20002 probe, a sweep that confirms port 80 with a 20002 probe, credentials named, and the
transport pinned to the MAC. Plugs on 127.41.4.x (this file's range)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from types import SimpleNamespace

from helpers.shell import json_lines, run_shell

from kshell.simulator import PlugSpec, house_specs
from kshell.simulator.accounts import DEMO_ACCOUNT

CREDS = {"KSHELL_USERNAME": DEMO_ACCOUNT.username, "KSHELL_PASSWORD": DEMO_ACCOUNT.password}
NONE = {"KSHELL_USERNAME": "", "KSHELL_PASSWORD": ""}


def house(fleet, n: int = 8):  # type: ignore[no-untyped-def]
    return fleet(house_specs(n, "127.41.4.2", udp_port=0))


def test_discover_finds_both_generations_and_the_store_knows_how_each_speaks(fleet) -> None:  # type: ignore[no-untyped-def]
    sim, home = house(fleet)
    result = run_shell(home, "--json", "-c", "discover", env=CREDS)
    assert result.returncode == 0, result.stderr
    report = json_lines(result.stdout)[0]
    assert report["answered"] == 8 and report["current_generation"] == 4
    assert not report["need_credentials"] and not report["credentials_failed"]
    devices = {d["host"]: d for d in report["devices"]}
    assert set(devices) == set(sim.hosts)
    new = [p for p in sim.plugs if p.is_http]
    for plug in new:
        assert devices[plug.host]["transport"] in ("klap", "aes")
        if plug.transport == "aes":  # AES proves nothing: listed, not logged in, until added
            assert any(plug.host in e for e in report["not_logged_in"])
            added = run_shell(home, "-c", f"add {plug.host} --yes", env=CREDS)
            assert added.returncode == 0, added.stderr
        else:
            assert devices[plug.host]["alias"] == plug.alias
    # a later command goes straight to the right transport, without a new announcement
    listed = json_lines(run_shell(home, "--json", "-c", "devices", env=CREDS).stdout)[0]
    assert {d["alias"] for d in listed["devices"]} == {p.alias for p in sim.plugs}
    plug = new[0]
    result = run_shell(home, "-c", f"off '{plug.alias}'", env=CREDS)
    assert result.returncode == 0 and f"{plug.alias}: off" in result.stdout, result.stderr


def test_the_report_names_plugs_that_need_credentials(fleet) -> None:  # type: ignore[no-untyped-def]
    sim, home = house(fleet, 4)
    result = run_shell(home, "-c", "discover", env=NONE)
    assert result.returncode == 0, result.stderr
    assert "2 old generation, 2 current" in result.stdout
    assert "need credentials" in result.stdout and "KSHELL_USERNAME" in result.stdout
    listed = json_lines(run_shell(home, "--json", "-c", "devices", env=NONE).stdout)[0]
    http = {p.host for p in sim.plugs if p.is_http}
    stored = {d["host"]: d for d in listed["devices"] if d["host"] in http}
    assert set(stored) == http and all(d["transport"] != "xor" for d in stored.values())
    wrong = {**CREDS, "KSHELL_PASSWORD": "wrong"}
    assert "credentials failed" in run_shell(home, "-c", "discover", env=wrong).stdout


def test_discovery_keeps_its_time_budget(fleet) -> None:  # type: ignore[no-untyped-def]
    from kshell.commands import devices

    from kshell.app.build import build_session

    _sim, home = house(fleet)

    async def go() -> tuple[float, dict]:
        ctx = build_session(SimpleNamespace(home=str(home), config=None))
        args = SimpleNamespace(
            cidr=None, target=[], timeout=0.6, port=None, tcp_port=None, verbose=False
        )
        started = time.monotonic()
        table = await devices.discover(ctx, args)
        ctx.close_connections()
        return time.monotonic() - started, table.json()

    import os

    os.environ.update(CREDS)
    try:
        elapsed, report = asyncio.run(go())
    finally:
        for key in CREDS:
            os.environ.pop(key, None)
    assert report["answered"] == 8 and elapsed < 0.6 + 0.1


def test_a_plug_that_moved_to_klap_is_followed_one_that_moved_to_aes_is_held(fleet) -> None:  # type: ignore[no-untyped-def]
    sim, home = fleet(
        [PlugSpec(host="127.41.4.50", model="HS110(EU) 2.0", alias="Mover", udp_port=0)]
    )
    assert run_shell(home, "-c", "discover", env=CREDS).returncode == 0
    sim.switch_transport("127.41.4.50", "klap")
    result = run_shell(home, "--json", "-c", "discover", env=CREDS)
    report = json_lines(result.stdout)[0]
    assert report["moved"] and "Mover" in report["moved"][0]
    listed = json_lines(run_shell(home, "--json", "-c", "devices").stdout)[0]["devices"]
    assert [(d["alias"], d["transport"], d["port"]) for d in listed] == [("Mover", "klap", 80)]
    sim.switch_transport("127.41.4.50", "aes")
    report = json_lines(run_shell(home, "--json", "-c", "discover", env=CREDS).stdout)[0]
    assert report["not_followed"] and "AES" in report["not_followed"][0]
    listed = json_lines(run_shell(home, "--json", "-c", "devices").stdout)[0]["devices"]
    assert listed[0]["transport"] == "klap"  # still pinned
    result = run_shell(home, "-c", "add 127.41.4.50", env=CREDS)
    assert result.returncode == 1 and "--replace" in result.stderr
    result = run_shell(home, "-c", "add 127.41.4.50 --replace --yes", env=CREDS)
    assert result.returncode == 0, result.stderr
    listed = json_lines(run_shell(home, "--json", "-c", "devices").stdout)[0]["devices"]
    assert listed[0]["transport"] == "aes"


def test_a_sweep_probes_port_80_and_counts_only_hosts_that_announce(fleet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, home = house(fleet, 4)

    async def go() -> tuple[str, list[bytes]]:
        hits: list[bytes] = []

        async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            hits.append(await reader.read(100))  # b"" when the prober just hangs up
            writer.close()

        server = await asyncio.start_server(http, "127.41.4.14", 80)  # port 80 open, no plug
        proc = await asyncio.create_subprocess_exec(
            *run_cmd(home, "discover 127.41.4.0/28"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**__import__("os").environ, **CREDS, "NO_COLOR": "1"},
        )
        out, _ = await proc.communicate()
        server.close()
        return out.decode(), hits

    out, hits = asyncio.run(go())
    report = json.loads(out.splitlines()[0])
    assert {d["host"] for d in report["devices"]} == set(sim.hosts)
    assert report["current_generation"] == 2
    assert hits and not any(hits)  # port 80 was tried, but nothing was ever said to it
    # the plugs that announced themselves are counted once, as answered, never also as
    # "unreadable" for the old protocol's probe of their port 9999
    unreadable = [u.partition(":")[0] for u in report["unreadable"]]
    assert unreadable == ["127.41.4.14"], report["unreadable"]  # port 80 open, no announcement
    text = run_shell(home, "-c", "discover 127.41.4.0/28", env=NONE).stdout
    assert "4 answered" in text and "unreadable" not in text, text


def run_cmd(home: Path, line: str) -> list[str]:
    import sys

    root = Path(__file__).resolve().parents[2]
    return [sys.executable, str(root / "shell.py"), "--home", str(home), "--json", "-c", line]


def test_the_demo_is_a_mixed_house_with_its_credentials_preset(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KSHELL_")}
    result = subprocess.run(
        [sys.executable, str(root / "shell.py"), "--demo", "--home", str(tmp_path / "h"),
         "--json", "-c", "devices; info 'Tea Kettle'"],
        check=False, capture_output=True, text=True, timeout=60, env={**env, "NO_COLOR": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    listed, kettle = json_lines(result.stdout)
    transports = {d["transport"] for d in listed["devices"]}
    assert len(listed["devices"]) == 10 and {"xor", "klap", "aes"} <= transports
    assert kettle["protocol"] == "SMART over KLAP"


def test_discover_target_ends_when_every_named_plug_answered_on_either_protocol(fleet) -> None:  # type: ignore[no-untyped-def]
    sim, home = house(fleet, 4)
    new = [p.host for p in sim.plugs if p.is_http]
    old = [p.host for p in sim.plugs if not p.is_http]
    for targets in ([new[0]], [new[0], old[0]]):
        line = "discover --timeout 6 " + " ".join(f"--target {t}" for t in targets)
        started = time.monotonic()
        result = run_shell(home, "--json", "-c", line, env=CREDS)
        took = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        report = json_lines(result.stdout)[0]
        assert {d["host"] for d in report["devices"]} == set(targets)
        assert report["elapsed_s"] < 2.0 and took < 4.5, (report["elapsed_s"], took)
