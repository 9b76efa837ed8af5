"""Remote mode under attack, the proofs (issue 9): TOTP guessing, shared and per-sender
secrets, replayed signed mail, DKIM lookups before alignment, Message-ID squatting.

Over the Maildir source with a simulated plug, a real SMTP server for the replies and a
DNS server on loopback for DKIM keys. Each test asserts the safe outcome (nothing run, no
reply where none is due, the plug untouched) and that the legitimate order still runs
exactly once. Plugs here live on 127.50.1.x (the Maildir tests' plug).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import formatdate, make_msgid
from pathlib import Path

import pyotp
import pytest
from helpers.dnsstub import DnsStub
from helpers.dovecot import ReplySink
from helpers.mail import KEY_NAME, SECRET, answers, body, code_notices, make_mail, replies, signed
from helpers.maildir import PLUG, Listener, configure, ran, run
from helpers.shell import run_shell

from kshell.simulator import PlugSpec, SimulatorThread

OTHER = "KRUGS4ZANFZSA5DIMUQHGZLDOJSXIIDPMYQHEZLBMRSXE4ZB"  # reader@'s own secret


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    spec = PlugSpec(host=PLUG, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0")
    with SimulatorThread([spec]) as running:
        yield running


def wrong(code: str) -> str:
    return f"{(int(code) + 500_000) % 1_000_000:06d}"


# -- 1. TOTP brute force ------------------------------------------------------------------------


def test_a_mail_with_more_than_one_auth_line_runs_nothing(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    code = pyotp.TOTP(SECRET).now()
    guesses = "".join(f"!auth {wrong(code)[:5]}{i}\n" for i in range(10))
    raw = make_mail(f"{guesses}!auth {code}\n!off {PLUG}", proof=None)

    async def scenario(listener: Listener) -> None:
        await listener.deliver(raw)
        # the right code was in it, but was not tried: it still proves the next mail
        await listener.deliver(make_mail(f"!auth {code}\n!info {PLUG}", proof=None))

    listener = run(home, scenario)
    assert sim.plug(PLUG).relay_state == 1
    first, second = listener.audit()[0], listener.audit()[1:]
    assert "auth lines" in first["verdict"] and first["outcome"] == "not run"
    assert [a["command"] for a in second] == [f"info {PLUG}"]
    assert len(sink.messages) == 1


def test_wrong_codes_lock_totp_for_that_sender_only_until_unlocked(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, totp=f"reader@home.test = {OTHER}\n")

    async def scenario(listener: Listener) -> None:
        code = pyotp.TOTP(SECRET).now()
        for _ in range(5):  # a stranger guessing as boss
            await listener.deliver(make_mail(f"!auth {wrong(code)}\n!off {PLUG}", proof=None))
        # now even the right code does not prove boss...
        await listener.deliver(make_mail(f"!auth {code}\n!off {PLUG}", proof=None))
        # ...but another sender's code still proves that sender,
        reader = pyotp.TOTP(OTHER).now()
        await listener.deliver(
            make_mail(f"!auth {reader}\n!devices", proof=None, sender="reader@home.test")
        )
        # and boss's DKIM/Authentication-Results proof still works: nobody is locked out
        await listener.deliver(make_mail(f"!info {PLUG}"))
        result = run_shell(home, "-c", "remote unlock boss@home.test")
        assert result.returncode == 0 and "TOTP unlocked for boss@home.test" in result.stdout
        later = pyotp.TOTP(SECRET).at(time.time() + 30)  # a code not used yet
        await listener.deliver(make_mail(f"!auth {later}\n!off {PLUG}", proof=None))

    listener = run(home, scenario)
    assert sim.plug(PLUG).relay_state == 0  # the one order after the unlock ran, once
    assert ran(listener) == ["devices", f"info {PLUG}", f"off {PLUG}"]
    outcomes = [a["outcome"] for a in listener.audit() if a["verdict"] == "totp"]
    assert any("TOTP locked for boss@home.test after 5 wrong codes" in o for o in outcomes)
    assert "unlocked by the operator" in outcomes
    locked = [a for a in listener.audit() if "TOTP is locked" in a["verdict"]]
    assert len(locked) == 1 and locked[0]["sender"] == "boss@home.test"
    assert len(answers(sink)) == 3  # no reply to any guess...
    assert len(code_notices(sink)) == 1  # ...but one notice to boss's own address


def test_unproven_mail_has_its_own_bucket_and_skips_dns_when_full(
    home: Path, sim: SimulatorThread, sink: ReplySink, dkim_key: tuple[bytes, bytes]
) -> None:
    private, record = dkim_key
    with DnsStub({KEY_NAME: record}) as dns:
        configure(
            home, sink, f"rate_per_hour = 2\nunproven_per_hour = 3\ndns = 127.0.0.1:{dns.port}\n"
        )
        junk = [signed(private, make_mail(f"!off {PLUG}", proof=None)) for _ in range(6)]
        junk = [raw.replace(b"!off", b"!on ") for raw in junk]  # bodies altered: signatures fail

        async def scenario(listener: Listener) -> None:
            for raw in junk:
                await listener.deliver(raw)
            await listener.deliver(make_mail(f"!off {PLUG}"))  # the owner, proven

        listener = run(home, scenario)
        assert len(dns.asked) == 3  # one lookup per unproven mail until the bucket was full
    assert sim.plug(PLUG).relay_state == 0
    assert ran(listener) == [f"off {PLUG}"]
    assert len(sink.messages) == 1


def test_refusals_count_against_the_rate_and_their_replies_obey_it(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, "rate_per_hour = 2\n")
    old = formatdate(time.time() - 3600)

    async def scenario(listener: Listener) -> None:
        for _ in range(6):
            await listener.deliver(make_mail(f"!off {PLUG}", date=old))

    run(home, scenario)
    texts = [body(m) for m in replies(sink)]
    assert len(texts) == 3  # two refusals, then one rate notice, then silence
    assert "rate limit" in texts[2]
    assert sim.plug(PLUG).relay_state == 1


# -- 2. one secret per sender -------------------------------------------------------------------


def test_a_code_proves_only_the_sender_whose_secret_made_it(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    code = pyotp.TOTP(SECRET).now()  # boss's secret, claimed as root (admin)
    raw = make_mail(f"!auth {code}\n!off {PLUG}", proof=None, sender="root@home.test")
    listener = run(home, lambda listener: listener.deliver(raw))
    assert sim.plug(PLUG).relay_state == 1
    assert sink.messages == []
    assert listener.audit()[0]["verdict"].startswith("rejected")


def test_the_old_shared_secret_proves_read_at_most(
    tmp_path: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    home = tmp_path / "shared"
    configure(home, sink, f"secret = {SECRET}\n")
    text = (home / "kshell.ini").read_text().replace(f"boss@home.test = {SECRET}\n", "", 1)
    (home / "kshell.ini").write_text(text)  # no secret of its own: only the shared one
    code = pyotp.TOTP(SECRET).now()
    raw = make_mail(f"!auth {code}\n!off {PLUG}\n!devices", proof=None, sender="root@home.test")
    listener = run(home, lambda listener: listener.deliver(raw))
    assert sim.plug(PLUG).relay_state == 1
    reply = body(replies(sink)[0])
    assert "off needs control permission" in reply
    assert ran(listener) == ["devices"]  # what read may do, no more
    assert any("shared by every sender" in line for line in listener.lines)


def test_a_code_beside_another_proof_is_used_up(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    code = pyotp.TOTP(SECRET).now()

    async def scenario(listener: Listener) -> None:
        await listener.deliver(make_mail(f"!auth {code}\n!info {PLUG}"))  # proven by the server
        await listener.deliver(make_mail(f"!auth {code}\n!off {PLUG}", proof=None))  # a copy

    listener = run(home, scenario)
    assert sim.plug(PLUG).relay_state == 1
    assert len(answers(sink)) == 1 and len(code_notices(sink)) == 1
    assert "already used" in listener.audit()[-1]["verdict"]


def test_remote_totp_add_makes_a_private_secret_that_proves_its_sender(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    before = (home / "kshell.ini").read_text()
    result = run_shell(home, "-c", "remote totp add Reader@home.test")
    assert result.returncode == 0, result.stderr
    uri = next(line for line in result.stdout.splitlines() if line.startswith("otpauth://"))
    secret = uri.partition("secret=")[2].partition("&")[0]
    store = home / "kshell-totp.ini"
    assert store.stat().st_mode & 0o777 == 0o600
    assert secret in store.read_text() and (home / "kshell.ini").read_text() == before
    again = run_shell(home, "-c", "remote totp add reader@home.test")
    assert again.returncode != 0 and "already has" in again.stderr
    code = pyotp.TOTP(secret).now()
    raw = make_mail(f"!auth {code}\n!devices", proof=None, sender="reader@home.test")
    listener = run(home, lambda listener: listener.deliver(raw))
    assert ran(listener) == ["devices"]
    assert secret not in "\n".join(listener.lines) + (home / "remote-audit.log").read_text()


def test_secrets_files_others_can_read_are_refused_with_the_fix(
    home: Path, sink: ReplySink
) -> None:
    configure(home, sink)
    (home / "kshell.ini").chmod(0o644)
    result = run_shell(home, "-c", "help")
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert f"chmod 600 {home / 'kshell.ini'}" in line and SECRET not in line
    (home / "kshell.ini").chmod(0o600)
    store = home / "kshell-totp.ini"
    store.write_text(f"[totp]\nreader@home.test = {OTHER}\n")
    store.chmod(0o640)
    result = run_shell(home, "--listen")
    assert result.returncode != 0 and f"chmod 600 {store}" in result.stderr


def test_a_new_config_is_private_and_status_shows_no_secret(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    assert run_shell(home, "-c", "help").returncode == 0
    assert (home / "kshell.ini").stat().st_mode & 0o777 == 0o600
    ini = home / "kshell.ini"
    ini.write_text(
        ini.read_text()
        .replace("source =\n", "source = imap://me:hunter2pass@127.0.0.1:1/INBOX\n", 1)
        .replace("\nsecret =\n", f"\nsecret = {SECRET}\n", 1)
    )
    result = run_shell(home, "-c", "remote status")
    assert result.returncode == 0, result.stderr
    shown = result.stdout + result.stderr
    assert "hunter2pass" not in shown and SECRET not in shown and "read at most" in shown


# -- 3. replayed signed mail, 8. DKIM lookups ----------------------------------------------------


def test_a_signed_order_replayed_with_new_headers_runs_once(
    home: Path, sim: SimulatorThread, sink: ReplySink, dkim_key: tuple[bytes, bytes]
) -> None:
    private, record = dkim_key
    with DnsStub({KEY_NAME: record}) as dns:
        configure(home, sink, f"dns = 127.0.0.1:{dns.port}\n")
        order = signed(private, make_mail(f"!toggle {PLUG}", proof=None, msgid="<t1@home.test>"))
        fresh = f"Message-ID: {make_msgid(domain='home.test')}\r\nDate: {formatdate()}\r\n"
        replayed = fresh.encode() + order  # Python reads the new copies, DKIM the old ones
        stale = signed(
            private, make_mail(f"!off {PLUG}", proof=None, date=formatdate(time.time() - 3 * 86400))
        )
        stale_again = fresh.encode() + stale

        async def scenario(listener: Listener) -> None:
            await listener.deliver(order)
            await listener.deliver(replayed)
            await listener.deliver(stale_again)

        listener = run(home, scenario)
    assert sim.plug(PLUG).relay_state == 0  # toggled once
    assert ran(listener) == [f"toggle {PLUG}"]
    refused = [a["verdict"] for a in listener.audit()[1:]]
    assert all("appears 2 times" in v for v in refused), refused
    assert len(sink.messages) == 1


def test_a_signature_with_a_body_length_proves_nothing(
    home: Path, sim: SimulatorThread, sink: ReplySink, dkim_key: tuple[bytes, bytes]
) -> None:
    private, record = dkim_key
    with DnsStub({KEY_NAME: record}) as dns:
        configure(home, sink, f"dns = 127.0.0.1:{dns.port}\n")
        order = signed(private, make_mail(f"!info {PLUG}", proof=None), length=True)
        listener = run(home, lambda listener: listener.deliver(order + f"!off {PLUG}\r\n".encode()))
    assert sim.plug(PLUG).relay_state == 1
    assert sink.messages == [] and ran(listener) == []
    assert "l=" in listener.audit()[0]["verdict"]


def test_one_signature_runs_once_whatever_its_unsigned_headers_say(
    home: Path, sim: SimulatorThread, sink: ReplySink, dkim_key: tuple[bytes, bytes]
) -> None:
    import dkim

    private, record = dkim_key
    # no Message-ID (its absence is signed): the journal key falls back to Subject, unsigned
    raw = make_mail(f"!toggle {PLUG}", proof=None).replace(b"Message-ID", b"X-Old-Id")
    names = [b"from", b"date", b"message-id", b"to"]
    order = dkim.sign(raw, b"sel", b"home.test", private, include_headers=names) + raw
    again = order.replace(b"Subject: plug", b"Subject: plug again")
    with DnsStub({KEY_NAME: record}) as dns:
        configure(home, sink, f"dns = 127.0.0.1:{dns.port}\n")

        async def scenario(listener: Listener) -> None:
            await listener.deliver(order)
            await listener.deliver(again)

        listener = run(home, scenario)
    assert sim.plug(PLUG).relay_state == 0
    assert ran(listener) == [f"toggle {PLUG}"]
    assert listener.audit()[-1]["verdict"] == "duplicate signature"


def test_dkim_keys_are_looked_up_only_for_aligned_signatures_two_at_most(
    home: Path, sim: SimulatorThread, sink: ReplySink, dkim_key: tuple[bytes, bytes]
) -> None:
    private, record = dkim_key
    base = make_mail(f"!off {PLUG}", proof=None)
    unaligned = base
    for i in range(5):  # attacker-chosen d= and s=: an allowlist oracle if looked up
        unaligned = signed(private, unaligned, domain=f"probe{i}.evil.test".encode())
    aligned_junk = base
    for _ in range(5):
        aligned_junk = signed(private, aligned_junk)
    aligned_junk = aligned_junk.replace(b"!off", b"!on ")  # none of them verifies
    with DnsStub({KEY_NAME: record}) as dns:
        configure(home, sink, f"dns = 127.0.0.1:{dns.port}\n")

        async def scenario(listener: Listener) -> None:
            await listener.deliver(unaligned)
            assert dns.asked == []
            await listener.deliver(aligned_junk)

        listener = run(home, scenario)
        assert dns.asked == [KEY_NAME, KEY_NAME]
    assert sim.plug(PLUG).relay_state == 1 and sink.messages == []
    assert ran(listener) == []


def test_a_silent_resolver_holds_a_mail_back_seconds_not_minutes(
    home: Path, sim: SimulatorThread, sink: ReplySink, dkim_key: tuple[bytes, bytes]
) -> None:
    private, _record = dkim_key
    junk = signed(private, signed(private, signed(private, make_mail(f"!off {PLUG}", proof=None))))
    with DnsStub({}, silent=True) as dns:
        configure(home, sink, f"dns = 127.0.0.1:{dns.port}\n")
        took: list[float] = []

        async def scenario(listener: Listener) -> None:
            started = time.monotonic()
            await listener.deliver(junk)
            await listener.deliver(make_mail(f"!off {PLUG}"))  # the real order behind it
            took.append(time.monotonic() - started)

        listener = run(home, scenario)
    assert took[0] < 6.0, took
    assert sim.plug(PLUG).relay_state == 0 and ran(listener) == [f"off {PLUG}"]


# -- 13. Message-ID squatting ---------------------------------------------------------------------


@pytest.mark.parametrize("claimed", ["stranger@evil.test", "Boss <boss@home.test>"])
def test_a_squatted_message_id_does_not_drop_the_real_order(
    home: Path, sim: SimulatorThread, sink: ReplySink, claimed: str
) -> None:
    configure(home, sink)
    squat = make_mail("hello", proof=None, sender=claimed, msgid="<order-77@home.test>")
    real = make_mail(f"!off {PLUG}", msgid="<order-77@home.test>")

    async def scenario(listener: Listener) -> None:
        await listener.deliver(squat)
        await listener.deliver(real)

    listener = run(home, scenario)
    assert sim.plug(PLUG).relay_state == 0
    [line] = [a for a in listener.audit() if a["command"]]
    assert line["sender"] == "boss@home.test" and line["message_id"] == "<order-77@home.test>"
    assert len(sink.messages) == 1
