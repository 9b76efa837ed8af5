"""Output that can't be forged, and output that survives its reader (issue 9 item 9, issue 10
item 6): what a plug calls itself never breaks a line on any surface (terminal, table, JSON
lines, the mail transcript, the audit log), and `kshell -c ... | head` ends quietly.

Plugs here live on 127.50.8.x.
"""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from helpers.dovecot import ReplySink
from helpers.mail import body, make_mail, replies
from helpers.maildir import Listener, configure, run
from helpers.shell import ROOT, json_lines, run_shell

from kshell.app.remote.service import AUDIT_NAME
from kshell.simulator import PlugSpec, SimulatorThread

EVIL = "127.50.8.2"
# Every character that breaks a line for someone, and a line that would run if it began one.
BREAKERS = "\n\u2028\x85\r\t\x0b\x0c\x1c\x1d\x1e\u2029\x1b"
EVIL_ALIAS = "Kettle" + "".join(f"{ch}!reboot" for ch in BREAKERS)
RAW_BREAKS = set(BREAKERS) - {"\n"}


@pytest.fixture
def evil() -> SimulatorThread:
    specs = [PlugSpec(host=EVIL, udp_port=None, alias=EVIL_ALIAS, model="HS110(EU) 2.0")]
    more = [
        PlugSpec(host=f"127.50.8.{n}", udp_port=None, alias=f"Plug {n}", model="HS105(US) 1.0")
        for n in range(3, 23)
    ]
    with SimulatorThread(specs + more) as running:
        yield running


def _one_line_each(text: str) -> list[str]:
    """The output as a reader that splits on every line break sees it."""
    assert not RAW_BREAKS & set(text), sorted(RAW_BREAKS & set(text))
    lines = text.splitlines()
    assert lines == text.split("\n")[: len(lines)]  # only "\n" breaks lines
    return lines


def test_a_plug_name_never_breaks_a_line_in_tables_or_text(
    home: Path, evil: SimulatorThread
) -> None:
    done = run_shell(home, "-c", f"add {EVIL}; devices; info {EVIL}; off {EVIL}; history")
    assert done.returncode == 0, done.stderr
    lines = _one_line_each(done.stdout)
    assert not any(line.lstrip().startswith("!") for line in lines)
    footer = lines.index("1 known, 1 online")
    assert lines[footer - 1].startswith("Kettle\\x0a!reboot\\u2028!reboot\\x85")  # one row
    assert lines[footer - 2].startswith("-----")  # no rows made up by the name
    assert any(ln.startswith("Kettle\\x0a!reboot") and ln.endswith(": off") for ln in lines)


def _json_reader_sees(text: str) -> list[dict]:
    """What a `splitlines()` reader (or JavaScript's) gets: one whole object per line."""
    assert not RAW_BREAKS & set(text) and "\x7f" not in text
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_escape_every_line_break_with_orjson(home: Path, evil: SimulatorThread) -> None:
    done = run_shell(home, "--json", "-c", f"add {EVIL}; devices; info {EVIL}")
    assert done.returncode == 0, done.stderr
    objects = _json_reader_sees(done.stdout)
    assert len(objects) == 3 and objects == json_lines(done.stdout)
    alias = objects[1]["devices"][0]["alias"]
    assert len(alias) > 100 and EVIL_ALIAS.startswith(alias)  # escaped, never changed


def test_json_lines_escape_every_line_break_without_orjson(
    home: Path, evil: SimulatorThread
) -> None:
    blocked = (
        "import sys; sys.modules['orjson'] = None\n"
        "from kshell.app.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(  # noqa: PLW1510 - checked below
        [sys.executable, "-c", blocked, "--home", str(home), "--json", "-c", f"add {EVIL}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    [obj] = _json_reader_sees(done.stdout)
    assert EVIL_ALIAS.startswith(obj["alias"]) and "\u2028" in obj["alias"]


def test_a_plug_name_never_breaks_a_line_in_the_reply_or_the_audit_log(
    home: Path, evil: SimulatorThread, sink: ReplySink
) -> None:
    configure(home, sink)

    async def scenario(listener: Listener) -> None:
        await listener.deliver(make_mail(f"!add {EVIL}\n!info {EVIL}\n!on {EVIL}"))

    listener = run(home, scenario)
    text = body(replies(sink)[0])
    lines = _one_line_each(text)
    assert not any(line.lstrip().startswith("!reboot") for line in lines)
    assert not any(line.lstrip().startswith("!reboot") for line in listener.lines)
    assert not RAW_BREAKS & set("".join(listener.lines))
    audit = (home / AUDIT_NAME).read_text(encoding="utf-8")
    _json_reader_sees(audit)


# -- a reader that goes away ---------------------------------------------------------------------


@pytest.mark.parametrize("json_mode", [False, True], ids=["table", "json"])
def test_a_closed_pipe_ends_the_run_quietly(
    home: Path, evil: SimulatorThread, json_mode: bool
) -> None:
    hosts = [f"127.50.8.{n}" for n in range(3, 23)]
    assert run_shell(home, "-c", "; ".join(f"add {h}" for h in hosts)).returncode == 0
    args = ["--json"] if json_mode else []
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home), *args, "-c", "toggle all"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head -0`: the reader is gone before the first line
    err = proc.stderr.read()
    code = proc.wait(timeout=60)
    assert "Error" not in err and "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 141), (code, err)


# -- the rule itself, for any text ---------------------------------------------------------------

from hypothesis import given
from hypothesis import strategies as st


@given(st.text())
def test_clean_text_is_one_printable_line(text: str) -> None:
    from kshell.ui.output import clean

    shown = clean(text, 10_000)
    assert len(shown.splitlines()) <= 1 and shown == shown.strip("\n")
    unsafe = {"Cc", "Zl", "Zp", "Cs"}  # controls, line and paragraph separators, surrogates
    assert not [ch for ch in shown if unicodedata.category(ch) in unsafe], repr(shown)
    shown.encode("utf-8")  # nothing a terminal cannot be sent


@given(st.dictionaries(st.text(max_size=5), st.text()))
def test_json_lines_are_one_line_on_both_writers(obj: dict[str, str]) -> None:
    from kshell.text import json_line, json_safe

    for line in (json_line(obj), json_safe(json.dumps(obj, ensure_ascii=False))):
        assert len(line.splitlines()) == 1
        assert json.loads(line) == obj
