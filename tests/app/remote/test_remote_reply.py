"""Replies by SMTP as operators configure them: plain, STARTTLS or SSL, with a login, against
a real aiosmtpd server on 127.0.0.1 whose certificate the test makes and trusts."""

from __future__ import annotations

import asyncio
import datetime
import email
import ipaddress
from pathlib import Path

import pytest
from helpers.dovecot import ReplySink

from kshell.app.remote.reply import ReplyError, ReplySender, build_reply
from kshell.app.remote.settings import parse_reply


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (PEM files: cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def original() -> email.message.Message:
    return email.message_from_string(
        "From: boss@home.test\nSubject: Re: plug\nMessage-ID: <o@home.test>\n"
        "References: <a@home.test>\n\n!off x\n"
    )


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # aiosmtpd, on SSL
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_reply_over_tls_with_login(
    security: str, cert: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", cert[0])  # trust the test's own certificate
    with ReplySink(security, cert, login=("kshell", "p%ss")) as sink:
        spec = parse_reply(f"smtp://kshell:p%ss@127.0.0.1:{sink.port}", security)
        sender = ReplySender(spec)
        steps = asyncio.run(sender.check())
        asyncio.run(
            sender.send(
                build_reply(original(), "boss@home.test", "kshell@home.test", "Kettle: off\n")
            )
        )
        sender.close()
        [raw] = sink.wait(1)
    assert all(ok for _, ok, _ in steps), steps
    assert any(
        step == "reply: TLS" and ("STARTTLS" if security == "starttls" else "implicit") in detail
        for step, _, detail in steps
    )
    assert any(step == "reply: auth" for step, _, _ in steps)
    reply = email.message_from_bytes(raw)
    assert reply["Subject"] == "Re: plug"  # not "Re: Re: plug"
    assert reply["References"] == "<a@home.test> <o@home.test>"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert sink.logins == ["kshell", "kshell"]


def test_a_wrong_password_or_an_untrusted_certificate_is_one_clear_error(
    cert: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", cert[0])
    with ReplySink("starttls", cert, login=("kshell", "right")) as sink:
        sender = ReplySender(parse_reply(f"smtp://kshell:wrong@127.0.0.1:{sink.port}", "starttls"))
        with pytest.raises(ReplyError) as err:
            asyncio.run(sender.send(build_reply(original(), "boss@home.test", "k@home.test", "x")))
        assert "535" in str(err.value)
        steps = asyncio.run(sender.check())
        assert steps[-1][0] == "reply: auth" and not steps[-1][1] and "535" in steps[-1][2]
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))  # nothing trusted now
        sender = ReplySender(parse_reply(f"smtp://kshell:right@127.0.0.1:{sink.port}", "starttls"))
        with pytest.raises(ReplyError) as err:
            asyncio.run(sender.send(build_reply(original(), "boss@home.test", "k@home.test", "x")))
        assert "certificate refused" in str(err.value)
    assert sink.messages == []
