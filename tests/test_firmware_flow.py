"""``firmware stage`` end to end: our simulated plugs really download the image over HTTP.

Every test runs the shell as a user would (``python shell.py --home ... -c ...``) against
simulated plugs on 127.40.x.y, and checks afterwards that the staging server's port is free.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pexpect
import pytest
from conftest import ROOT, eventually, json_lines, run_shell, write_config
from test_firmware_staging import port_is_free

from kshell.simulator import FirmwareConfig, PlugSpec, SimulatorThread, make_image, parse_image

FAST = FirmwareConfig(flash_time=0.3, reboot_time=0.5, download_rate=1024 * 1024)
SIZE = 200_000


def fw_home(tmp_path: Path, **settings: str) -> Path:
    values = {"poll_interval": "0.1", "stall_timeout": "3", "reboot_grace": "4", **settings}
    lines = "".join(f"{k} = {v}\n" for k, v in values.items())
    home = tmp_path / "home"
    write_config(home, extra=f"\n[firmware]\nlibrary = {tmp_path / 'lib'}\n{lines}")
    return home


def add_image(
    home: Path,
    tmp_path: Path,
    model: str = "HS110(EU)",
    hw: str = "2.0",
    version: str = "1.5.10",
    name: str = "hs110v2.bin",
) -> bytes:
    data = make_image(model, hw, version, size=SIZE)
    path = tmp_path / name
    path.write_bytes(data)
    done = run_shell(
        home, "-c", f"firmware add {path} --model '{model}' --hw {hw} --version {version}"
    )
    assert done.returncode == 0, done.stderr
    return data


def plugs(*hosts: str, model: str = "HS110(EU) 2.0") -> list[PlugSpec]:
    return [
        PlugSpec(host=h, model=model, alias=f"Plug {h.rsplit('.', 1)[1]}", udp_port=None)
        for h in hosts
    ]


def stage(home: Path, line: str) -> tuple[subprocess.CompletedProcess[str], list[dict], list[dict]]:
    proc = run_shell(home, "--json", "-c", line)
    assert "Traceback" not in proc.stderr
    return proc, json_lines(proc.stdout), json_lines(proc.stderr)


def steps_of(lines: list[dict], step: str) -> list[dict]:
    return [line for line in lines if line.get("step") == step]


def server_port(lines: list[dict]) -> int:
    return steps_of(lines, "serve")[0]["port"]


def test_two_plugs_download_over_http_flash_and_come_back_newer(tmp_path):
    home = fw_home(tmp_path)
    image = add_image(home, tmp_path)
    new_sw = parse_image(image).sw_ver  # type: ignore[union-attr]
    hosts = ("127.40.1.2", "127.40.1.3")
    with SimulatorThread(plugs(*hosts), firmware=FAST) as sim:
        old_sw = sim.plug(hosts[0]).sw_ver
        proc, lines, errors = stage(home, f"firmware stage {hosts[0]} {hosts[1]} hs110v2.bin --yes")
        assert proc.returncode == 0, proc.stderr
        assert errors == []
        assert [sim.plug(h).sw_ver for h in hosts] == [new_sw, new_sw]

    serve = steps_of(lines, "serve")[0]
    for host in hosts:
        url = next(s["url"] for s in steps_of(lines, "download_started") if s["host"] == host)
        assert url.startswith("http://127.") and url == serve["urls"][f"Plug {host[-1]}"]
        assert ipaddress.ip_address(url.split("/")[2].split(":")[0]).is_loopback
    requests = steps_of(lines, "request")
    assert sorted(r["plug"] for r in requests) == ["Plug 2", "Plug 3"]
    assert all(r["status"] == 200 and r["complete"] and r["bytes_sent"] == SIZE for r in requests)
    stopped = steps_of(lines, "server_stopped")[0]
    assert stopped["bytes_sent"] == 2 * SIZE
    order = [line.get("step") for line in lines]
    assert order.index("server_stopped") < order.index("flash")  # served only while needed
    assert len(steps_of(lines, "offline")) == 2 and len(steps_of(lines, "online")) == 2
    done = {d["host"]: d for d in steps_of(lines, "done")}
    assert done[hosts[0]]["old"] == old_sw and done[hosts[0]]["new"] == new_sw
    assert done[hosts[1]]["matches_manifest"] is True
    assert any(p["ratio"] == 100 for p in steps_of(lines, "download"))
    assert port_is_free(serve["addresses"][0], serve["port"])

    logged = json_lines((home / "staging.log").read_text())
    assert sorted(e["plug"] for e in logged) == ["Plug 2", "Plug 3"]
    assert all(e["bytes_sent"] == SIZE and e["sha256"] == serve["sha256"] for e in logged)

    cached = run_shell(home, "--json", "-c", "devices")
    assert new_sw in cached.stdout  # the cache learnt the new firmware


@pytest.mark.parametrize(
    "image_for, why",
    [
        ({"model": "HS110(EU)", "hw": "1.0"}, "hardware 1.0, the plug is hardware 2.0"),
        ({"model": "HS100(US)", "hw": "2.0"}, "the image is for HS100(US), the plug is HS110(EU)"),
        ({"model": "HS110(EU)", "hw": "2.0", "version": "1.5.2"}, "is not newer than"),
    ],
)
def test_a_mismatched_image_is_refused_and_the_plug_untouched(tmp_path, image_for, why):
    home = fw_home(tmp_path)
    add_image(home, tmp_path, **image_for)
    host = "127.40.2.2"
    with SimulatorThread(plugs(host), firmware=FAST) as sim:
        before = sim.plug(host).sw_ver
        proc, lines, errors = stage(home, f"firmware stage {host} hs110v2.bin --yes")
        state = json_lines(run_shell(home, "--json", "-c", f"firmware state {host}").stdout)
        assert sim.plug(host).sw_ver == before
    assert proc.returncode == 1
    assert errors[0]["error"]["kind"] == "refused" and why in errors[0]["error"]["message"]
    assert "--force" in errors[0]["error"]["message"]
    assert steps_of(lines, "serve") == [] and steps_of(lines, "download_started") == []
    assert state[0]["status"] == "idle" and state[0]["ratio"] == 0  # no download was ever asked


def test_an_image_missing_from_the_manifest_is_refused(tmp_path):
    home = fw_home(tmp_path)
    loose = tmp_path / "loose.bin"
    loose.write_bytes(make_image("HS110(EU)", "2.0", "1.5.10", size=SIZE))
    proc = run_shell(home, "-c", f"firmware stage 127.40.2.9 {loose} --yes")
    assert proc.returncode == 1 and "not in the firmware manifest" in proc.stderr


def test_forcing_a_wrong_image_ends_at_the_plugs_own_refusal(tmp_path):
    """--force gets past our checks; the simulated plug then answers -5 to flash_firmware."""
    home = fw_home(tmp_path)
    add_image(home, tmp_path, model="HS100(US)", hw="2.0")
    host = "127.40.3.2"
    with SimulatorThread(plugs(host), firmware=FAST) as sim:
        before = sim.plug(host).sw_ver
        proc, lines, errors = stage(home, f"firmware stage {host} hs110v2.bin --yes --force")
        assert sim.plug(host).sw_ver == before
    assert proc.returncode == 1
    assert steps_of(lines, "check")[0]["forced"]
    message = errors[0]["error"]["message"]
    assert message.startswith("flash_firmware: ") and "-5" in message
    assert port_is_free("127.0.0.1", server_port(lines))


@pytest.mark.parametrize(
    "fault, step, code",
    [
        ("fw_download_fail", "get_download_state", "-7"),
        ("fw_flash_fail", "flash_firmware", "-5"),
    ],
)
def test_a_device_error_names_the_step_and_stops_the_server(tmp_path, fault, step, code):
    home = fw_home(tmp_path)
    add_image(home, tmp_path)
    host = "127.40.4.2"
    with SimulatorThread(plugs(host), firmware=FAST) as sim:
        before = sim.plug(host).sw_ver
        sim.set_fault(host, fault)
        proc, lines, errors = stage(home, f"firmware stage {host} hs110v2.bin --yes")
        assert sim.plug(host).sw_ver == before
    assert proc.returncode == 1
    error = errors[0]["error"]
    assert error["kind"] == "firmware" and error["message"].startswith(f"{step}: ")
    assert code in error["message"] and error["target"] == "Plug 2"
    assert steps_of(lines, "done") == []
    if fault == "fw_download_fail":
        assert steps_of(lines, "flash") == []  # never flash after a failed download
    assert port_is_free("127.0.0.1", server_port(lines))


def test_a_stalled_download_times_out_and_is_never_flashed(tmp_path):
    home = fw_home(tmp_path, stall_timeout="1")
    add_image(home, tmp_path)
    host = "127.40.5.2"
    with SimulatorThread(plugs(host), firmware=FAST) as sim:
        sim.set_fault(host, "fw_stall")
        proc, lines, errors = stage(home, f"firmware stage {host} hs110v2.bin --yes")
    assert proc.returncode == 1
    assert errors[0]["error"]["message"].startswith("download: no progress for 1 s")
    assert steps_of(lines, "flash") == []
    assert port_is_free("127.0.0.1", server_port(lines))


def test_a_plug_that_never_comes_back_is_reported(tmp_path):
    home = fw_home(tmp_path, reboot_grace="1.5")
    image = add_image(home, tmp_path)
    host = "127.40.6.2"
    with SimulatorThread(plugs(host), firmware=FAST) as sim:
        sim.set_fault(host, "fw_never_back")
        proc, lines, errors = stage(home, f"firmware stage {host} hs110v2.bin --yes")
        sim.clear_faults(host, "fw_never_back")  # power it again: it boots the new image
        assert sim.plug(host).sw_ver == parse_image(image).sw_ver  # type: ignore[union-attr]
    assert proc.returncode == 1
    assert steps_of(lines, "offline") and steps_of(lines, "online") == []
    assert errors[0]["error"]["message"].startswith("reboot: the plug did not come back")
    assert port_is_free("127.0.0.1", server_port(lines))


def test_dry_run_has_the_plug_download_but_never_flashes(tmp_path):
    home = fw_home(tmp_path)
    add_image(home, tmp_path)
    host = "127.40.7.2"
    with SimulatorThread(plugs(host), firmware=FAST) as sim:
        before = sim.plug(host).sw_ver
        proc, lines, _ = stage(home, f"firmware stage {host} hs110v2.bin --dry-run --port 0")
        state = json_lines(run_shell(home, "--json", "-c", f"firmware state {host}").stdout)[0]
        assert sim.plug(host).sw_ver == before
    assert proc.returncode == 0, proc.stderr
    plan = steps_of(lines, "plan")[0]
    assert plan["url"].startswith("http://127.") and plan["new"] == "1.5.10"
    assert steps_of(lines, "downloaded") and steps_of(lines, "flash") == []
    done = steps_of(lines, "dry_run")[0]
    assert done["downloaded"] == ["Plug 2"]
    assert state["status"] == "downloaded, ready to flash"  # and it stays unflashed
    assert port_is_free("127.0.0.1", server_port(lines))


def test_dry_run_fails_for_a_plug_whose_download_fails(tmp_path):
    """Issue 10: a dry run said "every check passed" for a plug whose download then got -7."""
    home = fw_home(tmp_path)
    add_image(home, tmp_path)
    good, bad = "127.40.7.4", "127.40.7.5"
    with SimulatorThread(plugs(good, bad), firmware=FAST) as sim:
        sim.set_fault(bad, "fw_download_fail")
        before = {h: sim.plug(h).sw_ver for h in (good, bad)}
        proc, lines, errors = stage(home, f"firmware stage {good} {bad} hs110v2.bin --dry-run")
        text = run_shell(home, "-c", f"firmware stage {bad} hs110v2.bin --dry-run")
        assert {h: sim.plug(h).sw_ver for h in (good, bad)} == before
    assert proc.returncode == 1
    assert (
        "err_code -7" in errors[0]["error"]["message"] and "Plug 5" in errors[0]["error"]["target"]
    )
    done = steps_of(lines, "dry_run")[0]
    assert done["downloaded"] == ["Plug 4"]
    assert "every check passed" not in text.stdout
    assert "1 of 1 plug(s) failed" in text.stdout and "nothing was flashed" in text.stdout


def test_without_yes_nobody_can_answer_so_nothing_is_sent(tmp_path):
    home = fw_home(tmp_path)
    add_image(home, tmp_path)
    host = "127.40.7.3"
    with SimulatorThread(plugs(host), firmware=FAST):
        proc = run_shell(home, "-c", f"firmware stage {host} hs110v2.bin")
        state = json_lines(run_shell(home, "--json", "-c", f"firmware state {host}").stdout)[0]
    assert proc.returncode == 1 and "--yes" in proc.stderr
    assert state["status"] == "idle"


def test_answering_no_cancels_after_the_download_and_frees_the_port(tmp_path):
    """In-process, with a person who says no: downloaded, never flashed, server gone."""
    from kshell.app.build import build_session
    from kshell.ui.output import Collector
    from kshell.ui.runner import run_line

    home = fw_home(tmp_path)
    add_image(home, tmp_path)
    host = "127.40.8.2"
    asked: list[str] = []

    async def say_no(question: str) -> bool:
        asked.append(question)
        return False

    async def scenario() -> tuple[bool, str]:
        ctx = build_session(SimpleNamespace(home=str(home), config=None, commands=[]))
        ctx.ask = say_no
        out = Collector(as_json=True)
        try:
            ok = await run_line(ctx, f"firmware stage {host} hs110v2.bin", out)
        finally:
            ctx.close_connections()
        return ok, out.text()

    with SimulatorThread(plugs(host), firmware=FAST) as sim:
        before = sim.plug(host).sw_ver
        ok, text = asyncio.run(scenario())
        assert sim.plug(host).sw_ver == before
    lines = json_lines(text)
    assert ok and asked and "Flash hs110v2.bin to Plug 2" in asked[0]
    assert steps_of(lines, "downloaded") and steps_of(lines, "cancelled")
    assert steps_of(lines, "flash") == []
    assert port_is_free("127.0.0.1", server_port(lines))


def test_ctrl_c_during_the_download_stops_the_server(tmp_path):
    home = fw_home(tmp_path, stall_timeout="60")
    add_image(home, tmp_path)
    host = "127.40.9.2"
    with SimulatorThread(plugs(host), firmware=FAST) as sim:
        sim.set_fault(host, "fw_stall")
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "shell.py"),
                "--home",
                str(home),
                "--json",
                "-c",
                f"firmware stage {host} hs110v2.bin --yes",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "NO_COLOR": "1"},
        )
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if '"step":"download_started"' in line:
                break
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=20)
        before = sim.plug(host).sw_ver
    lines = json_lines("".join(seen) + rest)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert steps_of(lines, "flash") == [] and before.startswith("1.5.2")
    assert port_is_free("127.0.0.1", server_port(lines))


def test_a_terminal_shows_a_progress_bar_and_the_countdown(tmp_path):
    home = fw_home(tmp_path)
    add_image(home, tmp_path)
    host = "127.40.10.2"
    slow = FirmwareConfig(flash_time=0.5, reboot_time=1.0, download_rate=256 * 1024)
    with SimulatorThread(plugs(host), firmware=slow):
        child = pexpect.spawn(
            sys.executable,
            [
                str(ROOT / "shell.py"),
                "--home",
                str(home),
                "-c",
                f"firmware stage {host} hs110v2.bin --yes",
            ],
            cwd=str(ROOT),
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "100"},
            encoding="utf-8",
            timeout=30,
            dimensions=(24, 100),
        )
        child.expect(r"Plug 2 \[#+-*\]\s+\d+%")  # the live bar, redrawn in place
        child.expect(r"Plug 2: rebooting, (\d+ s left|waiting)")
        child.expect("firmware 1.5.2 Build 180130 Rel.085820 -> 1.5.10")
        child.expect(pexpect.EOF)
        child.close()
    assert child.exitstatus == 0


def test_at_the_prompt_ctrl_c_stops_the_server_and_a_yes_flashes(tmp_path):
    """A person at the interactive shell: interrupts a stuck download, then says yes."""
    import re

    home = fw_home(tmp_path, stall_timeout="60")
    add_image(home, tmp_path)
    host = "127.40.11.2"
    with SimulatorThread(plugs(host), firmware=FAST) as sim:
        sim.set_fault(host, "fw_stall")
        child = pexpect.spawn(
            sys.executable,
            [str(ROOT / "shell.py"), "--home", str(home)],
            cwd=str(ROOT),
            env={**os.environ, "NO_COLOR": "1"},
            encoding="utf-8",
            timeout=30,
            dimensions=(30, 160),
        )
        child.expect("kshell>")
        child.sendline(f"firmware stage {host} hs110v2.bin")
        child.expect(r"on http://127\.0\.0\.1:(\d+)/")
        port = int(child.match.group(1))
        child.expect("downloading from")
        child.sendcontrol("c")
        child.expect("kshell>")
        assert port_is_free("127.0.0.1", port)  # the shell lives on, the server is gone
        assert sim.plug(host).sw_ver.startswith("1.5.2")

        sim.clear_faults(host, "fw_stall")
        child.sendline(f"firmware stage {host} hs110v2.bin")
        child.expect(r"Flash hs110v2\.bin to Plug 2 .*/N\]")
        child.sendline("y")
        child.expect(r"firmware 1\.5\.2 Build 180130 Rel\.085820 -> 1\.5\.10")
        child.expect("kshell>")
        child.sendline("exit")
        child.expect(pexpect.EOF)
        assert re.match(r"1\.5\.10 ", sim.plug(host).sw_ver)


def test_with_several_plugs_a_refused_one_does_not_stop_the_others(tmp_path):
    home = fw_home(tmp_path)
    image = add_image(home, tmp_path)
    good, other_hw = "127.40.12.2", "127.40.12.3"
    specs = plugs(good) + plugs(other_hw, model="HS110(EU) 1.0")
    with SimulatorThread(specs, firmware=FAST) as sim:
        before = sim.plug(other_hw).sw_ver
        proc, lines, errors = stage(home, f"firmware stage {good} {other_hw} hs110v2.bin --yes")
        assert sim.plug(good).sw_ver == parse_image(image).sw_ver  # type: ignore[union-attr]
        assert sim.plug(other_hw).sw_ver == before
    assert proc.returncode == 1  # not everything succeeded
    assert [e["error"]["target"] for e in errors] == ["Plug 3"]
    assert list(steps_of(lines, "serve")[0]["urls"]) == ["Plug 2"]
    assert [d["host"] for d in steps_of(lines, "done")] == [good]


def test_an_output_that_breaks_mid_flow_still_stops_the_server_and_the_polling(tmp_path):
    """Whatever ends the stream (here the output itself fails), the server is closed."""
    from kshell.app.build import build_session
    from kshell.ui.output import Collector
    from kshell.ui.runner import run_line

    home = fw_home(tmp_path, stall_timeout="60")
    add_image(home, tmp_path)
    host = "127.40.13.2"
    urls: list[str] = []

    class Breaks(Collector):
        def emit(self, result):  # type: ignore[no-untyped-def]
            data = getattr(result, "data", None) or {}
            if data.get("step") == "serve":
                urls.extend(data["urls"].values())
            if data.get("step") == "download_started":
                raise BrokenPipeError("the reader went away")
            super().emit(result)

    async def scenario() -> tuple[bool, int]:
        ctx = build_session(SimpleNamespace(home=str(home), config=None, commands=[]))
        try:
            ok = await run_line(ctx, f"firmware stage {host} hs110v2.bin --yes", Breaks())

            def leftovers() -> list[asyncio.Task[Any]]:
                return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

            await eventually(lambda: not leftovers(), timeout=2)  # no download poller left
            return ok, len(leftovers())
        finally:
            ctx.close_connections()

    with SimulatorThread(plugs(host), firmware=FAST) as sim:
        sim.set_fault(host, "fw_stall")
        ok, leftovers = asyncio.run(scenario())
    assert not ok and leftovers == 0  # no download poller left running
    port = int(urls[0].split(":")[2].split("/")[0])
    assert port_is_free("127.0.0.1", port)


def test_a_simulator_image_never_goes_to_a_plug_off_loopback(tmp_path, monkeypatch):
    """The demo image (and any file in the simulator's format) is for 127.x plugs only."""
    from kshell.app.build import build_session
    from kshell.ui.output import Collector
    from kshell.ui.runner import run_line

    home = fw_home(tmp_path)
    add_image(home, tmp_path)
    host = "127.40.14.2"

    async def seems_real(target):  # type: ignore[no-untyped-def]
        return "203.0.113.40"  # as if the plug were on a real network (TEST-NET-3, never sent to)

    from kshell.work.firmware.flash import checks

    monkeypatch.setattr(checks, "plug_ip", seems_real)

    async def scenario() -> tuple[bool, str]:
        ctx = build_session(SimpleNamespace(home=str(home), config=None, commands=[]))
        out = Collector(as_json=True)
        try:
            return await run_line(
                ctx, f"firmware stage {host} hs110v2.bin --yes --force", out
            ), out.text()
        finally:
            ctx.close_connections()

    with SimulatorThread(plugs(host), firmware=FAST):
        ok, text = asyncio.run(scenario())
    errors = [line["error"] for line in json_lines(text) if "error" in line]
    assert not ok and "never sent to a real plug" in errors[0]["message"]
    assert steps_of(json_lines(text), "serve") == []


def test_bind_and_port_choose_where_the_image_is_served_from(tmp_path):
    import socket

    home = fw_home(tmp_path)
    add_image(home, tmp_path)
    host, bind = "127.40.15.2", "127.40.15.9"
    with socket.socket() as probe:  # a free port to ask for
        probe.bind((bind, 0))
        port = probe.getsockname()[1]
    with SimulatorThread(plugs(host), firmware=FAST):
        proc, lines, errors = stage(
            home, f"firmware stage {host} hs110v2.bin --yes --bind {bind} --port {port}"
        )
    assert proc.returncode == 0, errors
    assert steps_of(lines, "check")[0]["route"] == "--bind"
    assert steps_of(lines, "download_started")[0]["url"].startswith(f"http://{bind}:{port}/")
    assert steps_of(lines, "done")
    assert port_is_free(bind, port)

    refused = run_shell(home, "-c", f"firmware stage {host} hs110v2.bin --yes --bind 0.0.0.0")
    assert refused.returncode == 1 and "the address the plugs connect to" in refused.stderr
