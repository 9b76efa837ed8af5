"""The auth path attacked: a hostile IMAP server injecting plaintext after STARTTLS, or
refusing a login with a huge error full of terminal escapes; and password or token commands
that print too much, nothing, or try to be a shell."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
from helpers.auth_config import failed, settings, source_steps
from helpers.hostile_imap import HostileImap
from helpers.oauth import token_command
from helpers.tlsca import TestCA

from kshell.app.remote.auth import AuthError, run_secret_command


@pytest.mark.parametrize("mode", ["inject", "preauth"])
def test_plaintext_injected_after_starttls_is_refused_before_any_login(
    mode: str, tmp_path: Path
) -> None:
    ca = TestCA(tmp_path / "ca")
    with HostileImap(mode) as server:
        steps = source_steps(
            settings(
                tmp_path,
                f"source = imap://kshell:hunter2@127.0.0.1:{server.port}/INBOX\n"
                f"source_security = starttls\nca_file = {ca.cert_file}\n",
            )
        )
    [(name, _, detail)] = failed(steps)
    assert name == "source: TLS"
    assert ("sent data after STARTTLS" if mode == "inject" else "pre-authenticated") in detail
    assert not any(b"SELECT" in line for line in server.received)
    assert not any(b"hunter2" in line or b"LOGIN" in line for line in server.received)


@pytest.mark.parametrize("auth", ["password", "xoauth2", "oauthbearer"])
def test_a_refusal_is_bounded_and_cleaned(auth: str, tmp_path: Path) -> None:
    how = (
        "source = imap://kshell:hunter2@127.0.0.1:{port}/INBOX\n"
        if auth == "password"
        else "source = imap://kshell@127.0.0.1:{port}/INBOX\n"
        f"source_auth = {auth}\nsource_token_command = {token_command(tmp_path, ['tok-A'])}\n"
    )
    with HostileImap("noisy") as server:
        steps = source_steps(settings(tmp_path, how.format(port=server.port)))
    [(name, _, detail)] = failed(steps)
    assert name == "source: auth" and "refused for kshell" in detail
    assert len(detail) <= 200 and "\x1b" not in detail and "\r" not in detail
    assert "\n" not in detail and "\x07" not in detail
    if auth != "password":  # the error challenge was answered with the dummy response
        dummy = base64.b64encode(b"\x01" if auth == "oauthbearer" else b"") + b"\r\n"
        assert dummy in server.received


@pytest.mark.parametrize("auth", ["xoauth2", "oauthbearer"])
def test_without_sasl_ir_the_initial_response_waits_for_the_servers_go_ahead(
    auth: str, tmp_path: Path
) -> None:
    with HostileImap("plain-sasl") as server:
        steps = source_steps(
            settings(
                tmp_path,
                f"source = imap://kshell@127.0.0.1:{server.port}/INBOX\nsource_auth = {auth}\n"
                f"source_token_command = {token_command(tmp_path, ['tok-A'])}\n",
            )
        )
    assert ("source: auth", True) in [step[:2] for step in steps], steps
    assert any(line.strip().endswith(auth.upper().encode()) for line in server.received)


def script(folder: Path, body: str) -> tuple[str, ...]:
    path = folder / "helper"
    path.write_text(f"#!{sys.executable}\n{body}\n")
    path.chmod(0o755)
    return (str(path),)


def test_a_command_runs_without_a_shell_and_gives_its_first_line(tmp_path: Path) -> None:
    assert run_secret_command(("echo", "$HOME;", "rm", "-rf", "x"), "k", 5) == "$HOME; rm -rf x"
    argv = script(tmp_path, "print('s3cret')\nprint('and more')")
    assert run_secret_command(argv, "k", 5) == "s3cret"


@pytest.mark.parametrize(
    "body, why",
    [
        ("print()", "printed nothing"),
        ("import sys; sys.stdout.write('x' * 100000)", "more than"),
        ("print('pass\\x1bword')", "control characters"),
        ("import sys; sys.exit(4)", "status 4"),
    ],
)
def test_a_bad_command_is_one_line_naming_its_key_without_its_output(
    body: str, why: str, tmp_path: Path
) -> None:
    with pytest.raises(AuthError) as err:
        run_secret_command(script(tmp_path, body), "reply_password_command", 5)
    message = str(err.value)
    assert why in message and "reply_password_command" in message
    assert "\n" not in message and "pass" not in message.replace("password_command", "")


def test_a_missing_command_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(AuthError) as err:
        run_secret_command((str(tmp_path / "nope"),), "source_token_command", 5)
    assert "source_token_command: cannot run" in str(err.value)
