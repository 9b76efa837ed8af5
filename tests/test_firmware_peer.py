"""The firmware flow's error paths against a third-party plug simulator.

npm ``tplink-smarthome-simulator`` accepts ``download_firmware``, then answers -7 to
``get_download_state`` and -5 to ``flash_firmware``, as real plugs do when a download fails.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from conftest import json_lines, run_shell, write_config
from test_firmware_staging import port_is_free

from kshell.simulator import make_image

HOST = "127.40.50.2"
DEVICES = [
    {
        "address": HOST,
        "port": 9999,
        "model": "hs100",
        "data": {"alias": "Peer Plug", "mac": "50:c7:bf:40:50:02", "deviceId": "F100"},
    }
]
UDP_PORT = 19940


def peer_home(tmp_path):
    home = tmp_path / "home"
    write_config(
        home,
        udp_port=UDP_PORT,
        extra=f"\n[firmware]\nlibrary = {tmp_path / 'lib'}\npoll_interval = 0.1\n",
    )
    image = tmp_path / "hs100.bin"
    image.write_bytes(make_image("HS100(US)", "1.0", "1.2.6", size=50_000))
    added = run_shell(
        home, "-c", f"firmware add {image} --model 'HS100(US)' --hw 1.0 --version 1.2.6"
    )
    assert added.returncode == 0, added.stderr
    return home


def test_download_state_minus_7_ends_the_flow_and_stops_the_server(npm_peer, tmp_path):
    npm_peer(DEVICES, UDP_PORT)
    home = peer_home(tmp_path)
    proc = run_shell(home, "--json", "-c", f"firmware stage {HOST} hs100.bin --yes")
    lines, errors = json_lines(proc.stdout), json_lines(proc.stderr)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    check = next(line for line in lines if line.get("step") == "check")
    assert check["model"] == "HS100(US)" and check["sw_ver"].startswith("1.2.5")
    started = next(line for line in lines if line.get("step") == "download_started")
    assert started["url"].startswith("http://127.")
    error = errors[0]["error"]
    assert error["message"].startswith("get_download_state: ") and "err_code -7" in error["message"]
    assert "nothing was flashed" in error["message"]
    assert not [line for line in lines if line.get("step") == "flash"]
    serve = next(line for line in lines if line.get("step") == "serve")
    assert port_is_free(serve["addresses"][0], serve["port"])

    state = run_shell(home, "-c", f"firmware state {HOST}")
    assert state.returncode == 1 and "get_download_state failed: err_code -7" in state.stderr


def test_flash_minus_5_is_a_clear_error_naming_the_step(npm_peer, tmp_path):
    """The flash step on its own (the peer never completes a download, so the flow
    cannot reach it through the command)."""
    from kshell.app.build import build_session
    from kshell.core.targets import resolve
    from kshell.work.firmware.flash import FirmwareError, PlugRun, Settings
    from kshell.work.firmware.flash.reboot import flash
    from kshell.work.firmware.library import Library, choose_image

    npm_peer(DEVICES, UDP_PORT)
    home = peer_home(tmp_path)

    async def scenario() -> FirmwareError:
        ctx = build_session(SimpleNamespace(home=str(home), config=None, commands=[]))
        try:
            image = choose_image(Library(tmp_path / "lib"), "hs100.bin")
            target = resolve(ctx, HOST)[0]
            run = PlugRun(target, "HS100(US)", "1.0", "1.2.5", flash_time=1, reboot_time=1)
            with pytest.raises(FirmwareError) as caught:
                await flash(ctx, run, image, Settings(), lambda item: None)
            return caught.value
        finally:
            ctx.close_connections()

    error = asyncio.run(scenario())
    assert error.step == "flash_firmware"
    assert str(error).startswith(
        f"{HOST}: flash_firmware: system.flash_firmware failed: err_code -5"
    )
    assert "keeps 1.2.5" in error.message
