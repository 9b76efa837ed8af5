"""Replies as owners at Gmail or Microsoft 365 send them: aiosmtpd on 127.0.0.1 offering
PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER over STARTTLS or SMTPS with a certificate from a CA the
test makes (trusted through ``[remote] ca_file``); passwords and tokens from commands."""

from __future__ import annotations

import asyncio
import email
import sys
from pathlib import Path

import pytest
from helpers.auth_config import failed, settings
from helpers.dovecot import ReplySink
from helpers.oauth import runs, token_command
from helpers.smtp_auth import AuthSmtp
from helpers.tlsca import ServerCert, TestCA

from kshell.app.remote.reply import ReplyError, ReplySender, build_reply

PASSWORD = "smtp-pw-9%Secret"
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def server_cert(ca: TestCA) -> ServerCert:
    return ca.issue()


def original() -> email.message.Message:
    return email.message_from_string(
        "From: boss@home.test\nSubject: plug\nMessage-ID: <o@home.test>\n\n!off x\n"
    )


def sender(tmp_path: Path, remote: str) -> ReplySender:
    s = settings(tmp_path, remote)
    return ReplySender(s.reply, ca_file=s.ca_file)


def send(replies: ReplySender) -> None:
    msg = build_reply(original(), "boss@home.test", "kshell@home.test", "Kettle: off\n")
    asyncio.run(replies.send(msg))


def helper(folder: Path, line: str) -> Path:
    script = folder / "pass-helper"
    script.write_text(f"#!{sys.executable}\nprint({line!r})\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("security", ["starttls", "ssl"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"])
def test_a_reply_is_sent_over_tls_with_each_mechanism(
    security: str, mechanism: str, tmp_path: Path, ca: TestCA, server_cert: ServerCert
) -> None:
    token = f"tok-{mechanism.lower()}-{security}"
    exclude = ("PLAIN",) if mechanism == "LOGIN" else ()
    with AuthSmtp(
        security, server_cert.pair(), password=PASSWORD, tokens={token}, exclude=exclude
    ) as peer:
        if mechanism in ("PLAIN", "LOGIN"):
            how = f"reply_password_command = {helper(tmp_path, PASSWORD)}\n"
        else:
            how = f"reply_auth = {mechanism.lower()}\n"
            how += f"reply_token_command = {token_command(tmp_path, [token])}\n"
        replies = sender(
            tmp_path,
            f"reply = smtp://kshell@127.0.0.1:{peer.port}\nreply_security = {security}\n"
            f"ca_file = {ca.cert_file}\n" + how,
        )
        steps = asyncio.run(replies.check())
        send(replies)
        replies.close()
        [raw] = peer.wait(1)
    assert not failed(steps), steps
    names = [name for name, _, _ in steps]
    assert "reply: TLS" in names and names[-1] == "reply: auth"
    assert peer.logins == [f"{mechanism} kshell"] * 2  # the check, then the reply
    assert PASSWORD not in repr(steps) and token not in repr(steps)
    assert email.message_from_bytes(raw)["Subject"] == "Re: plug"


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_a_refused_token_is_answered_as_the_rfc_says_then_refreshed(
    mechanism: str, tmp_path: Path, ca: TestCA, server_cert: ServerCert
) -> None:
    with AuthSmtp("starttls", server_cert.pair(), tokens={"tok-fresh"}) as peer:
        command = token_command(tmp_path, ["tok-expired", "tok-fresh"])
        replies = sender(
            tmp_path,
            f"reply = smtp://kshell@127.0.0.1:{peer.port}\nreply_security = starttls\n"
            f"ca_file = {ca.cert_file}\nreply_auth = {mechanism.lower()}\n"
            f"reply_token_command = {command}\n",
        )
        send(replies)
        replies.close()
        peer.wait(1)
    assert runs(command) == 2
    assert peer.refused == [mechanism] and peer.logins == [f"{mechanism} kshell"]
    # the answer to the error challenge: RFC 7628's ^A, or XOAUTH2's empty response
    assert peer.answers == [b"\x01" if mechanism == "OAUTHBEARER" else b""]


def test_a_token_refused_twice_is_one_clear_auth_step_with_the_status(
    tmp_path: Path, ca: TestCA, server_cert: ServerCert
) -> None:
    with AuthSmtp("ssl", server_cert.pair(), tokens={"tok-good"}) as peer:
        command = token_command(tmp_path, ["tok-bad-1", "tok-bad-2"])
        replies = sender(
            tmp_path,
            f"reply = smtps://kshell@127.0.0.1:{peer.port}\nca_file = {ca.cert_file}\n"
            f"reply_auth = xoauth2\nreply_token_command = {command}\n",
        )
        steps = asyncio.run(replies.check())
        with pytest.raises(ReplyError) as err:
            send(replies)
    [(name, _, detail)] = failed(steps)
    assert name == "reply: auth" and "535" in detail and "status 401" in detail
    assert "tok-bad" not in detail + str(err.value) and "535" in str(err.value)
    assert peer.messages == []


def test_starttls_not_offered_is_an_error_and_nothing_goes_out_in_plaintext(
    tmp_path: Path, ca: TestCA
) -> None:
    with ReplySink() as plain:  # no STARTTLS
        replies = sender(
            tmp_path,
            f"reply = smtp://kshell:{PASSWORD}@127.0.0.1:{plain.port}\nreply_security = starttls\n"
            f"ca_file = {ca.cert_file}\n",
        )
        steps = asyncio.run(replies.check())
        with pytest.raises(ReplyError) as err:
            send(replies)
    [(name, _, detail)] = failed(steps)
    assert name == "reply: TLS" and "does not offer STARTTLS" in detail
    assert "STARTTLS" in str(err.value) and plain.messages == []


@pytest.mark.parametrize("security", ["starttls", "ssl"])
@pytest.mark.parametrize("wrong", ["ca", "host"])
def test_a_certificate_that_fails_verification_is_refused(
    security: str, wrong: str, tmp_path: Path, ca: TestCA, server_cert: ServerCert
) -> None:
    other = TestCA(tmp_path / "other", "somebody else's CA")
    cert = server_cert if wrong == "ca" else ca.issue(("mail.elsewhere.test",), tag="elsewhere")
    trusted = other.cert_file if wrong == "ca" else ca.cert_file
    with AuthSmtp(security, cert.pair(), password=PASSWORD) as peer:
        replies = sender(
            tmp_path,
            f"reply = smtp://kshell:{PASSWORD}@127.0.0.1:{peer.port}\n"
            f"reply_security = {security}\nca_file = {trusted}\n",
        )
        steps = asyncio.run(replies.check())
        with pytest.raises(ReplyError) as err:
            send(replies)
    [(name, _, detail)] = failed(steps)
    assert name == "reply: TLS" and "certificate refused" in detail, steps
    assert "certificate refused" in str(err.value)
    assert peer.logins == [] and peer.messages == []
    assert PASSWORD not in detail + str(err.value)


def test_a_secret_smtp_cannot_send_is_one_clear_error(
    tmp_path: Path, ca: TestCA, server_cert: ServerCert
) -> None:
    with AuthSmtp("ssl", server_cert.pair(), password="pässword") as peer:
        replies = sender(
            tmp_path,
            f"reply = smtps://kshell@127.0.0.1:{peer.port}\nca_file = {ca.cert_file}\n"
            f"reply_password_command = {helper(tmp_path, 'pässword')}\n",
        )
        steps = asyncio.run(replies.check())
        with pytest.raises(ReplyError) as err:
            send(replies)
    [(name, _, detail)] = failed(steps)
    assert name == "reply: auth" and "not ASCII" in detail
    assert "not ASCII" in str(err.value) and "pässword" not in detail + str(err.value)
