"""What ships to run kshell as a service: the systemd units in docs/ pass
``systemd-analyze verify`` without a word (their ExecStart pointed at this install's
kshell), carry the hardening a daemon reading strangers' mail should have, and the
Dockerfile copies what setup.cfg builds from (checked by building that wheel offline)."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers.shell import ROOT

DOCS = ROOT / "docs"
SYSTEM_UNITS = ("kshell-listen.service", "kshell-metrics.service")
USER_UNIT = "kshell-listen-user.service"
INSTALLED = {"/opt/kshell/bin/kshell", "%h/.local/bin/kshell"}  # where the units expect it


def kshell_here() -> Path:
    found = Path(sys.executable).parent / "kshell"
    assert found.exists(), f"{found}: the test runs from an installed kshell (pip install -e .)"
    return found


def unit(name: str) -> dict[str, list[str]]:
    """A unit's [Service] settings, each key with all its values in order."""
    values: dict[str, list[str]] = {}
    section = ""
    for raw in (DOCS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        key, _, value = line.partition("=")
        if section == "[Service]":
            values.setdefault(key, []).append(value)
    return values


def verify(path: Path) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze missing: a hard test dependency (run tests/peers.sh)", False)
    return subprocess.run(
        [analyze, "verify", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def local_copy(name: str, folder: Path, change: str = "") -> Path:
    """The unit with ExecStart pointed at this install's kshell (verify wants it to exist)."""
    text = (DOCS / name).read_text()
    for where in INSTALLED:
        text = text.replace(where, str(kshell_here()))
    copy = folder / name
    copy.write_text(text + change)
    return copy


@pytest.mark.parametrize("name", [*SYSTEM_UNITS, USER_UNIT])
def test_each_unit_passes_systemd_analyze_verify_without_a_word(tmp_path: Path, name: str) -> None:
    result = verify(local_copy(name, tmp_path))
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


def test_the_verify_check_can_fail(tmp_path: Path) -> None:
    """A misspelled key is only a warning to systemd (exit 0): the check reads the words."""
    broken = local_copy(SYSTEM_UNITS[0], tmp_path, "ProtectSystm=strict\n")
    result = verify(broken)
    assert "Unknown key" in result.stderr, result


@pytest.mark.parametrize("name", SYSTEM_UNITS)
def test_system_units_are_hardened(name: str) -> None:
    service = unit(name)
    want = {
        "User": "kshell",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "read-only",
        "PrivateTmp": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        "CapabilityBoundingSet": "",
        "Restart": "on-failure",
        "UMask": "0077",
    }
    for key, value in want.items():
        assert service.get(key) == [value], (name, key, service.get(key))
    assert "@system-service" in service["SystemCallFilter"]
    assert re.fullmatch(r"\d+[MG]", service["MemoryMax"][0])
    command = shlex.split(service["ExecStart"][0])
    home = command[command.index("--home") + 1]
    assert service["ReadWritePaths"] == [home] and home == "/var/lib/kshell"  # the state folder
    assert service["StateDirectory"] == ["kshell"]


def test_only_the_listener_reloads_and_it_has_time_to_finish_a_mail() -> None:
    listen, metrics = unit("kshell-listen.service"), unit("kshell-metrics.service")
    assert listen["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert "--listen" in listen["ExecStart"][0] and "--serve-metrics" in metrics["ExecStart"][0]
    assert "ExecReload" not in metrics  # the exporter has no SIGHUP handler: it would die
    assert int(listen["TimeoutStopSec"][0]) >= 150  # SIGTERM waits for the mail in hand
    user = unit(USER_UNIT)
    assert "User" not in user and user["ExecReload"] == listen["ExecReload"]
    assert "%h/.local/bin/kshell" in user["ExecStart"][0]


@pytest.mark.parametrize("name", SYSTEM_UNITS)
def test_systemd_rates_the_system_units_well_exposed_at_most(tmp_path: Path, name: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(local_copy(name, tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= 2.0, result.stdout  # systemd's "OK" band


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined), comments left out."""
    text = (DOCS / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_the_dockerfile_runs_the_listener_unprivileged_with_its_state_in_a_volume() -> None:
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    words = [word for word, _ in steps]
    assert set(words) <= {
        "FROM",
        "WORKDIR",
        "COPY",
        "RUN",
        "USER",
        "ENV",
        "VOLUME",
        "CMD",
        "STOPSIGNAL",
    }
    user = [rest for word, rest in steps if word == "USER"]
    assert user == ["kshell"] and words.index("USER") < words.index("CMD")
    env = dict(pair.split("=", 1) for word, rest in steps if word == "ENV" for pair in rest.split())
    assert [rest for word, rest in steps if word == "VOLUME"] == [env["KSHELL_HOME"]]
    assert json.loads(dict(steps)["CMD"]) == ["kshell", "--listen"]
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert "kshell = kshell.app.cli:run" in setup["options.entry_points"]["console_scripts"]
    runs = " ".join(rest for word, rest in steps if word == "RUN")
    assert not re.search(r"\b(curl|wget)\b", runs)  # nothing fetched but pip's packages


def test_the_dockerfile_copies_what_the_package_builds_from(tmp_path: Path) -> None:
    """Only what the COPY lines bring, built into a wheel offline: every package is in it."""
    context = tmp_path / "src"
    context.mkdir()
    for word, rest in dockerfile():
        if word != "COPY":
            continue
        *sources, _target = rest.split()
        for source in sources:
            origin = ROOT / source
            assert origin.exists(), f"the Dockerfile copies {source}, which is not in the tree"
            if origin.is_dir():
                shutil.copytree(
                    origin, context / source, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy2(origin, context / source)
    setup = configparser.ConfigParser()
    setup.read(context / "setup.cfg")
    folders = [
        line.split("=")[1].strip()
        for line in setup["options"]["package_dir"].split("\n")
        if "=" in line
    ]
    assert folders and all((context / folder).is_dir() for folder in folders), folders
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "wheel"),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheel").glob("kshell-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in (
        "kshell/app/cli.py",
        "kshell/app/remote/service.py",
        "kshell/commands/remote.py",
        "kshell/history/store.py",
    ):
        assert module in names, module
