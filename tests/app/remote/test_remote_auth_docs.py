"""The README's provider examples are configs kshell accepts, and the auth keys' mistakes
are one line naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers.auth_config import settings

from kshell.errors import UsageError

README = Path(__file__).resolve().parents[3] / "README.md"


def provider_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("### Mail providers", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```ini\n(.*?)```", section, re.DOTALL)


def test_every_provider_example_loads(tmp_path: Path) -> None:
    blocks = provider_blocks()
    assert len(blocks) >= 4
    gmail = blocks[0]
    for block in blocks:
        body = block.replace("[remote]\n", "")
        if "source =" not in body:  # the OAuth variant of the block above it
            body = gmail.replace("[remote]\n", "").replace("_password_command", "_unused") + body
            body = "\n".join(ln for ln in body.splitlines() if "_unused" not in ln) + "\n"
        remote = settings(tmp_path, body)
        assert remote.source.kind == "imap" and remote.reply is not None
        assert "@" in remote.source.user and remote.source.password in ("", "PROXY-PASSWORD")
        if "outlook" in body or "office365" in body:
            assert remote.source.auth.kind == "xoauth2" or "127.0.0.1" in body


@pytest.mark.parametrize(
    "remote, key",
    [
        ("source = imaps://me@h/INBOX\n", "source_password_command"),
        ("source = imaps://me@h/INBOX\nsource_auth = xoauth2\n", "source_token_command"),
        ("source = imaps://me@h/INBOX\nsource_auth = kerberos\n", "source_auth"),
        ("source = imaps://me:pw@h/INBOX\nsource_password_command = pass x\n", "keep one"),
        ("source = imaps://me@h/INBOX\nsource_password_command = 'unclosed\n", "source_password"),
        ("source = imaps://me:pw@h/INBOX\nsource_security = starttls\n", "imap://"),
        ("source = imap://me:pw@h/INBOX\nsource_security = tls\n", "source_security"),
        ("reply = smtp://me@h:587\n", "reply_password_command"),
        ("reply = smtp://h:587\nreply_auth = oauthbearer\nreply_token_command = t\n", "user"),
        ("ca_file = /nonexistent/ca.pem\n", "ca_file"),
        ("secret_command_timeout = 0\n", "secret_command_timeout"),
    ],
)
def test_auth_mistakes_are_one_line_naming_the_key(tmp_path: Path, remote: str, key: str) -> None:
    with pytest.raises(UsageError) as err:
        settings(tmp_path, remote)
    assert key in str(err.value) and "pw" not in str(err.value).replace("password", "")


def test_imaps_by_source_security_defaults_to_port_993(tmp_path: Path) -> None:
    remote = settings(tmp_path, "source = imap://me:pw@h/INBOX\nsource_security = ssl\n")
    assert remote.source.tls and remote.source.port == 993
    remote = settings(tmp_path, "source = imap://me:pw@h:1143/INBOX\nsource_security = ssl\n")
    assert remote.source.port == 1143
    remote = settings(tmp_path, "source = imap://me:pw@h/INBOX\nsource_security = starttls\n")
    assert remote.source.starttls and remote.source.port == 143
    assert "STARTTLS" in remote.source.describe()
