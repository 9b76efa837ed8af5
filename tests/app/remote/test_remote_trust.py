"""Remote mode, the pure parts: reading a mail's orders, deciding whether its sender is
proven, reading the config, and the journal's once-only promise and lock."""

from __future__ import annotations

import base64
import configparser
import email
from email.message import Message
from pathlib import Path

import pyotp
import pytest

from kshell.app.remote.body import body_text, html_to_text, parse_orders
from kshell.app.remote.journal import Journal, JournalLocked
from kshell.app.remote.settings import load_settings, parse_source
from kshell.app.remote.totp import TotpBook, TotpGuard
from kshell.app.remote.trust import aligned, from_address, judge, parse_authres
from kshell.errors import UsageError
from kshell.store.config import DEFAULT_CONFIG

SENDERS = {"boss@home.test": "control"}
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def mail(text: str) -> Message:
    return email.message_from_string(text.replace("\n", "\r\n"))


def verdict(msg_text: str, **kw):  # type: ignore[no-untyped-def]
    msg = mail(msg_text)
    args = {"senders": SENDERS, "authserv_id": "mx.home.test", **kw}
    return judge(msg, msg.as_bytes(), **args)


# -- the body -----------------------------------------------------------------------------


def test_command_lines_are_marked_lines_before_the_signature() -> None:
    text = (
        "Hi,\r\n!off Kitchen\r\n> !reboot Kitchen --yes\r\n  !on Hall\r\n!info Kitchen\r\n"
        "!auth 123456\r\n-- \r\n!on Kitchen\r\nSent from my phone\r\n"
    )
    orders = parse_orders(text)
    assert orders.commands == ["off Kitchen", "info Kitchen"]
    assert orders.auth_codes == ["123456"]


def test_lf_only_body_and_another_marker() -> None:
    orders = parse_orders("#off a\n!off b\n#  on c  \n", marker="#")
    assert orders.commands == ["off a", "on c"]


def test_gateway_text_after_a_command_is_ignored() -> None:
    sms = "!off Kitchen\nFREE MSG: reply STOP to stop\n"
    assert parse_orders(sms).commands == ["off Kitchen"]


def test_plain_part_wins_and_html_alone_is_converted() -> None:
    both = mail(
        "From: a@b.test\nContent-Type: multipart/alternative; boundary=X\n\n"
        "--X\nContent-Type: text/html\n\n<p>!on html</p>\n"
        "--X\nContent-Type: text/plain\n\n!on plain\n--X--\n"
    )
    assert parse_orders(body_text(both)).commands == ["on plain"]
    html_only = mail(
        "From: a@b.test\nContent-Type: text/html; charset=utf-8\n\n"
        "<html><style>!on style</style><div>!off Kitchen</div><br>"
        "<blockquote>!on quoted</blockquote><p>!info&nbsp;Kitchen</p></html>\n"
    )
    assert parse_orders(body_text(html_only)).commands == ["off Kitchen", "info Kitchen"]


def test_attachments_and_missing_text_give_no_commands() -> None:
    msg = mail(
        "From: a@b.test\nContent-Type: multipart/mixed; boundary=X\n\n"
        "--X\nContent-Type: text/plain\nContent-Disposition: attachment\n\n!on x\n"
        "--X\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--X--\n"
    )
    assert body_text(msg) == ""
    assert html_to_text("<p>!on <b>a</b></p><script>!off b</script>").strip() == "!on a"


# -- trust ----------------------------------------------------------------------------------


def test_bare_address_never_the_display_name() -> None:
    assert from_address(mail('From: "boss@home.test" <x@evil.test>\n\n')) == "x@evil.test"
    assert from_address(mail("From: Boss <BOSS@Home.Test>\n\n")) == "boss@home.test"
    assert from_address(mail("From: a@b.test, c@d.test\n\n")) is None
    assert from_address(mail("From: a@b.test\nFrom: boss@home.test\n\n")) is None


def test_alignment_is_the_domain_or_a_parent_of_it() -> None:
    assert aligned("home.test", "home.test")
    assert aligned("home.test", "mail.home.test")
    assert not aligned("evil.test", "home.test")
    assert not aligned("test", "home.test")
    assert not aligned("ome.test", "home.test")


def test_authentication_results_parsing() -> None:
    server, results = parse_authres(
        'mx.home.test 1; dkim=pass (good sig) header.d=home.test header.i="@home.test";'
        " spf=fail smtp.mailfrom=x; dmarc=pass header.from=home.test"
    )
    assert server == "mx.home.test"
    assert ("dkim", "pass", {"header.d": "home.test", "header.i": "@home.test"}) in results
    assert results[-1][:2] == ("dmarc", "pass")


def test_a_quoted_pass_in_authentication_results_is_not_a_pass() -> None:
    header = (
        "Authentication-Results: mx.home.test; "
        'dkim=fail reason="bad; dkim=pass header.d=home.test" header.d=evil.test\n'
    )
    server, results = parse_authres(header.partition(": ")[2])
    assert server == "mx.home.test" and [r[:2] for r in results] == [("dkim", "fail")]
    assert not verdict(header + "From: boss@home.test\n\n").trusted
    junk = "Authentication-Results: mx.home.test; ((( dkim=pass header.d=home.test\n"
    assert not verdict(junk + "From: boss@home.test\n\n").trusted


@pytest.mark.parametrize(
    "tags, why",
    [("h=from:date:message-id; l=10", "l="), ("h=from:subject", "does not cover")],
)
def test_the_servers_dkim_pass_is_not_enough_for_a_signature_we_refuse(tags: str, why: str) -> None:
    v = verdict(
        "Authentication-Results: mx.home.test; dkim=pass header.d=home.test\n"
        f"DKIM-Signature: v=1; a=rsa-sha256; d=home.test; s=sel; {tags}; bh=AA==; b=BB==\n"
        "From: boss@home.test\n\n"
    )
    assert not v.trusted and why in v.how


def test_from_alone_proves_nothing() -> None:
    v = verdict("From: boss@home.test\nSubject: x\n\n!off Kitchen\n")
    assert not v.trusted and "no proof" in v.how


def test_display_name_of_an_allowed_sender_is_rejected() -> None:
    v = verdict(
        "Authentication-Results: mx.home.test; dkim=pass header.d=evil.test\n"
        'From: "boss@home.test" <boss@evil.test>\n\n!off Kitchen\n'
    )
    assert not v.trusted and v.sender == "boss@evil.test"


def test_topmost_authentication_results_of_our_server_with_aligned_pass() -> None:
    ok = verdict(
        "Authentication-Results: mx.home.test; dkim=pass header.d=home.test\n"
        "From: Boss <boss@home.test>\n\n"
    )
    assert ok.trusted and ok.permission == "control"
    dmarc = verdict(
        "Authentication-Results: mx.home.test; dmarc=pass header.from=home.test\n"
        "From: boss@home.test\n\n"
    )
    assert dmarc.trusted


@pytest.mark.parametrize(
    "headers",
    [
        # not our server
        "Authentication-Results: mx.evil.test; dkim=pass header.d=home.test\n",
        # ours, but not topmost: a sender can add headers below the server's
        (
            "Authentication-Results: mx.home.test; dkim=fail header.d=home.test\n"
            "Authentication-Results: mx.home.test; dkim=pass header.d=home.test\n"
        ),
        # a pass for another domain
        "Authentication-Results: mx.home.test; dkim=pass header.d=evil.test\n",
        # not a pass
        "Authentication-Results: mx.home.test; dkim=neutral header.d=home.test\n",
    ],
)
def test_authentication_results_that_prove_nothing(headers: str) -> None:
    assert not verdict(headers + "From: boss@home.test\n\n").trusted


def test_authentication_results_are_ignored_where_no_server_of_ours_wrote_them() -> None:
    v = verdict(
        "Authentication-Results: mx.home.test; dkim=pass header.d=home.test\n"
        "From: boss@home.test\n\n",
        trust_authres=False,
    )
    assert not v.trusted


def test_sender_off_the_allowlist_is_rejected_even_with_proof() -> None:
    v = verdict(
        "Authentication-Results: mx.home.test; dkim=pass header.d=home.test\n"
        "From: stranger@home.test\n\n"
    )
    assert not v.trusted and "allowlist" in v.how


def test_totp_code_is_accepted_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        guard = TotpGuard(TotpBook({"boss@home.test": SECRET}, tmp_path / "none.ini"), journal)
        code = pyotp.TOTP(SECRET).now()
        assert guard.settle("boss@home.test", [code], proven=False).proof == "TOTP code"
        again = guard.settle("boss@home.test", [code], proven=False)
        assert again.proof is None and again.refusal == "TOTP code already used"
        wrong = "000000" if code != "000000" else "111111"
        assert guard.settle("boss@home.test", [wrong], proven=False).proof is None
    finally:
        journal.close()


# DKIM, with a real key pair and a DNS answer served from memory


def _signed(private: bytes, domain: str, headers: list[bytes], text: str) -> bytes:
    import dkim

    raw = text.replace("\n", "\r\n").encode()
    if b"from" in headers:
        return dkim.sign(raw, b"sel", domain.encode(), private, include_headers=headers) + raw
    return _sign_by_hand(private, domain, headers, raw)


def _sign_by_hand(private: bytes, domain: str, names: list[bytes], raw: bytes) -> bytes:
    """A valid relaxed/relaxed rsa-sha256 signature over ``names`` only (dkimpy refuses to
    make one without From, which is exactly what this test needs)."""
    import hashlib

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from dkim.canonicalization import Relaxed

    head, _, body = raw.partition(b"\r\n\r\n")
    pairs = [tuple(line.split(b":", 1)) for line in head.split(b"\r\n")]
    bh = base64.b64encode(hashlib.sha256(Relaxed.canonicalize_body(body)).digest())
    tags = (
        b"v=1; a=rsa-sha256; c=relaxed/relaxed; d="
        + domain.encode()
        + b"; s=sel; h="
        + b":".join(names)
        + b"; bh="
        + bh
        + b"; b="
    )
    signed = Relaxed.canonicalize_headers(
        [p for p in pairs if p[0].lower() in names] + [(b"DKIM-Signature", b" " + tags)]
    )
    data = b"".join(name + b":" + value for name, value in signed)[:-2]  # no CRLF after the last
    key = serialization.load_pem_private_key(private, None)
    sig = base64.b64encode(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))  # type: ignore[union-attr, call-arg]
    return b"DKIM-Signature: " + tags + sig + b"\r\n" + raw


def _judge_raw(raw: bytes, dns: bytes):  # type: ignore[no-untyped-def]
    msg = email.message_from_bytes(raw)
    return judge(msg, raw, senders=SENDERS, authserv_id="", dnsfunc=lambda name, timeout=5: dns)


def test_dkim_signature_aligned_and_covering_from(dkim_key: tuple[bytes, bytes]) -> None:
    private, dns = dkim_key
    raw = _signed(private, "home.test", COVERED + [b"subject"], ORDER)
    v = _judge_raw(raw, dns)
    assert v.trusted and "DKIM" in v.how
    assert v.signatures and v.signatures[0].startswith("signed:")  # what it signs, for the journal


COVERED = [b"from", b"date", b"message-id"]
ORDER = (
    "From: boss@home.test\nDate: Sun, 29 Nov 2026 20:00:00 +0000\n"
    "Message-ID: <o1@home.test>\nSubject: x\n\n!off Kitchen\n"
)


@pytest.mark.parametrize(
    "names",
    [[b"from", b"subject"], [b"from", b"date"], [b"from", b"message-id"]],
    ids=["no-date-no-id", "no-id", "no-date"],
)
def test_dkim_signature_must_cover_from_date_and_message_id(
    dkim_key: tuple[bytes, bytes], names: list[bytes]
) -> None:
    private, dns = dkim_key
    raw = _signed(private, "home.test", names, ORDER)
    v = _judge_raw(raw, dns)
    assert not v.trusted and "does not cover" in v.how


def test_dkim_signature_with_a_body_length_proves_nothing(dkim_key: tuple[bytes, bytes]) -> None:
    import dkim

    private, dns = dkim_key
    raw = ORDER.replace("\n", "\r\n").encode()
    signed = dkim.sign(raw, b"sel", b"home.test", private, include_headers=COVERED, length=True)
    appended = signed + raw + b"!on Kitchen\r\n"  # l= lets anyone append text
    assert dkim.verify(appended, dnsfunc=lambda name, timeout=5: dns)
    v = _judge_raw(appended, dns)
    assert not v.trusted and "l=" in v.how


def test_dkim_signature_that_does_not_cover_from_proves_nothing(
    dkim_key: tuple[bytes, bytes],
) -> None:
    import dkim

    private, dns = dkim_key
    raw = _signed(private, "home.test", [b"date", b"message-id", b"subject"], ORDER)
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: dns)  # valid, yet From is not signed
    assert not _judge_raw(raw, dns).trusted


def test_dkim_signature_of_another_domain_or_altered_body(dkim_key: tuple[bytes, bytes]) -> None:
    private, dns = dkim_key
    other = _signed(private, "evil.test", COVERED, ORDER)
    assert not _judge_raw(other, dns).trusted
    good = _signed(private, "home.test", COVERED, ORDER)
    assert not _judge_raw(good.replace(b"!off", b"!on "), dns).trusted


# -- config ---------------------------------------------------------------------------------


def _config(extra: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(DEFAULT_CONFIG)
    parser.read_string(extra)
    return parser


def test_settings_defaults_and_sources(tmp_path: Path) -> None:
    s = load_settings(_config(""), tmp_path)
    assert s.source.kind == "maildir" and s.source.path == tmp_path / "Maildir"
    assert (s.marker, s.max_commands, s.max_age_minutes, s.rate_per_hour) == ("!", 10, 15, 30)
    assert not s.allow_firmware and s.processed_folder == "Executed" and s.reply is None
    imap = parse_source("imap://me:p%@ss/w@127.0.0.1:10143/Orders", tmp_path)
    assert (imap.user, imap.password, imap.host, imap.port, imap.folder) == (
        "me",
        "p%@ss/w",
        "127.0.0.1",
        10143,
        "Orders",
    )
    assert parse_source("smtp://127.0.0.1:2525", tmp_path).port == 2525
    s = load_settings(
        _config(
            "[remote]\nreply = smtp://u:pw@127.0.0.1:587\nreply_security = starttls\n"
            "[senders]\nBoss@Home.test = admin\n"
        ),
        tmp_path,
    )
    assert s.reply is not None and (s.reply.user, s.reply.password, s.reply.port) == (
        "u",
        "pw",
        587,
    )
    assert s.senders == {"boss@home.test": "admin"}


@pytest.mark.parametrize(
    "extra, word",
    [
        ("[remote]\nsource = pop3://x\n", "source"),
        ("[remote]\nreply_security = tls\n", "reply_security"),
        ("[remote]\nmax_commands = many\n", "max_commands"),
        ("[remote]\nmarker = a\n", "marker"),
        ("[senders]\nboss@home.test = root\n", "boss@home.test"),
        ("[senders]\nBoss <boss@home.test> = read\n", "bare"),
    ],
)
def test_settings_mistakes_are_one_clear_line(tmp_path: Path, extra: str, word: str) -> None:
    with pytest.raises(UsageError) as err:
        load_settings(_config(extra), tmp_path)
    assert word in str(err.value)


def test_settings_never_show_the_password(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        parse_source("imap://me:hunter2@", tmp_path)
    assert "hunter2" not in str(err.value)


# -- journal ----------------------------------------------------------------------------------


def test_journal_states_codes_and_rate(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.receive("id:<1@x>", "imap:h:u:INBOX:7:1", "boss@home.test", "s")
        assert journal.find("other", "imap:h:u:INBOX:7:1") is not None  # found by UID too
        journal.set_state("id:<1@x>", "running")
        assert journal.ran_within("boss@home.test", 3600) == 1
        assert journal.use_code("1:123456") and not journal.use_code("1:123456")
    finally:
        journal.close()
    reopened = Journal(tmp_path / "j.sqlite")  # as after a crash
    try:
        left = reopened.interrupted()
        assert [s.entry.key for s in left] == ["id:<1@x>"]
        entry = reopened.find("id:<1@x>")
        assert entry is not None and entry.state == "interrupted"
        assert reopened.interrupted() == []
    finally:
        reopened.close()


def test_two_listeners_never_share_one_journal(tmp_path: Path) -> None:
    first = Journal(tmp_path / "j.sqlite")
    try:
        with pytest.raises(JournalLocked) as err:
            Journal(tmp_path / "j.sqlite")
        assert "another listener" in str(err.value)
    finally:
        first.close()
    Journal(tmp_path / "j.sqlite").close()  # free again once the first is gone


# -- the mail's form ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["From", "Date", "Message-ID", "Subject", "To", "Content-Type", "Content-Transfer-Encoding"],
)
def test_a_header_that_may_appear_once_appears_twice(name: str) -> None:
    from kshell.app.remote.mailparse import parse_mail
    from kshell.app.remote.sources.base import Incoming

    head = {
        "From": "boss@home.test",
        "Date": "Sun, 29 Nov 2026 20:00:00 +0000",
        "Message-ID": "<m@home.test>",
        "Subject": "x",
        "To": "kshell@home.test",
        "Content-Type": "text/plain",
        "Content-Transfer-Encoding": "7bit",
    }
    text = "".join(f"{k}: {v}\r\n" for k, v in head.items()) + f"{name}: {head[name]}\r\n"
    raw = (text + "\r\n!off Kitchen\r\n").encode()
    mail = parse_mail(Incoming(raw, len(raw), True, None, "t", _finish))
    assert mail.refusal == f"the header {name} appears 2 times (one is allowed)"


async def _finish() -> None:
    return None


def test_wrong_codes_in_total_raise_an_alert_and_lock_only_their_sender(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    senders = [f"s{i}@home.test" for i in range(4)]
    try:
        guard = TotpGuard(TotpBook(dict.fromkeys(senders, SECRET), tmp_path / "x.ini"), journal)
        code = pyotp.TOTP(SECRET).now()
        bad = f"{(int(code) + 500_000) % 1_000_000:06d}"
        notes = []
        for sender in senders:
            for _ in range(5):
                notes += guard.settle(sender, [bad], proven=False).notes
        assert sum("TOTP locked for" in n for n in notes) == 4
        assert [n for n in notes if n.startswith("ALERT")] == [
            "ALERT: 20 wrong TOTP codes in the last hour (someone is guessing)"
        ]
        assert journal.totp_locks() == sorted(senders)
        outsider = TotpGuard(TotpBook({"boss@home.test": SECRET}, tmp_path / "x.ini"), journal)
        assert outsider.settle("boss@home.test", [code], proven=False).proof == "TOTP code"
    finally:
        journal.close()
