"""`login` at the prompt (a real terminal, tmux): the password is typed hidden, used for the
session's KLAP and AES plugs, and never reaches the screen, history or the state folder unless
--save asks for its own 0600 file. Plugs on 127.41.1.x (this file's range)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import run_shell, write_config
from helpers.terminal import Terminal

from kshell.simulator import PlugSpec, SimulatorThread
from kshell.simulator.accounts import DEMO_ACCOUNT

KETTLE = "127.41.1.2"
CREDS = {"KSHELL_USERNAME": DEMO_ACCOUNT.username, "KSHELL_PASSWORD": DEMO_ACCOUNT.password}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    spec = PlugSpec(host=KETTLE, model="P110(AU) 1.0", alias="Kettle", udp_port=None)
    with SimulatorThread([spec], account=DEMO_ACCOUNT) as running:
        yield running


@pytest.fixture()
def home(tmp_path: Path, sim: SimulatorThread) -> Iterator[Path]:
    home = tmp_path / "home"
    write_config(home)  # loopback-only discovery: the prompt refreshes on start
    assert run_shell(home, "-c", f"add {KETTLE}", env=CREDS).returncode == 0
    yield home


def everything_written(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file() and "tmux" not in p.name)


@pytest.mark.parametrize("save", [False, True])
def test_login_types_the_password_hidden_and_keeps_it_out_of_everything(
    home: Path, save: bool
) -> None:
    terminal = Terminal(home)
    try:
        terminal.send(f"login {DEMO_ACCOUNT.username}" + (" --save" if save else ""))
        terminal.key("Enter")
        terminal.expect("password for")
        terminal.send(DEMO_ACCOUNT.password)
        terminal.key("Enter")
        terminal.expect("logged in as")
        terminal.send("info Kettle")
        terminal.key("Enter")
        terminal.expect("SMART over KLAP")
        assert DEMO_ACCOUNT.password not in terminal.screen()
        terminal.leave()
    finally:
        terminal.close()
    saved = home / "credentials"
    assert saved.exists() is save
    secret = DEMO_ACCOUNT.password.encode()
    if save:  # its own file, only the user can read it; a later one-shot uses it
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        result = run_shell(home, "-c", "on Kettle", env={"KSHELL_USERNAME": ""})
        assert result.returncode == 0, result.stderr
        saved.unlink()
    assert secret not in everything_written(home)


def test_a_wrong_password_is_login_failed_and_changes_nothing(home: Path) -> None:
    terminal = Terminal(home)
    try:
        terminal.send(f"login {DEMO_ACCOUNT.username}")
        terminal.key("Enter")
        terminal.expect("password for")
        terminal.send("not-the-password")
        terminal.key("Enter")
        terminal.expect("login failed: refused by Kettle")
        assert "logged in as" not in terminal.screen()
        terminal.send("state Kettle")  # it answered: the login failed, it is not offline
        terminal.key("Enter")
        terminal.expect("needs login")
        assert "offline" not in terminal.screen()
        terminal.send(f"login {DEMO_ACCOUNT.username}")
        terminal.key("Enter")
        terminal.expect("password for")
        terminal.send(DEMO_ACCOUNT.password)
        terminal.key("Enter")
        terminal.expect(r"logged in as \S+ for this session \(accepted by 1 plug\)")
        terminal.leave()
    finally:
        terminal.close()


def test_login_without_a_terminal_says_what_to_set_instead(home: Path) -> None:
    result = run_shell(home, "-c", "login someone@example.com")
    assert result.returncode == 1
    assert "KSHELL_PASSWORD" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_credentials_from_kshell_ini_must_be_private(home: Path) -> None:
    ini = home / "kshell.ini"
    ini.write_text(
        ini.read_text()
        + f"\n[credentials]\nusername = {DEMO_ACCOUNT.username}\npassword = {DEMO_ACCOUNT.password}\n"
    )
    ini.chmod(0o644)
    result = run_shell(home, "-c", "on Kettle")
    assert result.returncode != 0 and "chmod 600" in result.stderr  # refused before any plug
    assert DEMO_ACCOUNT.password not in result.stderr
    ini.chmod(0o600)
    result = run_shell(home, "-c", "on Kettle")
    assert result.returncode == 0, result.stderr
