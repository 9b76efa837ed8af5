"""Remote mode from a phone: SMS -> Google Voice -> mail, and the reply back as texts.

Google Voice forwards a text as mail from ``<number>.<sender>.<hash>@txt.voice.google.com``
with its own footer under the text, and turns the reply mail into texts of 160 characters:
such a sender gets a short reply (the results in the fewest words), everyone else the full
transcript. Real mail path: the Maildir source, a simulated plug, aiosmtpd for the replies.

The plug lives on 127.50.19.2 (apart from the other remote suites' addresses).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers.dovecot import ReplySink
from helpers.mail import body, make_mail, replies
from helpers.maildir import Listener, configure, ran, run

from kshell.app.remote.short import SMS_LIMIT, short_notice, short_reply
from kshell.simulator import PlugSpec, SimulatorThread

PLUG = "127.50.19.2"
PHONE = "15551230000.15559870000.q7Rk_2bX@txt.voice.google.com"
PHONE_PROOF = "dkim=pass header.d=txt.voice.google.com"
SENDERS = f"boss@home.test = control\n{PHONE} = control\n"
# the footer Google Voice writes under a forwarded text (plain-text part of its mail)
FOOTER = (
    "\n"
    "YOUR ACCOUNT <https://voice.google.com> HELP CENTER "
    "<https://support.google.com/voice#topic=1707989> HELP FORUM "
    "<https://productforums.google.com/forum/#!forum/voice>\n"
    "To respond to this text message, reply to this email or visit Google Voice "
    "<https://voice.google.com>.\n"
    "Google LLC 1600 Amphitheatre Pkwy Mountain View CA 94043 USA\n"
)


def texted(order: str, after_footer: str = "") -> bytes:
    """A text as Google Voice forwards it by mail."""
    return make_mail(
        f"<https://voice.google.com>\n{order}\n{FOOTER}{after_footer}",
        sender=f'"(555) 987-0000" <{PHONE}>',
        subject="New text message from (555) 987-0000",
        proof=PHONE_PROOF,
    )


@pytest.fixture
def sim() -> SimulatorThread:
    spec = PlugSpec(
        host=PLUG, port=9999, udp_port=None, alias="Kettle", model="HS110(EU) 2.0", relay_state=1
    )
    with SimulatorThread([spec]) as running:
        yield running


def _known(listener: Listener) -> None:
    from kshell.store.devices import DeviceRecord

    listener.session.store.observe(DeviceRecord(host=PLUG, alias="Kettle", model="HS110(EU)"))


def _deliver_all(*mails: bytes):  # type: ignore[no-untyped-def]
    async def scenario(listener: Listener) -> None:
        _known(listener)
        for raw in mails:
            await listener.deliver(raw)

    return scenario


def test_a_google_voice_sender_gets_a_short_reply_fit_for_one_text(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, senders=SENDERS)
    listener = run(home, _deliver_all(texted("!state Kettle"), texted("!off Kettle")))
    assert ran(listener) == ["state Kettle", "off Kettle"]
    assert sim.plug(PLUG).relay_state == 0
    state, off = (body(m) for m in replies(sink))
    assert state == "Kettle: on\n"
    assert off == "Kettle: off\n"
    for msg in replies(sink):
        assert msg["To"] == PHONE  # the proven address: Google Voice makes it a text again
        assert len(body(msg)) < SMS_LIMIT


def test_a_short_reply_is_one_line_per_command_in_the_fewest_words(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, senders=SENDERS)
    run(home, _deliver_all(texted("!emeter Kettle\n!on Kettle\n!on Nowhere")))
    text = body(replies(sink)[0])
    lines = text.splitlines()
    assert len(lines) == 3 and len(text) < SMS_LIMIT
    assert re.fullmatch(r"Kettle [\d.]+ W", lines[0])
    assert lines[1] == "Kettle: on"
    assert "Nowhere" in lines[2]  # the failure, in its own words
    assert "kshell ran" not in text and "> " not in text and "| " not in text  # no transcript


def test_google_voices_footer_ends_the_order_and_is_no_problem(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, senders=SENDERS)
    # whatever follows Google's footer is not the text the owner sent
    listener = run(home, _deliver_all(texted("!state Kettle", after_footer="!off Kettle\n")))
    assert ran(listener) == ["state Kettle"]
    assert sim.plug(PLUG).relay_state == 1
    assert body(replies(sink)[0]) == "Kettle: on\n"


def test_other_senders_still_get_the_full_transcript(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, senders=SENDERS)
    run(home, _deliver_all(make_mail("!state Kettle\n-- \nBoss")))
    text = body(replies(sink)[0])
    assert text.startswith("kshell ran 1 command(s) for boss@home.test")
    assert "> !state Kettle" in text and "| " in text


def test_reply_style_short_for_every_sender_and_the_sms_list_configurable(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, "reply_style = short\nsms_senders = *@sms.example\n", senders=SENDERS)
    run(home, _deliver_all(make_mail("!off Kettle")))
    assert body(replies(sink)[0]) == "Kettle: off\n"


def test_an_sms_glob_not_matching_leaves_the_configured_style(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, "sms_senders = *@sms.example\n", senders=SENDERS)
    run(home, _deliver_all(texted("!off Kettle")))
    assert body(replies(sink)[0]).startswith("kshell ran 1 command(s)")


@pytest.mark.parametrize(
    "extra, message",
    [
        ("reply_style = tiny\n", "reply_style must be full, compact or short"),
        ("reply_format = tiny\n", "reply_format must be full or compact"),
    ],
)
def test_a_bad_reply_style_is_refused_by_name(home: Path, extra: str, message: str) -> None:
    import configparser

    from kshell.app.remote.settings import load_settings
    from kshell.errors import UsageError

    config = configparser.ConfigParser(interpolation=None)
    config.read_string(f"[remote]\nsource = maildir:{home}/Maildir\n{extra}")
    with pytest.raises(UsageError, match=message):
        load_settings(config, home)


def test_no_short_line_reads_as_an_order_when_it_comes_back() -> None:
    # a plug may call itself "!off all": its line is quoted, as in the full transcript
    text = short_reply(["!off all: on", ">x", "Kettle: \x1b[31moff\r\n!on all"], "!")
    lines = text.splitlines()
    assert lines[0] == "| !off all: on" and lines[1] == "| >x"
    assert len(lines) == 3 and "\x1b" not in text and not lines[2].startswith("!")
    assert not short_notice("!reboot all", "!").startswith("!")


def test_many_commands_share_the_text_message() -> None:
    lines = [f"Plug number {i} with a long name: on" for i in range(4)]
    text = short_reply(lines, "!")
    assert len(text) <= SMS_LIMIT + 1 and len(text.splitlines()) == 4
    # more lines than fit: each keeps a readable floor, over the limit rather than unreadable
    many = short_reply([f"Plug number {i} with a long name: on" for i in range(10)], "!")
    assert all(len(line) >= 30 for line in many.splitlines())


@pytest.mark.parametrize(
    "sender, proof",
    [
        (PHONE, None),  # the owner's Google Voice address, proven by nothing
        (PHONE, "dkim=pass header.d=evil.test"),  # a pass, but not for its domain
        ("15551230000.15550000000.zz@txt.voice.google.com", PHONE_PROOF),  # another chat
        (f"{PHONE}.evil.test", "dkim=pass header.d=evil.test"),  # a look-alike domain
    ],
    ids=["unproven", "unaligned", "other-conversation", "look-alike"],
)
def test_matching_sms_senders_gives_a_style_never_trust(
    home: Path, sim: SimulatorThread, sink: ReplySink, sender: str, proof: str | None
) -> None:
    configure(home, sink, senders=SENDERS)
    raw = make_mail(f"!off Kettle\n{FOOTER}", sender=sender, proof=proof)
    listener = run(home, _deliver_all(raw))
    assert ran(listener) == [] and sim.plug(PLUG).relay_state == 1
    assert sink.messages == []  # no reply at all: no backscatter to a forged address


def test_a_watch_by_text_is_its_last_reading_and_how_many(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, senders=SENDERS)
    run(home, _deliver_all(texted("!emeter watch Kettle --count 3 --interval 0.1")))
    text = body(replies(sink)[0])
    assert len(text) < SMS_LIMIT and len(text.splitlines()) == 1, text
    assert re.fullmatch(r"Kettle [\d.]+ W.*\(3 readings\)\n", text), text


@pytest.mark.parametrize(
    "footer",
    [
        FOOTER,
        "\nTo respond to this text message, reply to this email or visit Google Voice.\n",
        "\nYOUR ACCOUNT HELP CENTER HELP FORUM\n",  # the HTML part, read as text
    ],
    ids=["plain", "older", "html"],
)
def test_every_form_of_the_footer_ends_the_order_without_a_problem(footer: str) -> None:
    from kshell.app.remote.body import html_to_text, parse_orders

    orders = parse_orders(f"!state Kettle\n{footer}!off Kettle\n")
    assert orders.commands == ["state Kettle"] and orders.problems == []
    html = (
        "<html><body><div>!state Kettle</div><table><tr><td>YOUR ACCOUNT</td>"
        "<td>HELP CENTER</td><td>HELP FORUM</td></tr></table>"
        "<p>To respond to this text message, reply to this email or visit Google Voice.</p>"
        "<div>!off Kettle</div></body></html>"
    )
    assert parse_orders(html_to_text(html)).commands == ["state Kettle"]
