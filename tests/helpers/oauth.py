"""OAuth 2.0 on loopback for the auth tests: a token-introspection server (RFC 7662) that
Dovecot's oauth2 passdb asks, and a token command (a script) the listener runs.

Tokens are issued and revoked by the test: a revoked token is "expired", so a listener that
used it must run its token command again.
"""

from __future__ import annotations

import json
import secrets
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs


class Introspection:
    """``POST /introspect`` with ``token=T``: ``{"active": true, "username": U}`` for a live
    token, ``{"active": false}`` otherwise."""

    def __init__(self) -> None:
        self.live: dict[str, str] = {}  # token -> user
        self.asked: list[str] = []  # every token asked about, in order
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/introspect"

    def issue(self, user: str) -> str:
        token = "tok-" + secrets.token_urlsafe(24)
        with self._lock:
            self.live[token] = user
        return token

    def revoke(self, token: str) -> None:
        with self._lock:
            self.live.pop(token, None)

    def __enter__(self) -> Self:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = min(int(self.headers.get("Content-Length") or 0), 65536)
                form = parse_qs(self.rfile.read(size).decode("ascii", "replace"))
                token = (form.get("token") or [""])[0]
                with peer._lock:
                    peer.asked.append(token)
                    user = peer.live.get(token)
                answer = {"active": True, "username": user} if user else {"active": False}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def token_command(folder: Path, tokens: list[str], name: str = "token-helper") -> Path:
    """A script that prints the next token of ``tokens`` on each run (the last one again
    once they run out), and counts its runs in ``NAME.runs``: a token helper such as oama."""
    script = folder / name
    queue = folder / f"{name}.tokens"
    queue.write_text("\n".join(tokens) + "\n")
    runs = folder / f"{name}.runs"
    script.write_text(
        f"#!{sys.executable}\n"
        "from pathlib import Path\n"
        f"queue, runs = Path({str(queue)!r}), Path({str(runs)!r})\n"
        "left = queue.read_text().split()\n"
        "print(left[0])\n"
        "if len(left) > 1:\n"
        "    queue.write_text('\\n'.join(left[1:]) + '\\n')\n"
        "runs.write_text(str(int(runs.read_text() or 0) + 1 if runs.exists() else 1))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def runs(script: Path) -> int:
    counter = script.with_name(script.name + ".runs")
    return int(counter.read_text()) if counter.exists() else 0
