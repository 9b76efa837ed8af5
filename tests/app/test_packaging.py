"""An installed kshell, not the checkout: build a wheel, install it into a fresh venv and run
the installed ``kshell`` from a folder far from the tree (issue 10: a wheel that left out
kshell.ui.completer worked for one-shot commands and broke the prompt).

The venv holds only the wheel; it sees the test venv's dependencies through a path file,
never the checkout (the test venv's editable finder is not activated: only a .pth in a
site folder runs, and the path file adds the folder without reading its .pth files).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from helpers.shell import ROOT, write_config

from kshell.simulator import PlugSpec, SimulatorThread

PLUG = "127.20.9.2"


class Installed:
    def __init__(self, root: Path, wheel: Path) -> None:
        self.root = root
        self.wheel = wheel
        self.bin = root / "bin"
        self.away = root.parent / "elsewhere"  # the working folder: no kshell/ in sight
        self.away.mkdir(exist_ok=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "NO_COLOR")}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        return env

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.away,
            env={**self.env(), "NO_COLOR": "1"},
            check=False,
        )


def fresh_tree(dest: Path) -> Path:
    """The files a clone would have (tracked, or new and not ignored): a build/ folder left
    in the checkout by an earlier build must not hide a package the build now leaves out."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: a plain copy
        skip = shutil.ignore_patterns(
            ".*", "build", "dist", "*.egg-info", "node_modules", "__pycache__"
        )
        shutil.copytree(ROOT, dest, ignore=skip, dirs_exist_ok=True)
        return dest
    for name in filter(None, (n.decode() for n in listed)):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def build_wheel(tree: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """pip wheel; without build isolation when this venv has the build tools (seconds faster)."""
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("wheel") else []
    return subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", *isolation, "-w", str(out)]
        + [str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    build = build_wheel(fresh_tree(tmp_path_factory.mktemp("tree")), base)
    wheels = list(base.glob("kshell-*.whl"))
    assert build.returncode == 0 and wheels, build.stderr[-2000:]
    root = base / "venv"
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the test venv's dependencies, as a plain path (its own .pth files are not read)
    (Path(purelib) / "test-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheels[0]),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    yield Installed(root, wheels[0])


def test_the_wheel_holds_every_package_and_nothing_at_the_top(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert all(t == "kshell" or t.startswith("kshell-") for t in tops), tops
    folders = {str(p.parent.relative_to(ROOT)) for p in ROOT.glob("kshell/**/__init__.py")}
    for folder in folders | {"commands", "history"}:
        inside = folder if folder.startswith("kshell") else f"kshell/{folder}"
        assert f"{inside}/__init__.py" in names, f"{folder} is missing from the wheel"


def test_the_installed_kshell_imports_itself_not_the_checkout(installed: Installed) -> None:
    where = installed.run(
        str(installed.bin / "python"),
        "-c",
        "import kshell, kshell.commands.power as p, kshell.app.repl, kshell.ui.completer;"
        "print(kshell.__file__); print(p.__file__)",
    )
    assert where.returncode == 0, where.stderr
    for line in where.stdout.splitlines():
        assert Path(line).is_relative_to(installed.root), line


def test_installed_one_shot_against_a_plug(installed: Installed, tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home)
    spec = PlugSpec(host=PLUG, alias="Porch", model="HS110(EU) 2.0", udp_port=None)
    with SimulatorThread([spec]):
        out = installed.run("kshell", "--home", str(home), "-c", f"add {PLUG}; info Porch")
    assert out.returncode == 0, out.stderr
    assert "Porch" in out.stdout and "HS110(EU)" in out.stdout


def test_the_installed_demo_has_its_firmware_image(installed: Installed) -> None:
    """pip install . then kshell --demo: the demo image ships in the wheel (data_files under
    the prefix), so the demo's firmware library is not empty."""
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert any(n.endswith("share/kshell/firmware/manifest.json") for n in names), names[-5:]
    out = installed.run("kshell", "--demo", "--json", "-c", "firmware list")
    assert out.returncode == 0, out.stderr
    listed = out.stdout
    assert "demo-sim-HS110EU-hw2.0-1.5.99.bin" in listed
    assert str(installed.root) in listed and str(ROOT) not in listed  # the installed copy


def test_installed_prompt_through_a_terminal(installed: Installed) -> None:
    child = pexpect.spawn(
        str(installed.bin / "kshell"),
        ["--demo"],
        cwd=str(installed.away),
        env=installed.env(),
        encoding="utf-8",
        timeout=30,
        dimensions=(30, 120),
    )
    try:
        child.expect("Ctrl-D exits")
        child.send("on 'Kitchen Kettle'\r")
        child.expect("Kitchen Kettle: on")
        child.expect("kshell>")  # the prompt is back (a key typed ahead would be lost)
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
