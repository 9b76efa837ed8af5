"""Remote mode over the default Maildir source, against a simulated plug and a real SMTP
server (aiosmtpd) that receives the replies: who may order what, once, and what comes back.

Plugs here live on 127.50.1.x.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from pathlib import Path

import pyotp
import pytest
from helpers.dovecot import ReplySink
from helpers.mail import SECRET, answers, body, code_notices, make_mail, replies
from helpers.maildir import PLUG, Listener, configure, run

from kshell.simulator import PlugSpec, SimulatorThread


@pytest.fixture
def sim() -> SimulatorThread:
    with SimulatorThread(
        [
            PlugSpec(
                host=PLUG,
                port=9999,
                udp_port=None,
                alias="Kettle",
                model="HS110(EU) 2.0",
                relay_state=1,
            )
        ]
    ) as running:
        yield running


# -- the stories -------------------------------------------------------------------------------


def test_trusted_sender_switches_a_plug_off_and_gets_the_transcript(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    raw = make_mail(
        "Please:\n!off Kettle\n!info 127.50.1.2\n-- \nBoss",
        subject="kettle",
        msgid="<order-1@home.test>",
        headers="Reply-To: someone@else.test\n",
    )

    async def scenario(listener: Listener) -> None:
        listener.session.store.observe(_record())
        await listener.deliver(raw)

    listener = run(home, scenario)
    assert sim.plug(PLUG).relay_state == 0
    [reply] = replies(sink)
    assert reply["To"] == "boss@home.test"  # the proven From:, never Reply-To
    assert reply["Subject"] == "Re: kettle"
    assert reply["In-Reply-To"] == "<order-1@home.test>"
    assert "<order-1@home.test>" in reply["References"]
    text = body(reply)
    assert "> !off Kettle\n| Kettle: off" in text
    assert "model" in text and "HS110(EU)" in text  # the same table as at the prompt
    audit = listener.audit()
    assert [a["command"] for a in audit] == ["off Kettle", "info 127.50.1.2"]
    assert all(a["sender"] == "boss@home.test" and a["outcome"] == "ok" for a in audit)
    assert audit[0]["message_id"] == "<order-1@home.test>"
    assert any("Kettle: off" in line for line in listener.lines)  # shown to the operator


def _record():  # type: ignore[no-untyped-def]
    from kshell.store.devices import DeviceRecord

    return DeviceRecord(host=PLUG, alias="Kettle", model="HS110(EU)", state="on")


@pytest.mark.parametrize(
    "raw",
    [
        make_mail("!off 127.50.1.2", proof=None),  # From: alone
        make_mail("!off 127.50.1.2", sender='"boss@home.test" <boss@evil.test>'),  # display name
        make_mail("!off 127.50.1.2", proof="dkim=pass header.d=evil.test"),  # not aligned
        make_mail(
            "!off 127.50.1.2", proof="dkim=pass header.d=home.test", sender="stranger@home.test"
        ),  # not on the allowlist
        make_mail(
            "!off 127.50.1.2",
            proof=None,
            headers="Authentication-Results: mx.evil.test; dkim=pass header.d=home.test\n",
        ),
    ],
    ids=["no-proof", "display-name", "unaligned", "not-allowed", "foreign-authserv"],
)
def test_forged_sender_runs_nothing_and_gets_no_reply(
    home: Path, sim: SimulatorThread, sink: ReplySink, raw: bytes
) -> None:
    configure(home, sink)
    listener = run(home, lambda listener: listener.deliver(raw))
    assert sim.plug(PLUG).relay_state == 1
    assert sink.messages == []
    [line] = listener.audit()
    assert line["verdict"].startswith("rejected") and line["outcome"] == "not run"


def test_the_same_message_delivered_twice_runs_once(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    raw = make_mail("!toggle 127.50.1.2", msgid="<twice@home.test>")

    async def scenario(listener: Listener) -> None:
        await listener.deliver(raw)
        await listener.deliver(raw)

    listener = run(home, scenario)
    assert sim.plug(PLUG).relay_state == 0  # toggled once, not back on
    assert len(sink.messages) == 1
    assert [a["verdict"].split(":")[0] for a in listener.audit()] == ["trusted", "duplicate"]


def test_without_message_id_the_same_mail_is_recognised_by_its_hash(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    raw = make_mail("!toggle 127.50.1.2").replace(b"Message-ID", b"X-Not-An-Id")

    async def scenario(listener: Listener) -> None:
        await listener.deliver(raw)
        await listener.deliver(raw)

    run(home, scenario)
    assert sim.plug(PLUG).relay_state == 0
    assert len(sink.messages) == 1


def test_old_orders_are_not_orders(home: Path, sim: SimulatorThread, sink: ReplySink) -> None:
    configure(home, sink)
    old = formatdate(time.time() - 20 * 60)
    run(home, lambda listener: listener.deliver(make_mail("!off 127.50.1.2", date=old)))
    assert sim.plug(PLUG).relay_state == 1
    [reply] = replies(sink)
    assert "Nothing was run" in body(reply) and "minutes old" in body(reply)


def test_permissions_follow_the_sender(home: Path, sim: SimulatorThread, sink: ReplySink) -> None:
    configure(home, sink)

    async def scenario(listener: Listener) -> None:
        listener.session.store.observe(_record())  # a read sender reaches only known plugs
        await listener.deliver(
            make_mail("!off 127.50.1.2\n!info 127.50.1.2", sender="reader@home.test")
        )
        await listener.deliver(make_mail("!reboot 127.50.1.2\n!raw 127.50.1.2 '{}'"))
        await listener.deliver(make_mail("!firmware list\n!remote off", sender="root@home.test"))
        assert listener.service.running  # "remote off" by mail did not stop it

    run(home, scenario)
    assert sim.plug(PLUG).relay_state == 1
    reader, control, admin = (body(m) for m in replies(sink))
    assert "off needs control permission" in reader and "HS110(EU)" in reader
    assert "reboot needs admin permission" in control
    assert "raw commands by mail are off ([remote] allow_raw = no)" in control
    assert "firmware commands by mail are off" in admin
    assert "remote off cannot be run by mail" in admin


def test_confirmation_refuses_by_mail_unless_yes(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    run(
        home,
        lambda listener: listener.deliver(make_mail("!reboot 127.50.1.2", sender="root@home.test")),
    )
    assert "add --yes" in body(replies(sink)[0])


def test_totp_code_proves_the_sender_once(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    code = pyotp.TOTP(SECRET).now()

    async def scenario(listener: Listener) -> None:
        await listener.deliver(make_mail(f"!auth {code}\n!off 127.50.1.2", proof=None))
        await listener.deliver(make_mail(f"!auth {code}\n!on 127.50.1.2", proof=None))

    listener = run(home, scenario)
    assert sim.plug(PLUG).relay_state == 0  # the second use of the code ran nothing
    assert len(answers(sink)) == 1
    [notice] = code_notices(sink)  # the owner hears why, in one line
    assert "code already used" in body(notice)
    assert "already used" in listener.audit()[-1]["verdict"]


def test_too_many_commands_run_nothing(home: Path, sim: SimulatorThread, sink: ReplySink) -> None:
    configure(home, sink, "max_commands = 3\n")
    run(
        home,
        lambda listener: listener.deliver(
            make_mail("!off 127.50.1.2\n!info 127.50.1.2\n!info 127.50.1.2; info 127.50.1.2")
        ),
    )
    assert sim.plug(PLUG).relay_state == 1
    assert "4 commands; the limit is 3" in body(replies(sink)[0])


def test_rate_limit_per_sender_with_one_notice(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, "rate_per_hour = 2\n")

    async def scenario(listener: Listener) -> None:
        for _ in range(4):
            await listener.deliver(make_mail("!toggle 127.50.1.2"))

    listener = run(home, scenario)
    assert sim.plug(PLUG).relay_state == 1  # toggled twice
    texts = [body(m) for m in replies(sink)]
    assert len(texts) == 3 and "rate limit" in texts[2]
    assert [a["outcome"] for a in listener.audit()] == ["ok", "ok", "not run", "not run"]


def test_compact_replies_for_a_phone(home: Path, sim: SimulatorThread, sink: ReplySink) -> None:
    configure(home, sink, "reply_format = compact\n")
    run(home, lambda listener: listener.deliver(make_mail("!off 127.50.1.2\n!on nowhere")))
    lines = body(replies(sink)[0]).splitlines()
    assert lines[0] == "| off 127.50.1.2: ok - Kettle: off"
    assert lines[1].startswith("| on nowhere: FAILED - error:") and len(lines) == 2


def test_hostile_mail_runs_nothing_unintended(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)
    hostile = [
        make_mail("", headers="Content-Type: image/png\nContent-Transfer-Encoding: base64\n")
        + b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB\r\n",  # no text part
        bytes(range(256)) * 40,  # binary junk, no headers at all
        make_mail("!off 127.50.1.2\n" + "x" * 10_000_000),  # a 10 MB body
        make_mail("".join(f"!off 127.50.1.{i % 250}\n" for i in range(1000))),  # 1,000 lines
        make_mail(
            "!$(reboot 127.50.1.2 --yes)\n!on 127.50.1.2 && reboot 127.50.1.2 --yes\n"
            '!`reboot 127.50.1.2`\n!raw 127.50.1.2 \'{"system":{"reboot":{}}}\'\n'
            "!on 127.50.1.2; reboot 127.50.1.2 --yes\n!on 127.50.1.2\x00; reboot\n"
        ),
        make_mail("!off 127.50.1.2", headers="Auto-Submitted: auto-replied\n"),  # a mail loop
    ]

    async def scenario(listener: Listener) -> None:
        for raw in hostile:
            await listener.deliver(raw)
        await listener.deliver(make_mail("!info 127.50.1.2"))  # still listening, still sane
        assert listener.service.running

    listener = run(home, scenario)
    plug = sim.plug(PLUG)
    assert plug.relay_state == 1
    texts = [body(m) for m in replies(sink)]
    assert "no command lines found" in texts[0]
    assert "bytes; the limit is" in texts[1]
    assert "1000 commands; the limit is 10" in texts[2]
    injection = texts[3]
    assert "unknown command" in injection and "needs admin permission" in injection
    assert "HS110(EU)" in texts[-1]
    assert len(texts) == 5  # no reply to junk without a sender, none to the auto-reply
    ran = [a["command"] for a in listener.audit() if a["outcome"] == "ok"]
    assert ran == ["on 127.50.1.2", "info 127.50.1.2"]  # what a control sender may do, no more
    assert not any(
        "reboot" in (a["command"] or "") and a["outcome"] == "ok" for a in listener.audit()
    )


def test_firmware_by_mail_only_when_the_operator_allows_it(
    home: Path, sim: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink, "allow_firmware = yes\n")
    run(
        home,
        lambda listener: listener.deliver(
            make_mail("!firmware list\n!remote status", sender="root@home.test")
        ),
    )
    text = body(replies(sink)[0])
    assert "firmware commands by mail are off" not in text
    assert "> !firmware list\n| firmware library:" in text  # it ran
    assert "remote status cannot be run by mail" in text
