"""The state folder is trusted as ssh trusts ~/.ssh (issue 18, item 5): a home, config or
command folder another user owns, or group/others can write, is refused before anything in
it runs; secrets are never written through a planted symlink; what kshell writes in its home
is 0600 in a 0700 folder whatever the umask. Tests run as root: uid 65534 (nobody) plays the
other user. Plugs on 127.185.0.x (this file's range)."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import ROOT, run_shell, write_config
from helpers.waiting import wait_until

from kshell.app.build import build_session
from kshell.app.remote.totp import add_secret
from kshell.device.transports.base import Credentials
from kshell.simulator import PlugSpec, SimulatorThread
from kshell.store import credentials

NOBODY = 65534
PLUG = "127.185.0.2"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")


def plant_module(folder: Path, marker: Path) -> None:
    """A command module that, were it ever imported, would leave ``marker`` behind."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
    )


def chown_tree(root: Path, uid: int) -> None:
    for path in [root, *root.rglob("*")]:
        os.lchown(path, uid, uid)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_a_home_another_user_owns_is_refused_and_its_modules_never_run(tmp_path: Path) -> None:
    home = tmp_path / "shared"
    marker = tmp_path / "marker"
    write_config(home)
    (home / "kshell.ini").write_text(
        (home / "kshell.ini")
        .read_text()
        .replace("[shell]\n", f"[shell]\ncommand_folders = {home / 'cmds'}\n", 1)
    )
    plant_module(home / "cmds", marker)
    chown_tree(home, NOBODY)
    result = run_shell(home, "-c", "help")
    assert result.returncode == 2
    line = one_line_error(result)
    assert f"is owned by uid {NOBODY}, not you (uid 0)" in line and str(home) in line
    assert "chmod 700" in line  # how to fix it
    assert not marker.exists()


def test_a_home_group_or_others_can_write_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    for mode in (0o770, 0o757):
        home.chmod(mode)
        result = run_shell(home, "-c", "help")
        assert result.returncode == 2
        assert "writable by group/others" in one_line_error(result)
    home.chmod(0o755)  # not writable by others: as ssh, accepted
    assert run_shell(home, "-c", "help").returncode == 0


def test_a_config_or_command_folder_not_safely_ours_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    foreign = tmp_path / "foreign.ini"
    foreign.write_text("[shell]\ntimeout = 2\n")
    os.chown(foreign, NOBODY, NOBODY)
    result = run_shell(home, "--config", str(foreign), "-c", "help")
    assert result.returncode == 2
    assert f"config {foreign} is owned by uid {NOBODY}" in one_line_error(result)

    marker = tmp_path / "marker"
    plant_module(tmp_path / "cmds", marker)
    (tmp_path / "cmds").chmod(0o777)
    result = run_shell(home, "--commands", str(tmp_path / "cmds"), "-c", "help")
    assert result.returncode == 2
    assert "command folder" in one_line_error(result)
    (tmp_path / "cmds").chmod(0o755)
    (tmp_path / "cmds" / "evil.py").chmod(0o666)  # a module others may rewrite
    result = run_shell(home, "--commands", str(tmp_path / "cmds"), "-c", "help")
    assert result.returncode == 2
    assert "evil.py" in one_line_error(result)
    assert not marker.exists()


def session_in(home: Path):  # type: ignore[no-untyped-def]
    return build_session(argparse.Namespace(home=str(home)))


def test_login_save_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    ctx = session_in(home)
    victim, other = tmp_path / "victim", tmp_path / "other"
    victim.write_text("keep me\n")
    other.write_text("keep me too\n")
    # the temporary name the old code used, and the target itself
    (home / f".credentials.{os.getpid()}.tmp").symlink_to(victim)
    (home / "credentials").symlink_to(other)
    try:
        path = credentials.save(ctx, Credentials("me@example.com", "s3cret"))
    finally:
        ctx.store.close()
    assert victim.read_text() == "keep me\n"
    assert other.read_text() == "keep me too\n"
    assert not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "s3cret" in path.read_text()


def test_totp_add_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    target = home / "kshell-totp.ini"
    (home / f".{target.name}.{os.getpid()}.tmp").symlink_to(victim)
    add_secret(target, "boss@example.org")
    assert victim.read_text() == "keep me\n"
    assert not target.is_symlink() and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "boss@example.org" in target.read_text()
    # the command, from a one-shot: a symlink at the file itself is replaced, not followed
    target.unlink()
    victim.write_text("# keep me\n")  # a valid secrets file: it is read, never written
    victim.chmod(0o600)
    target.symlink_to(victim)
    result = run_shell(home, "-c", "remote totp add reader@example.org")
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "# keep me\n"
    assert not target.is_symlink() and stat.S_IMODE(target.stat().st_mode) == 0o600


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorThread]:
    spec = PlugSpec(host=PLUG, model="HS110(EU) 2.0", alias="Meter", udp_port=None)
    with SimulatorThread([spec]) as running:
        yield running


def modes(home: Path) -> dict[str, int]:
    return {str(p.relative_to(home)): stat.S_IMODE(p.lstat().st_mode) for p in home.rglob("*")}


def test_every_file_in_a_new_home_is_private_whatever_the_umask(
    tmp_path: Path, sim: SimulatorThread
) -> None:
    home = tmp_path / "fresh" / "home"  # made by kshell itself

    command = [sys.executable, str(ROOT / "shell.py"), "--home", str(home), "-c"]
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [*command, f"add {PLUG}"],
        capture_output=True,
        text=True,
        env=env,
        umask=0o022,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # while a watch runs, the store's -wal and -shm files exist: they must be private too
    watch = subprocess.Popen(
        [*command, "emeter watch Meter --count 40 --interval 0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        umask=0o022,
    )
    try:
        wait_until(lambda: (home / "devices.db-wal").exists(), timeout=20, what="the WAL")
        time.sleep(0.3)
        seen = modes(home)
    finally:
        watch.kill()
        watch.wait()
    assert "devices.db-wal" in seen and "devices.db-shm" in seen
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name, mode in {**seen, **modes(home)}.items():
        wanted = 0o700 if (home / name).is_dir() else 0o600
        assert mode == wanted, f"{name} is {mode:04o}"
