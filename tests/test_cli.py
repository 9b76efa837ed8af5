"""The one-shot contract, without plugs: exit codes, JSON errors, scripts, no tracebacks."""

import json

from conftest import run_shell


def test_version_and_help(home):
    assert run_shell(home, "--version").stdout.startswith("kshell ")
    out = run_shell(home, "-c", "help")
    assert out.returncode == 0
    for verb in (
        "discover",
        "info",
        "hw_info",
        "on",
        "off",
        "toggle",
        "led",
        "alias",
        "reboot",
        "raw",
        "forget",
    ):
        assert f"\n{verb} " in out.stdout
    usage = run_shell(home, "-c", "help led")
    assert "usage: led TARGET [on|off]" in usage.stdout


def test_exit_status_is_zero_only_if_every_command_succeeded(home):
    assert run_shell(home, "-c", "help; devices").returncode == 0
    failed = run_shell(home, "-c", "nonsense; help")
    assert failed.returncode == 1
    assert "unknown command 'nonsense'" in failed.stderr
    assert "discover" in failed.stdout  # went on after the failure


def test_json_errors_go_to_stderr_as_objects(home):
    out = run_shell(home, "--json", "-c", "info Nowhere; devices")
    assert out.returncode == 1
    err = json.loads(out.stderr.strip())
    assert err["error"]["kind"] == "target" and err["error"]["target"] == "Nowhere"
    assert json.loads(out.stdout)["devices"] == []


def test_script_file_and_stdin(home, tmp_path):
    script = tmp_path / "s.ksh"
    script.write_text("# a script\nhelp on\n\ndevices # list\n")
    out = run_shell(home, str(script))
    assert out.returncode == 0 and "usage: on" in out.stdout and "no plugs known" in out.stdout
    piped = run_shell(home, "-", input="help off\n")
    assert piped.returncode == 0 and "usage: off" in piped.stdout
    missing = run_shell(home, str(tmp_path / "absent.ksh"))
    assert missing.returncode == 1 and "cannot read script" in missing.stderr


def test_bad_input_never_shows_a_traceback(home):
    lines = [
        "raw 127.0.0.1 '{\"system\": }'",
        'on "unclosed',
        "discover 300.1.2.3/24",
        "discover 127.0.0.0/8",  # refused: more than a /16, nothing sent
        "alias 127.0.0.1",
        "led 127.0.0.1 dim",
        "reboot 127.0.0.1",
        "info 127.0.0.1:notaport",
    ]
    for line in lines:
        out = run_shell(home, "-c", line)
        assert out.returncode == 1, line
        assert "Traceback" not in out.stderr + out.stdout, line
        assert len(out.stderr.strip().splitlines()) == 1, (line, out.stderr)
    raw = run_shell(home, "-c", lines[0])
    assert "invalid JSON at line 1 column 12" in raw.stderr


def test_confirming_command_refuses_without_a_person(home):
    out = run_shell(home, "-c", "reboot 127.0.0.1")
    assert out.returncode == 1 and "--yes" in out.stderr


def test_config_percent_signs_are_literal(tmp_path):
    from conftest import write_config

    home = tmp_path / "h"
    write_config(home, extra="\n[remote]\nsecret = 50%off%(x)s\n")
    assert run_shell(home, "-c", "help").returncode == 0


def test_only_long_running_one_shot_lines_pick_the_faster_loop(home):
    import argparse

    from kshell.app.build import build_session
    from kshell.app.cli import _runs_long

    ctx = build_session(argparse.Namespace(home=str(home), config=None, commands=[]))
    assert not _runs_long(ctx, "info Kitchen; on all")
    assert _runs_long(ctx, "help; emeter watch all --count 3")
    assert _runs_long(ctx, "firmware stage Kitchen x.bin --dry-run")
    assert not _runs_long(ctx, 'on "unclosed')
    assert not _runs_long(ctx, "nonsense")


def test_an_error_inside_the_event_loop_is_one_line_unless_debug(home, tmp_path):
    folder = tmp_path / "cmds"
    folder.mkdir()
    (folder / "broken_callback.py").write_text(
        "import asyncio\n"
        "from kshell.lang.registry import command\n"
        "from kshell.results import Text\n\n"
        "@command('oops', permission='read')\n"
        "async def oops(ctx, args):\n"
        "    '''Schedule a callback that fails, as a torn-down server callback can.'''\n"
        "    asyncio.get_running_loop().call_soon(lambda: 1 / 0)\n"
        "    await asyncio.sleep(0.05)\n"
        "    return Text('done')\n"
    )
    out = run_shell(home, "--commands", str(folder), "-c", "oops")
    assert out.returncode == 0 and "done" in out.stdout
    assert "Traceback" not in out.stderr
    assert "background error (ZeroDivisionError: division by zero)" in out.stderr
    debug = run_shell(home, "--debug", "--commands", str(folder), "-c", "oops")
    assert "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr
