"""Shared fixtures: a private home per test, the shell as a subprocess, the npm peer.

Every test passes its own --home, so nothing reads or writes a user's files, and every
discovery in a test is pointed at 127.255.255.255 (never a real interface).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.shell import write_config

PEER = Path(__file__).resolve().parent / "peer"
GUARD = Path(__file__).resolve().parent / "loopback_guard"


@pytest.fixture(scope="session", autouse=True)
def loopback_only(tmp_path_factory):
    """Every Python process of the run (this one and the shells it starts) may talk to
    loopback only; any other destination is refused and fails the session here."""
    log = tmp_path_factory.mktemp("guard") / "refused.log"
    os.environ["KSHELL_GUARD_LOG"] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(GUARD), os.environ.get("PYTHONPATH")])
    )
    sys.path.insert(0, str(GUARD))
    import sitecustomize  # noqa: F401 - installs the guard in this process too

    yield log
    if log.exists() and log.read_text().strip():
        pytest.fail("traffic to a non-loopback address was attempted:\n" + log.read_text())


@pytest.fixture(autouse=True)
def loopback_only_here(loopback_only: Path) -> Iterator[None]:
    """The same guard, told per test: the test whose processes tried it fails, by name."""
    before = loopback_only.stat().st_size if loopback_only.exists() else 0
    yield
    if loopback_only.exists() and loopback_only.stat().st_size > before:
        with loopback_only.open(encoding="utf-8") as log:
            log.seek(before)
            pytest.fail("this test tried a non-loopback address:\n" + log.read())


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    write_config(path)
    return path


def _ensure_peer() -> Path:
    """The npm simulator, as tests/peers.sh installed it (the tests never fetch anything)."""
    return PEER


def missing_peers() -> list[str]:
    """The real peers the suite talks to that this machine lacks, each with how to get it."""
    missing = []
    if not (PEER / "node_modules" / "tplink-smarthome-simulator").is_dir():
        missing.append("the npm plug simulator (tests/peer/node_modules)")
    for binary, package in (
        ("node", "nodejs"),
        ("dovecot", "dovecot-imapd"),
        ("tmux", "tmux"),
        ("prometheus", "prometheus"),
        ("promtool", "prometheus"),
        ("influxd", "influxdb"),
    ):
        if shutil.which(binary) is None and not Path("/usr/sbin", binary).exists():
            missing.append(f"{binary} (Debian package {package})")
    return missing


def pytest_sessionstart(session: pytest.Session) -> None:
    """A peer that cannot be had is one clear failure naming it, never a hang or a skip."""
    missing = missing_peers()
    if missing:
        pytest.exit(
            "test peers missing: " + "; ".join(missing) + ": run tests/peers.sh", returncode=4
        )


class NpmPeer:
    """tplink-smarthome-simulator devices (a third-party implementation) on loopback."""

    def __init__(self, devices: list[dict], udp_port: int) -> None:
        self.devices = devices
        self.udp_port = udp_port
        spec = json.dumps({"udpPort": udp_port, "devices": devices})
        self.proc = subprocess.Popen(
            ["node", str(_ensure_peer() / "npm_sim.js"), spec],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if line.strip() != "ready":
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise RuntimeError(f"npm simulator did not start: {line} {err}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def npm_peer():
    """Factory: npm_peer(devices, udp_port) -> NpmPeer, stopped after the test."""
    if shutil.which("node") is None:  # pytest_sessionstart stops the run first; never a skip
        pytest.fail("node not found: the npm plug simulator needs it (run tests/peers.sh)", False)
    started: list[NpmPeer] = []

    def start(devices: list[dict], udp_port: int) -> NpmPeer:
        peer = NpmPeer(devices, udp_port)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


@pytest.fixture
def fleet(tmp_path):
    """Factory: fleet(specs) -> (SimulatorThread, home) with discovery pointed at it."""
    from kshell.simulator import SimulatorThread

    running = []

    def start(specs, **config):
        sim = SimulatorThread(specs).start()
        running.append(sim)
        home = tmp_path / f"home{len(running)}"
        write_config(home, udp_port=sim.udp_port or 9999, **config)
        return sim, home

    yield start
    for sim in running:
        sim.stop()


@pytest.fixture
def sink():
    """An SMTP server on loopback that keeps the replies remote mode sends (aiosmtpd)."""
    from helpers.dovecot import ReplySink

    with ReplySink() as running:
        yield running


@pytest.fixture(scope="session")
def dkim_key() -> tuple[bytes, bytes]:
    """A DKIM signing key: (PEM private key, the DNS TXT record that publishes it)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
