"""A throwaway Prometheus (Debian's ``prometheus``) on loopback, scraping every second.

Its storage lives in the test's temp folder and it listens on 127.0.0.1 only; values are
read back through its HTTP query API, as Grafana would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from helpers.influx import free_port, stop_process


def binary(name: str) -> str | None:
    return shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)


class Prometheus:
    def __init__(self, root: Path, scrape_configs: list[dict[str, Any]]) -> None:
        self.root = root
        self.port = free_port()
        self.config = root / "prometheus.yml"
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "scrape_configs": scrape_configs,
        }
        self.config.write_text(json.dumps(config))  # JSON is YAML
        self.log = root / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Prometheus:
        exe = binary("prometheus")
        assert exe, "prometheus missing: run tests/peers.sh"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    exe,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.root / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("prometheus did not start:\n" + self.log.read_text()[-2000:])
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        try:
            with _open(f"http://127.0.0.1:{self.port}/-/ready", 0.5) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector of a PromQL query: [{"metric": labels, "value": float}, ...]."""
        params = urllib.parse.urlencode({"query": promql})
        with _open(f"http://127.0.0.1:{self.port}/api/v1/query?{params}", 5) as answer:
            data = json.loads(answer.read())
        assert data["status"] == "success", data
        return [
            {"metric": item["metric"], "value": float(item["value"][1])}
            for item in data["data"]["result"]
        ]

    def wait_for(self, promql: str, predicate: Any = bool, timeout: float = 15.0) -> list[dict]:
        """Query until ``predicate(result)`` holds (Prometheus scrapes once a second)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if predicate(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{promql}: still {result} after {timeout} s")
            time.sleep(0.2)


def _open(url: str, timeout: float) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    return opener.open(url, timeout=timeout)
