"""A throwaway Dovecot IMAP server on 127.0.0.1 for the remote-mode tests and benchmark.

Debian's ``dovecot-imapd`` 2.3, started as a child process with its own config, users and
folders in a temporary directory (it runs there, unprivileged, only with these settings:
no chroot for login and anvil, mail owned by ``nobody``, plaintext auth on loopback only).
Used as a context manager::

    with Dovecot(users={"kshell": "secret"}) as server:
        server.append("kshell", raw_bytes)

``Dovecot.available()`` says why it cannot run (no ``dovecot`` binary); ``require()`` makes that
a test's clear failure (a hard test dependency is never skipped).
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

MAIL_USER = "nobody"  # an unprivileged uid that owns the mail folders


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc: no extra dependency)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent]
        found += kids
        todo += kids
    return found


def binary() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.path.exists(p)), None
    )


class Dovecot:
    """One Dovecot instance; ``restart()`` stops it and starts it again on the same port."""

    def __init__(
        self,
        users: dict[str, str] | None = None,
        port: int | None = None,
        capabilities: str | None = None,
        tls: tuple[str, str] | None = None,
        ssl_required: bool = False,
        oauth2_url: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.users = users or {"kshell": "secret"}
        self.capabilities = capabilities  # replaces what it announces (e.g. to leave out IDLE)
        self.port = port or free_port()
        # TLS: (cert, key) PEM files turn SSL on: STARTTLS on ``port``, IMAPS on ``ssl_port``;
        # ``ssl_required`` refuses every login before TLS; ``ca_file`` is what our own test
        # client trusts
        self.tls, self.ssl_required, self.ca_file = tls, ssl_required, ca_file
        self.ssl_port = free_port() if tls else 0
        # the oauth2 passdb: XOAUTH2 and OAUTHBEARER tokens checked by POST to this URL
        self.oauth2_url = oauth2_url
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen[bytes] | None = None
        # mkdtemp makes 0700 folders; Dovecot's unprivileged processes must traverse them
        self.root = Path(tempfile.mkdtemp(prefix="kshell-dovecot-"))
        self.root.chmod(0o755)
        self.conf = self.root / "dovecot.conf"

    @staticmethod
    def available() -> str | None:
        """None when Dovecot can run here, else the reason it cannot."""
        if binary() is None:
            return "dovecot binary not found (Debian package dovecot-imapd)"
        return None

    @staticmethod
    def require() -> None:
        """Fail the calling test, naming the peer, when Dovecot cannot run here."""
        reason = Dovecot.available()
        if reason:
            import pytest  # only the tests call this; the benchmark uses available()

            pytest.fail(f"{reason}: Dovecot is a hard test dependency (run tests/peers.sh)", False)

    # -- lifetime -------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self, timeout: float = 15.0) -> None:
        if not self.conf.exists():
            self._write_config()
        exe = binary()
        if exe is None:
            raise RuntimeError(self.available())
        self.proc = subprocess.Popen(
            [exe, "-F", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"dovecot exited: {err.strip()} {self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not open port {self.port}: {self.log_tail()}")

    def stop(self) -> None:
        """Stop the server and drop every client, as a restart of a real server does.

        (The master leaves its imap processes serving their connections when it gets
        SIGTERM; they are ended here so that no test leaves processes behind.)
        """
        if self.proc is None:
            return
        children = _children(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join((self.root / "dovecot.log").read_text().splitlines()[-lines:])
        except OSError:
            return ""

    # -- configuration --------------------------------------------------------------------

    def _write_config(self) -> None:
        nobody = pwd.getpwnam(MAIL_USER)
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir(exist_ok=True)
        for sub in ("mail", "home"):
            os.chown(self.root / sub, nobody.pw_uid, nobody.pw_gid)
        users = self.root / "users"
        users.write_text(
            "".join(f"{name}:{{PLAIN}}{pw}::::::\n" for name, pw in self.users.items())
        )
        users.chmod(0o644)
        root = self.root
        mechanisms = "plain login" + (" xoauth2 oauthbearer" if self.oauth2_url else "")
        oauth2 = ""
        if self.oauth2_url:
            args = root / "dovecot-oauth2.conf.ext"
            args.write_text(
                f"introspection_url = {self.oauth2_url}\n"
                "introspection_mode = post\n"
                "force_introspection = yes\n"
                "username_attribute = username\n"
                "active_attribute = active\n"
                "active_value = true\n"
            )
            args.chmod(0o644)
            oauth2 = f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {args}\n}}\n"
        if self.tls or self.oauth2_url:
            # refused logins are part of these tests: no failure delay, no anvil penalty
            # (trusted networks are exempt) to slow the next attempt past a client's timeout
            oauth2 += "auth_failure_delay = 0\nlogin_trusted_networks = 127.0.0.0/8\n"
        if self.tls:
            ssl = f"ssl = {'required' if self.ssl_required else 'yes'}\n"
            ssl += f"ssl_cert = <{self.tls[0]}\nssl_key = <{self.tls[1]}\n"
        else:
            ssl = "ssl = no\n"
        self.conf.write_text(
            f"""\
protocols = imap
listen = {self.host}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
{ssl}disable_plaintext_auth = {"yes" if self.ssl_required else "no"}
auth_mechanisms = {mechanisms}
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:{root}/mail/%u
mail_uid = {nobody.pw_uid}
mail_gid = {nobody.pw_gid}
first_valid_uid = 1
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN {users}
}}
{oauth2}userdb {{
  driver = static
  args = uid={nobody.pw_uid} gid={nobody.pw_gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.ssl_port}
  }}
}}
service anvil {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
"""
            + (f"imap_capability = {self.capabilities}\n" if self.capabilities else "")
        )

    # -- helpers for tests: a second, independent IMAP client -----------------------------

    def client(self, user: str) -> imaplib.IMAP4:
        if self.tls:  # by IMAPS, trusting the test's CA
            import ssl

            context = ssl.create_default_context(cafile=self.ca_file)
            imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(self.host, self.ssl_port, ssl_context=context)
        else:
            imap = imaplib.IMAP4(self.host, self.port)
        imap.login(user, self.users[user])
        return imap

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver a message the way a mail server would: APPEND into the folder."""
        imap = self.client(user)
        try:
            status, _ = imap.append(folder, "", None, raw)
            if status != "OK":
                raise RuntimeError(f"APPEND failed: {status}")
        finally:
            imap.logout()

    def count(self, user: str, folder: str = "INBOX") -> int:
        """How many messages a folder holds (0 when it does not exist)."""
        imap = self.client(user)
        try:
            status, data = imap.select(folder, readonly=True)
            return int(data[0]) if status == "OK" else 0
        finally:
            imap.logout()


# -- the other mail peers of the remote-mode tests ------------------------------------------


class ReplySink:
    """An aiosmtpd server on 127.0.0.1 that keeps every message it receives (the reply side).

    ``security`` none | starttls | ssl needs ``cert`` (PEM cert, key) for the TLS kinds;
    ``login`` (user, password) makes it require AUTH.
    """

    def __init__(
        self,
        security: str = "none",
        cert: tuple[str, str] | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        import threading

        self.port = free_port()
        self.messages: list[bytes] = []
        self.logins: list[str] = []
        self._arrived = threading.Condition()
        self.controller = None
        self.security, self.cert, self.login = security, cert, login

    def _options(self) -> dict:
        import ssl

        from aiosmtpd.smtp import AuthResult

        options: dict = {}
        context = None
        if self.cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.cert)
        if self.security == "ssl":
            options["ssl_context"] = context
        elif self.security == "starttls":
            options.update(tls_context=context, require_starttls=True)
        if self.login:
            sink, (user, password) = self, self.login

            def check(
                server: object, session: object, envelope: object, mechanism: str, auth_data: object
            ) -> AuthResult:
                ok = (getattr(auth_data, "login", b""), getattr(auth_data, "password", b"")) == (
                    user.encode(),
                    password.encode(),
                )
                if ok:
                    sink.logins.append(user)
                return AuthResult(success=ok, handled=False)  # not handled: 535 on failure

            # aiosmtpd counts only STARTTLS as TLS; implicit SSL is TLS all the same
            options.update(
                authenticator=check,
                auth_required=True,
                auth_require_tls=self.security == "starttls",
            )
        return options

    def __enter__(self) -> Self:
        from aiosmtpd.controller import Controller

        sink = self

        class Keep:
            async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
                with sink._arrived:
                    sink.messages.append(bytes(envelope.original_content or b""))  # type: ignore[attr-defined]
                    sink._arrived.notify_all()
                return "250 OK"

        self.controller = Controller(
            Keep(), hostname="127.0.0.1", port=self.port, **self._options()
        )
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.controller is not None:
            self.controller.stop()

    def wait(self, count: int, timeout: float = 20.0) -> list[bytes]:
        """Block until ``count`` messages have arrived (or the timeout); returns them all."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            return list(self.messages)
