"""The IMAP source as owners at Gmail or Microsoft 365 log in: a real Dovecot on 127.0.0.1
with SSL on (a CA the test makes) and its oauth2 passdb asking a token-introspection server
the test runs, so XOAUTH2 and OAUTHBEARER are checked by a real IMAP server; passwords and
tokens come from commands, and a refused certificate or a missing STARTTLS ends the login."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.auth_config import failed, settings, source_steps
from helpers.dovecot import Dovecot
from helpers.mail import make_mail
from helpers.oauth import Introspection, runs, token_command
from helpers.tlsca import ServerCert, TestCA

from kshell.app.remote.sources.base import Incoming
from kshell.app.remote.sources.imap import ImapSource

PASSWORD = "pw-7%Secret"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    folder = tmp_path_factory.mktemp("ca")
    folder.chmod(0o755)  # Dovecot's unprivileged processes read the server key
    return TestCA(folder)


@pytest.fixture(scope="module")
def server_cert(ca: TestCA) -> ServerCert:
    return ca.issue()


@pytest.fixture(scope="module")
def introspection() -> Iterator[Introspection]:
    with Introspection() as running:
        yield running


@pytest.fixture(scope="module")
def dovecot(ca: TestCA, server_cert: ServerCert, introspection: Introspection) -> Iterator[Dovecot]:
    Dovecot.require()
    with Dovecot(
        users={"kshell": PASSWORD},
        tls=server_cert.pair(),
        oauth2_url=introspection.url,
        ca_file=str(ca.cert_file),
    ) as server:
        yield server


def printer(folder: Path, line: str, name: str = "pass-helper") -> Path:
    """A password helper such as ``pass show mail``: the secret on its first line."""
    script = folder / name
    script.write_text(f"#!{sys.executable}\nprint({line!r})\nprint('second line: not it')\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("kind", ["xoauth2", "oauthbearer"])
def test_oauth_tokens_log_in_over_imaps(
    kind: str, tmp_path: Path, ca: TestCA, dovecot: Dovecot, introspection: Introspection
) -> None:
    token = introspection.issue("kshell")
    helper = token_command(tmp_path, [token])
    remote = settings(
        tmp_path,
        f"source = imaps://kshell@127.0.0.1:{dovecot.ssl_port}/INBOX\n"
        f"source_auth = {kind}\nsource_token_command = {helper}\nca_file = {ca.cert_file}\n",
    )
    steps = source_steps(remote)
    assert not failed(steps), steps
    names = [name for name, _, _ in steps]
    assert names[:3] == ["source: connect", "source: TLS", "source: auth"]
    assert kind in steps[2][2] and token not in repr(steps)
    assert runs(helper) == 1
    assert f"method={kind.upper()}" in dovecot.log_tail(40)


@pytest.mark.parametrize("kind", ["xoauth2", "oauthbearer"])
def test_a_refused_token_is_asked_for_again_once_then_one_clear_auth_step(
    kind: str, tmp_path: Path, ca: TestCA, server_cert: ServerCert, introspection: Introspection
) -> None:
    Dovecot.require()
    # a Dovecot of its own: its auth penalty (2 s, doubling per refusal from one address)
    # must not carry over from the other tests
    with Dovecot(tls=server_cert.pair(), oauth2_url=introspection.url) as dovecot:
        _refused_twice(kind, tmp_path, ca, dovecot, introspection)


def _refused_twice(
    kind: str, tmp_path: Path, ca: TestCA, dovecot: Dovecot, introspection: Introspection
) -> None:
    helper = token_command(tmp_path, ["tok-never-issued", "tok-still-not"])
    remote = settings(
        tmp_path,
        f"source = imaps://kshell@127.0.0.1:{dovecot.ssl_port}/INBOX\n"
        f"source_auth = {kind}\nsource_token_command = {helper}\nca_file = {ca.cert_file}\n",
    )
    steps = source_steps(remote)
    [(name, _, detail)] = failed(steps)
    assert name == "source: auth", steps
    assert f"{kind} refused for kshell" in detail
    assert "tok-" not in detail and "\n" not in detail and len(detail) < 400
    assert runs(helper) == 2  # the first answer, then one refresh: no loop
    assert introspection.asked[-2:] == ["tok-never-issued", "tok-still-not"]


def test_a_token_that_expires_mid_run_is_refreshed_through_the_command(
    tmp_path: Path, ca: TestCA, dovecot: Dovecot, introspection: Introspection
) -> None:
    first, second = introspection.issue("kshell"), introspection.issue("kshell")
    helper = token_command(tmp_path, [first, second])
    remote = settings(
        tmp_path,
        f"source = imaps://kshell@127.0.0.1:{dovecot.ssl_port}/Refresh\n"
        f"source_auth = xoauth2\nsource_token_command = {helper}\nca_file = {ca.cert_file}\n",
    )
    dovecot.client("kshell").create("Refresh")
    dovecot.append("kshell", make_mail("!on x", msgid="<before@home.test>"), "Refresh")
    seen: list[str] = []
    said: list[str] = []

    class Handle:  # the source's Handler (the service's Dispatcher), one mail at a time
        closing = False
        busy = False

        async def __call__(self, incoming: Incoming) -> None:
            seen.append(incoming.where)
            await incoming.finish()

        def in_hand(self, where: str) -> bool:
            return False

        async def finished(self) -> None:
            await asyncio.sleep(3600)  # nothing is ever left in hand

    async def scenario() -> None:
        source = ImapSource(remote.source, remote, said.append)
        task = asyncio.create_task(source.run(Handle()))
        try:
            await _until(lambda: len(seen) == 1)
            introspection.revoke(first)  # the access token expires
            await asyncio.to_thread(dovecot.restart)  # and the server drops the link
            await asyncio.to_thread(
                dovecot.append, "kshell", make_mail("!off x", msgid="<after@home.test>"), "Refresh"
            )
            await _until(lambda: len(seen) == 2)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert runs(helper) == 2
    assert first not in repr(said) and second not in repr(said)


async def _until(check: object, limit: float = 30.0) -> None:
    for _ in range(int(limit / 0.05)):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("gave up waiting")


def test_starttls_is_verified_and_a_server_requiring_tls_is_served(
    tmp_path: Path, ca: TestCA, server_cert: ServerCert
) -> None:
    Dovecot.require()
    with Dovecot(
        users={"kshell": PASSWORD},
        tls=server_cert.pair(),
        ssl_required=True,
        ca_file=str(ca.cert_file),
    ) as server:
        helper = printer(tmp_path, PASSWORD)
        remote = settings(
            tmp_path,
            f"source = imap://kshell@127.0.0.1:{server.port}/INBOX\nsource_security = starttls\n"
            f"source_password_command = {helper}\nca_file = {ca.cert_file}\n",
        )
        steps = source_steps(remote)
        log = server.log_tail(40)
    assert not failed(steps), steps
    assert ("source: TLS", True) == steps[1][:2] and "STARTTLS" in steps[1][2]
    assert "password from source_password_command" in steps[2][2]
    assert PASSWORD not in repr(steps)
    assert "method=PLAIN" in log and "TLS" in log


def test_starttls_asked_for_but_not_offered_is_an_error_never_plaintext(tmp_path: Path) -> None:
    Dovecot.require()
    with Dovecot(users={"kshell": PASSWORD}) as server:  # ssl = no: no STARTTLS offered
        remote = settings(
            tmp_path,
            f"source = imap://kshell:{PASSWORD}@127.0.0.1:{server.port}/INBOX\n"
            "source_security = starttls\n",
        )
        steps = source_steps(remote)
        log = server.log_tail(40)
    [(name, _, detail)] = failed(steps)
    assert name == "source: TLS" and "does not offer STARTTLS" in detail
    assert "Login:" not in log  # no password went out in plaintext


@pytest.mark.parametrize("wrong", ["ca", "host"])
def test_a_certificate_that_fails_verification_is_refused(
    wrong: str, tmp_path: Path, ca: TestCA, server_cert: ServerCert
) -> None:
    Dovecot.require()
    other = TestCA(tmp_path / "other", "somebody else's CA")
    cert = server_cert if wrong == "ca" else ca.issue(("mail.elsewhere.test",), tag="elsewhere")
    trusted = other.cert_file if wrong == "ca" else ca.cert_file
    with Dovecot(users={"kshell": PASSWORD}, tls=cert.pair()) as server:
        for source in (
            f"imaps://kshell:{PASSWORD}@127.0.0.1:{server.ssl_port}/INBOX\n",
            f"imap://kshell:{PASSWORD}@127.0.0.1:{server.port}/INBOX\nsource_security = starttls\n",
        ):
            steps = source_steps(settings(tmp_path, f"source = {source}ca_file = {trusted}\n"))
            [(name, _, detail)] = failed(steps)
            assert name == "source: TLS" and "certificate refused" in detail, steps
            assert ("IP address mismatch" if wrong == "host" else "issuer") in detail
        log = server.log_tail(40)
    assert "Login:" not in log


def test_a_password_command_that_fails_or_hangs_is_one_line_naming_the_key(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    slow = tmp_path / "slow-helper"
    slow.write_text(f"#!/bin/sh\nsleep 30\necho {PASSWORD}\n")
    slow.chmod(0o755)
    broken = tmp_path / "broken-helper"
    broken.write_text("#!/bin/sh\necho 'gpg: decryption failed: No secret key' >&2\nexit 2\n")
    broken.chmod(0o755)
    base = f"source = imap://kshell@127.0.0.1:{dovecot.port}/INBOX\nsecret_command_timeout = 1\n"
    import time

    started = time.monotonic()
    [(name, _, detail)] = failed(
        source_steps(settings(tmp_path, base + f"source_password_command = {slow}\n"))
    )
    assert time.monotonic() - started < 10  # the whole group is killed: no wait for sleep
    assert name == "source: auth" and "source_password_command" in detail
    assert "no answer within 1 s" in detail
    [(name, _, detail)] = failed(
        source_steps(settings(tmp_path, base + f"source_password_command = {broken}\n"))
    )
    assert "source_password_command" in detail and "exited with status 2" in detail
    assert "decryption failed" in detail and "\n" not in detail


def test_secrets_from_commands_never_reach_test_status_audit_or_the_reply(
    home: Path, tmp_path: Path, ca: TestCA, server_cert: ServerCert, dovecot: Dovecot
) -> None:
    from helpers.imap import audit, listen, until
    from helpers.shell import run_shell, write_config
    from helpers.smtp_auth import AuthSmtp

    smtp_token = "tok-smtp-Secret-42"
    with AuthSmtp("starttls", server_cert.pair(), tokens={smtp_token}) as peer:
        write_config(
            home,
            extra=(
                f"\n[remote]\nsource = imaps://kshell@127.0.0.1:{dovecot.ssl_port}/Shown\n"
                f"source_password_command = {printer(tmp_path, PASSWORD)}\n"
                f"reply = smtp://kshell@127.0.0.1:{peer.port}\nreply_security = starttls\n"
                f"reply_auth = xoauth2\nreply_token_command = {token_command(tmp_path, [smtp_token])}\n"
                f"ca_file = {ca.cert_file}\nreply_from = kshell@home.test\n"
                "trusted_authserv_id = mx.home.test\n[senders]\nboss@home.test = control\n"
            ),
        )
        dovecot.client("kshell").create("Shown")
        tested = run_shell(home, "-c", "remote test")
        status = run_shell(home, "-c", "remote status")
        dovecot.append("kshell", make_mail("!on 127.50.9.9", msgid="<shown@home.test>"), "Shown")

        async def scenario(service: object) -> None:
            await until(lambda: len(peer.messages) == 1, "the reply")

        said = listen(home, scenario)
        [reply] = peer.wait(1)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    for step in ("source: connect", "source: TLS", "source: auth", "reply: TLS", "reply: auth"):
        assert step in tested.stdout
    everything = tested.stdout + tested.stderr + status.stdout + status.stderr + repr(said)
    everything += repr(audit(home)) + reply.decode("utf-8", "replace")
    everything += "".join(p.read_text(errors="replace") for p in home.rglob("*.log"))
    assert audit(home)  # the mail is on record, without either secret
    assert PASSWORD not in everything and smtp_token not in everything
    assert peer.logins == ["XOAUTH2 kshell"] * 2
