"""The exporter as an operator starts it: ``metrics on`` at the prompt (a real terminal), and
``--serve-metrics`` beside remote mode's ``--listen``.

Plugs live on 127.80.3.x (this file's range).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pexpect
import pytest
from helpers.dovecot import ReplySink
from helpers.headless import deliver
from helpers.mail import make_mail
from helpers.maildir import configure
from helpers.shell import ROOT, run_shell
from helpers.waiting import wait_until

from kshell.simulator import PlugSpec, SimulatorThread

LAMP = "127.80.3.2"


@pytest.fixture(scope="module")
def sim():
    with SimulatorThread(
        [PlugSpec(host=LAMP, model="HS110(EU) 2.0", alias="Lamp", udp_port=None)]
    ) as running:
        yield running


def _page(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return str(opener.open(url, timeout=10).read().decode())


def test_metrics_on_status_off_at_the_prompt(home: Path, sim: SimulatorThread) -> None:
    assert run_shell(home, "-c", f"add {LAMP}").returncode == 0
    child = pexpect.spawn(
        sys.executable,
        [str(ROOT / "shell.py"), "--home", str(home)],
        cwd=str(ROOT),
        env={**os.environ, "NO_COLOR": "1", "TERM": "xterm"},
        encoding="utf-8",
        timeout=20,
        dimensions=(40, 160),
    )
    try:
        child.expect("kshell")
        child.sendline("metrics on 127.0.0.1:0")
        child.expect(r"metrics: on, serving (http://127\.0\.0\.1:\d+)/metrics")
        base = child.match.group(1)
        page = _page(f"{base}/metrics")
        assert f'kasa_up{{alias="Lamp",family="iot",host="{LAMP}"' in page
        assert 'kasa_power_watts{alias="Lamp"' in page
        child.sendline("metrics on 127.0.0.1:0")
        child.expect("metrics: already on")
        child.sendline("metrics status")
        child.expect(r"state +on")
        child.expect(r"scrapes +1")
        child.sendline("metrics off")
        child.expect("metrics: off")
        with pytest.raises(OSError):
            _page(f"{base}/metrics")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_serve_metrics_beside_listen(home: Path, sim: SimulatorThread, sink: ReplySink) -> None:
    configure(home, sink)
    assert run_shell(home, "-c", f"add {LAMP}").returncode == 0
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home)]
        + ["--serve-metrics", "127.0.0.1:0", "--listen"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        said = []
        while proc.stderr is not None and not any("listening" in s for s in said):
            line = proc.stderr.readline()  # the log of a service is stderr
            assert line, f"stopped: {said}"
            said.append(line)
        found = re.search(r"http://127\.0\.0\.1:\d+/metrics", "".join(said))
        assert found, said
        assert f'host="{LAMP}"' in _page(found.group(0))
        done = deliver(home, make_mail(f"!off {LAMP}"), "1.metrics")
        wait_until(done.exists, 30, what="the mail to be handled")
        assert sim.plug(LAMP).relay_state == 0
        off = f'kasa_relay_on{{alias="Lamp",host="{LAMP}",outlet=""}} 0.0'
        wait_until(lambda: off in _page(found.group(0)), 10, step=0.3, what="the relay off")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "INFO remote: stopped" in err and out == ""
