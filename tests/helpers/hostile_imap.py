"""A hostile IMAP server on 127.0.0.1 for the auth tests: it greets and lists capabilities
like a real one, then answers STARTTLS with plaintext injected after its OK, or a refused
AUTHENTICATE / LOGIN with a huge error full of terminal escapes. It records what it got."""

from __future__ import annotations

import base64
import json
import socket
import threading
from typing import Self

from helpers.dovecot import free_port

ESCAPES = "\x1b[2J\x1b]0;owned\x07\r\n* BYE "  # clears the screen, retitles, fakes a line


class HostileImap:
    def __init__(self, mode: str) -> None:
        # "preauth" (a plaintext greeting that claims we are logged in), "inject" (after STARTTLS) | "noisy" (a refusal's text) | "plain-sasl": no SASL-IR,
        # so the client must wait for "+" before its initial response; accepts ``token``
        self.mode = mode
        self.token = "tok-A"
        self.port = free_port()
        self.received: list[bytes] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(4)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    self._session(conn)
                except OSError:
                    pass

    def _session(self, conn: socket.socket) -> None:
        caps = "IMAP4rev1 STARTTLS SASL-IR AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER"
        if self.mode == "plain-sasl":
            caps = caps.replace(" SASL-IR", "")
        greeting = "PREAUTH" if self.mode == "preauth" else "OK"  # "logged in" in plaintext
        conn.sendall(f"* {greeting} [CAPABILITY {caps}] ready\r\n".encode())
        reader = conn.makefile("rb")
        noise = (ESCAPES + "x" * 50_000).encode()
        while line := reader.readline(65536):
            self.received.append(line)
            tag, _, rest = line.decode("ascii", "replace").strip().partition(" ")
            verb = rest.split(" ")[0].upper()
            if verb == "CAPABILITY":
                conn.sendall(f"* CAPABILITY {caps}\r\n{tag} OK done\r\n".encode())
            elif verb == "STARTTLS":
                # the OK, then answers of the attacker's in the same packet, before any TLS
                conn.sendall(
                    f"{tag} OK begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n".encode()
                )
                return
            elif verb == "AUTHENTICATE" and self.mode == "plain-sasl":
                if len(rest.split()) > 2:
                    conn.sendall(f"{tag} BAD no SASL-IR here\r\n".encode())
                    continue
                conn.sendall(b"+ \r\n")
                answer = reader.readline(65536)
                self.received.append(answer)
                ok = f"auth=Bearer {self.token}".encode() in base64.b64decode(answer.strip())
                conn.sendall(f"{tag} {'OK logged in' if ok else 'NO refused'}\r\n".encode())
            elif verb == "AUTHENTICATE":
                status = json.dumps({"status": ESCAPES + "y" * 20_000}).encode()
                conn.sendall(b"+ " + base64.b64encode(status) + b"\r\n")
                self.received.append(reader.readline(65536))  # the dummy response
                conn.sendall(tag.encode() + b" NO " + noise + b"\r\n")
            elif verb == "LOGIN":
                conn.sendall(tag.encode() + b" NO " + noise + b"\r\n")
            elif verb == "LOGOUT":
                conn.sendall(f"* BYE\r\n{tag} OK bye\r\n".encode())
                return
            else:
                conn.sendall(f"{tag} BAD what\r\n".encode())
