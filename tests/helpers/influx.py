"""A throwaway InfluxDB 1.x (Debian's ``influxd``) on loopback, for the sink's tests.

Its own config file puts every listener on 127.0.0.1 (HTTP on a free port, the RPC service
on another), its meta, data and WAL folders in the test's temp folder, and turns off
reporting, the monitor's own database and the other inputs. ``restart()`` stops and starts
the same server on the same folders (an outage the sink must ride out).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Self


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """End a server the test started: SIGTERM, then SIGKILL if it is not gone in 10 s."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def influxd_binary() -> str | None:
    return shutil.which("influxd") or (
        "/usr/bin/influxd" if Path("/usr/bin/influxd").exists() else None
    )


_CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{root}/meta"
  logging-enabled = false
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[retention]
  enabled = false
[shard-precreation]
  enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
  pprof-enabled = false
[logging]
  level = "warn"
"""


class Influx:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.http_port = free_port()
        self.config = root / "influxdb.conf"
        self.config.write_text(_CONFIG.format(root=root, rpc=free_port(), http=self.http_port))
        self.log = root / "influxd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 15.0) -> Influx:
        binary = influxd_binary()
        assert binary, "influxd missing: run tests/peers.sh"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, "-config", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while not self._ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("influxd did not start:\n" + self.log.read_text()[-2000:])
            time.sleep(0.05)
        return self

    def _ping(self) -> bool:
        try:
            with _open(f"{self.url}/ping", timeout=0.5) as answer:
                return bool(answer.status == 204)
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def restart(self, down: float = 0.0) -> None:
        self.stop()
        time.sleep(down)
        self.start()

    def query(self, q: str, db: str = "") -> list[dict[str, Any]]:
        """The series of an InfluxQL query's first statement (empty when none)."""
        params = urllib.parse.urlencode({"q": q, "db": db, "epoch": "ms"})
        with _open(f"{self.url}/query?{params}", timeout=5) as answer:
            data = json.loads(answer.read())
        result = data["results"][0]
        assert "error" not in result, result["error"]
        return list(result.get("series", []))

    def create(self, db: str) -> None:
        body = urllib.parse.urlencode({"q": f'CREATE DATABASE "{db}"'}).encode()
        with _open(f"{self.url}/query", data=body, timeout=5) as answer:
            assert answer.status == 200

    def rows(self, db: str, q: str = "SELECT * FROM kasa") -> list[dict[str, Any]]:
        out = []
        for series in self.query(q, db):
            for values in series["values"]:
                out.append(dict(zip(series["columns"], values, strict=True)))
        return out

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _open(url: str, *, data: bytes | None = None, timeout: float) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    return opener.open(url, data=data, timeout=timeout)
