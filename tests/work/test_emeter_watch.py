"""The energy meter against simulated plugs, as an operator uses it.

Plugs live on 127.30.10.x (this file's range). One simulator serves the module; every test
clears the faults it set.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import signal
import subprocess
import sys
import time

import pexpect
import pytest
from helpers.scripted_plug import scripted_plug
from helpers.shell import ROOT, json_lines, run_shell

from kshell.results import Failure
from kshell.simulator.runner import SimulatorThread
from kshell.simulator.spec import PlugSpec
from kshell.store.devices import DeviceStore
from kshell.work.watch import Sample

HEATER, KETTLE, STRIP, LAMP, FREEZER = (f"127.30.10.{n}" for n in range(2, 7))


@pytest.fixture(scope="module")
def sim():
    specs = [
        PlugSpec(
            host=HEATER,
            model="HS110(EU) 1.0",
            alias="Heater",
            profile="heater",
            udp_port=None,
            seed=1,
        ),
        PlugSpec(
            host=KETTLE,
            model="HS110(EU) 2.0",
            alias="Kettle",
            profile="computer",
            udp_port=None,
            seed=2,
        ),
        PlugSpec(host=STRIP, model="HS300(US) 1.0", alias="Strip", udp_port=None, seed=3),
        PlugSpec(
            host=LAMP, model="HS105(US) 1.0", alias="Lamp", profile="lamp", udp_port=None, seed=4
        ),
        PlugSpec(
            host=FREEZER,
            model="KP115(EU) 1.0",
            alias="Freezer",
            profile="freezer",
            udp_port=None,
            seed=5,
        ),
    ]
    with SimulatorThread(specs) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_faults(sim):
    yield
    for host in (HEATER, KETTLE, STRIP, LAMP, FREEZER):
        sim.clear_faults(host)


def test_one_reading_from_each_schema_and_a_strip_outlet(home):
    result = run_shell(
        home, "--json", "-c", f"emeter {HEATER}; emeter {KETTLE}; emeter {STRIP}; emeter Strip/2"
    )
    assert result.returncode == 0, result.stderr
    heater, kettle, strip, outlet = json_lines(result.stdout)
    assert heater["schema"] == "v1" and "power" in heater["raw"]
    assert kettle["schema"] == "v2" and "power_mw" in kettle["raw"]
    for reading in (heater, kettle, outlet):
        assert {"power_w", "voltage_v", "current_a", "total_kwh", "plausible", "flags"} <= set(
            reading
        )
        assert reading["plausible"] is True and reading["flags"] == []
        assert 200 < reading["voltage_v"] < 250 or 100 < reading["voltage_v"] < 130
    assert kettle["power_w"] == kettle["raw"]["power_mw"] / 1000
    assert kettle["total_kwh"] == kettle["raw"]["total_wh"] / 1000
    assert [o["outlet"] for o in strip["outlets"]] == [1, 2, 3, 4, 5, 6]
    assert outlet["target"] == "Strip/2" and outlet["model"] == "HS300(US)"


def test_a_plug_without_a_meter_is_a_clear_error(home):
    result = run_shell(home, "--json", "-c", f"emeter {LAMP}")
    assert result.returncode == 1
    error = json_lines(result.stderr)[0]["error"]
    assert error["kind"] == "unsupported" and "no energy meter" in error["message"]
    human = run_shell(home, "-c", f"emeter {LAMP}")
    assert "HS105(US) has no energy meter" in human.stderr and "Traceback" not in human.stderr


def test_a_bogus_reading_is_shown_and_flagged(home, sim):
    sim.set_fault(KETTLE, "bogus_power", 1)
    flagged = json_lines(run_shell(home, "--json", "-c", f"emeter {KETTLE}").stdout)[0]
    assert flagged["power_w"] > 28_000 and flagged["plausible"] is False
    assert any("above the 3,680 W rating" in f for f in flagged["flags"])
    sim.set_fault(KETTLE, "bogus_power", 1)
    human = run_shell(home, "-c", f"emeter {KETTLE}")
    assert "IMPLAUSIBLE: power 2" in human.stdout


def test_watch_streams_json_lines_and_writes_csv_and_jsonl(home, tmp_path):
    csv_path, jsonl_path = tmp_path / "w.csv", tmp_path / "w.jsonl"
    for path in (csv_path, jsonl_path):
        result = run_shell(
            home,
            "--json",
            "-c",
            f"emeter watch {HEATER} {KETTLE} --count 3 --interval 0.1 --out {path}",
        )
        assert result.returncode == 0, result.stderr
        lines = json_lines(result.stdout)
        samples, summary = lines[:-1], lines[-1]["summary"]
        assert len(samples) == 6 and all(s["status"] == "ok" for s in samples)
        assert sorted((s["target"], s["round"]) for s in samples) == sorted(
            (name, r) for name in ("Heater", "Kettle") for r in range(3)
        )
        assert summary["rounds"] == 3 and summary["samples"] == 6
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 6 and {r["target"] for r in rows} == {"Heater", "Kettle"}
    assert all(r["time"].endswith("+00:00") and float(r["t"]) > 1e9 for r in rows)
    assert all(float(r["voltage_v"]) > 200 and r["plausible"] == "True" for r in rows)
    records = [json.loads(x) for x in jsonl_path.read_text().splitlines()]
    assert len(records) == 6 and all("power_w" in r and "time" in r for r in records)


def test_an_out_path_that_cannot_be_written_is_refused_before_any_plug_is_asked(home, sim):
    result = run_shell(home, "-c", f"emeter watch {HEATER} --out /nonexistent/x.csv --count 1")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: --out: cannot write /nonexistent/x.csv: No such file or directory"
    )
    assert "connecting" not in result.stdout and "Heater" not in result.stdout
    from helpers.terminal import Terminal  # where the live table would have been drawn first

    terminal = Terminal(home)
    try:
        terminal.send(f"emeter watch {HEATER} --out /nonexistent/x.csv")
        terminal.key("Enter")
        terminal.expect("cannot write /nonexistent/x.csv")
        screen = terminal.screen()
        assert "connecting" not in screen and "emeter watch: 1 meters" not in screen, screen
        terminal.leave()
    finally:
        terminal.close()


def test_a_full_disk_is_one_line_the_watch_goes_on_and_the_file_ends_on_a_whole_row(home, tmp_path):
    """A file-size limit (RLIMIT_FSIZE: writes past it fail, EFBIG, as a full disk fails
    with ENOSPC) reached mid-watch: one error line, every sample still on screen, a summary
    that says what was lost, exit 1, and a file that ends on a whole row."""
    import resource

    out = tmp_path / "full.csv"
    limit = 256 * 1024
    header = "time,t,round,target,host,outlet,status,power_w"
    filler = header + "\n" + ("x" * 99 + "\n") * ((limit - 700) // 100)
    out.write_text(filler)
    before = out.stat().st_size

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "shell.py"),
            "--home",
            str(home),
            "--json",
            "-c",
            f"emeter watch {HEATER} {KETTLE} --count 40 --interval 0 --out {out}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=small_files,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    errors = json_lines(result.stderr)
    assert len(errors) == 1 and "writing stopped after" in errors[0]["error"]["message"]
    lines = json_lines(result.stdout)
    assert len(lines) == 81  # every sample on screen, then the summary
    data = out.read_bytes()
    assert data.endswith(b"\n") and len(data) <= limit and len(data) > before
    last = data[before:].decode().splitlines()
    assert all(len(next(csv.reader([row]))) == 15 for row in last), last[-1:]


def test_watch_gives_a_row_per_strip_outlet(home):
    result = run_shell(home, "--json", "-c", f"emeter watch {STRIP} --count 2 --interval 0")
    assert result.returncode == 0, result.stderr
    samples = json_lines(result.stdout)[:-1]
    assert sorted(s["outlet"] for s in samples) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    assert {s["target"] for s in samples} == {f"Strip/{n}" for n in range(1, 7)}


def _recording(sim, host):
    """The requests the simulated plug at ``host`` answers from now on, as it decoded them."""
    plug = sim.plug(host)
    seen: list[dict] = []
    answer = plug.handle

    def handle(request):
        seen.append(request)
        return answer(request)

    sim.call(setattr, plug, "handle", handle)
    return seen, lambda: sim.call(delattr, plug, "handle")


@pytest.mark.parametrize("host", [HEATER, KETTLE])  # old and new schema
def test_the_first_reading_comes_with_the_sysinfo_in_one_request(home, sim, host):
    seen, restore = _recording(sim, host)
    try:
        result = run_shell(home, "--json", "-c", f"emeter watch {host} --count 1 --interval 0")
    finally:
        restore()
    assert result.returncode == 0, result.stderr
    sample, summary = json_lines(result.stdout)
    assert sample["status"] == "ok" and sample["plausible"] is True and sample["round"] == 0
    assert sample["target"] in ("Heater", "Kettle")  # named from the sysinfo in the same answer
    assert seen == [{"system": {"get_sysinfo": {}}, "emeter": {"get_realtime": {}}}]
    assert summary["summary"]["samples"] == 1
    stored = DeviceStore(home / "devices.db").by_address(host, 9999)  # the plug is still stored
    assert stored is not None and stored.alias == sample["target"] and stored.mac


PICKY = "127.30.10.9"


@pytest.fixture
def picky_plug(request):
    """A plug whose firmware refuses a request naming two modules (an error, or a closed
    connection), and answers sysinfo and emeter each alone."""
    refusal = request.param
    sysinfo = {
        "alias": "Picky",
        "model": "HS110(EU)",
        "mac": "50:C7:BF:00:00:09",
        "feature": "TIM:ENE",
        "relay_state": 1,
        "err_code": 0,
    }
    realtime = {"power": 12.5, "voltage": 230.1, "current": 0.06, "total": 1.5, "err_code": 0}

    def answer(req: dict) -> dict | None:
        if len(req) > 1 and refusal == "close":
            return None
        if len(req) > 1:
            return {"err_code": -1, "err_msg": "module not support"}
        if "system" in req:
            return {"system": {"get_sysinfo": sysinfo}}
        return {"emeter": {"get_realtime": realtime}}

    with scripted_plug(PICKY, answer) as asked:
        yield asked


@pytest.mark.parametrize("picky_plug", ["error", "close"], indirect=True)
def test_a_plug_that_refuses_the_paired_request_is_asked_one_module_at_a_time(home, picky_plug):
    result = run_shell(home, "--json", "-c", f"emeter watch {PICKY} --count 2 --interval 0")
    assert result.returncode == 0, result.stderr
    samples = json_lines(result.stdout)[:-1]
    assert [(s["target"], s["power_w"], s["round"]) for s in samples] == [
        ("Picky", 12.5, 0),
        ("Picky", 12.5, 1),
    ]
    assert len(picky_plug[0]) == 2  # asked for both once, then one module at a time
    assert all(len(r) == 1 for r in picky_plug[1:])


def test_as_fast_as_they_answer_each_round_is_one_request_on_the_kept_connection(home, sim):
    seen, restore = _recording(sim, HEATER)
    try:
        result = run_shell(
            home, "--json", "-c", f"emeter watch {HEATER} {KETTLE} --count 5 --interval 0"
        )
    finally:
        restore()
    assert result.returncode == 0, result.stderr
    samples = json_lines(result.stdout)[:-1]
    for name in ("Heater", "Kettle"):
        assert [s["round"] for s in samples if s["target"] == name] == [0, 1, 2, 3, 4]
    assert all(s["status"] == "ok" and s["plausible"] for s in samples)
    assert seen[1:] == [{"emeter": {"get_realtime": {}}}] * 4  # nothing asked twice, no extra
    assert sim.open_connections(HEATER) <= 1


def test_watching_a_plug_without_a_meter_is_one_line_the_others_go_on(home, sim):
    result = run_shell(
        home, "--json", "-c", f"emeter watch {LAMP} {FREEZER} --count 2 --interval 0"
    )
    assert result.returncode == 1  # some plug failed
    errors = json_lines(result.stderr)
    assert len(errors) == 1 and errors[0]["error"]["kind"] == "unsupported"
    assert "has no energy meter" in errors[0]["error"]["message"]
    samples = json_lines(result.stdout)[:-1]
    assert [s["target"] for s in samples] == ["Freezer", "Freezer"]
    human = run_shell(home, "-c", f"emeter watch {LAMP} --count 1 --interval 0")
    assert "HS105(US) has no energy meter" in human.stderr and "Traceback" not in human.stderr


def test_flagged_readings_are_counted_but_kept_out_of_the_figures(home, sim):
    sim.set_fault(KETTLE, "bogus_power", 1)
    result = run_shell(home, "--json", "-c", f"emeter watch {KETTLE} --count 4 --interval 0.05")
    lines = json_lines(result.stdout)
    samples, summary = lines[:-1], lines[-1]["summary"]["targets"][0]
    assert [s["plausible"] for s in samples] == [False, True, True, True]
    assert summary["flagged"] == 1 and summary["samples"] == 3
    assert summary["max_w"] < 3680


def test_watch_all_takes_the_known_plugs_that_have_a_meter(home):
    known = run_shell(home, "--json", "-c", f"info {HEATER} {KETTLE} {LAMP}")
    assert known.returncode == 0, known.stderr
    for words in ("all", ""):  # no target and no `use`: all
        result = run_shell(home, "--json", "-c", f"emeter watch {words} --count 1 --interval 0")
        assert result.returncode == 0, result.stderr  # the lamp is left out, not an error
        lines = json_lines(result.stdout)
        assert [d["skipped"] for d in lines if "skipped" in d] == [["Lamp"]]
        samples = [d for d in lines[:-1] if "skipped" not in d]
        assert sorted(s["target"] for s in samples) == ["Heater", "Kettle"]


def test_pipe_output_is_one_line_per_sample_then_the_summary(home):
    result = run_shell(home, "-c", f"emeter watch {FREEZER} --count 2 --interval 0.05")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(" W " in line and "Freezer:" in line for line in lines) == 2
    assert "\x1b[" not in result.stdout  # no drawing on a pipe
    assert "emeter watch summary" in result.stdout and "2 samples" in result.stdout


# -- in-process streams, driven by what they deliver --------------------------------------
def _stream(home, *words):
    """The `emeter watch` stream as the runner would get it, in the test's event loop."""
    from kshell.app.build import build_session
    from kshell.lang.binding import parse_args

    ctx = build_session(
        argparse.Namespace(
            home=str(home), config=None, commands=[], timeout=1.0, yes=False, debug=False
        )
    )
    cmd, rest = ctx.registry.lookup(["emeter", "watch", *words])
    return ctx, cmd.func(ctx, parse_args(cmd, rest))


@pytest.mark.parametrize("interval", ["0.1", "0"])  # paced; as fast as they answer
def test_a_plug_that_drops_out_is_retried_while_the_others_go_on(home, sim, interval):
    async def main():
        ctx, made = _stream(home, HEATER, KETTLE, "--interval", interval)
        stream = await made
        before = after = others_meanwhile = 0
        dropped = False
        async for item in stream:
            if isinstance(item, Failure):
                assert "Kettle" in str(item.error.target) or KETTLE in str(item.error.target)
                dropped = True
                sim.clear_faults(KETTLE, "offline")  # the plug comes back
                continue
            assert isinstance(item, Sample)
            if item.label == "Kettle":
                if not dropped:
                    before += 1
                    if before == 3:
                        sim.set_fault(KETTLE, "offline")
                else:
                    after += 1
                    if after == 2:
                        break
            elif dropped and not after:
                others_meanwhile += 1
        await stream.stop()
        kettle = next(m for m in stream.meters if m.label == "Kettle")
        return before, after, others_meanwhile, kettle.failures, ctx.readings.power_w

    before, after, others, failures, last_power = asyncio.run(main())
    # as fast as it answers, a reading or two may be on its way when the plug drops out
    assert (before == 3 if interval != "0" else 3 <= before <= 6) and after == 2
    assert failures >= 1
    assert others >= 1  # the heater kept being read while the kettle was away
    assert set(last_power) >= {"Heater", "Kettle"}


def test_a_total_that_restarts_after_a_power_cut_is_a_counter_reset(home, sim):
    async def main():
        _, made = _stream(home, FREEZER, "--interval", "0.1")
        stream = await made
        seen, reset = 0, None
        async for item in stream:
            if isinstance(item, Sample) and item.ok:
                seen += 1
                if seen == 2:
                    sim.power_cut(FREEZER)
                if item.reset:
                    reset = item
                    break
        await stream.stop()
        return reset, stream.summary().data["summary"]["targets"][0]

    reset, summary = asyncio.run(main())
    assert reset is not None and reset.flags == []
    assert reset.json()["counter_reset"] is True and reset.json()["plausible"] is True
    assert summary["counter_resets"] == 1 and summary["flagged"] == 0


# -- Ctrl-C --------------------------------------------------------------------------------
def test_ctrl_c_stops_the_live_view_and_prints_the_summary(home):
    child = pexpect.spawn(
        sys.executable,
        [
            str(ROOT / "shell.py"),
            "--home",
            str(home),
            "-c",
            f"emeter watch {HEATER} {STRIP} --interval 0.1",
        ],
        cwd=str(ROOT),
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "TERM": "xterm"},
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 140),
    )
    child.expect("recent power")
    child.expect(r"Strip/6 \(Plug 6\) +\d+\.\d")  # rows are filled in, outlets named
    child.expect(r"\x1b\[\d+F")  # and drawn again in place, not scrolled
    child.sendintr()
    child.expect("emeter watch summary")
    child.expect(r"samples \(0 flagged")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert "Traceback" not in child.before


def test_ctrl_c_on_a_pipe_prints_the_summary(home):
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "shell.py"),
            "--home",
            str(home),
            "-c",
            f"emeter watch {HEATER} --interval 0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    for _ in range(3):
        assert "Heater:" in proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=30)
    assert "emeter watch summary" in rest and "Heater" in rest.split("summary")[1]
    assert proc.returncode == 130 and "Traceback" not in err


# -- statistics and erase ------------------------------------------------------------------
def test_day_and_month_statistics_as_charts(home):
    result = run_shell(home, "--json", "-c", f"emeter day {KETTLE}; emeter month {KETTLE}")
    assert result.returncode == 0, result.stderr
    days, months = json_lines(result.stdout)
    assert days["days"] and all(d["energy_kwh"] >= 0 for d in days["days"])
    assert days["total_kwh"] == pytest.approx(sum(d["energy_kwh"] for d in days["days"]), abs=1e-3)
    assert months["months"] and months["months"][-1]["month"] == days["month"]
    human = run_shell(home, "-c", f"emeter month {KETTLE}")
    assert "█" in human.stdout and "total" in human.stdout and "kWh" in human.stdout
    bad = run_shell(home, "-c", f"emeter day {KETTLE} 2026 13")
    assert bad.returncode == 1 and "MONTH must be 1-12" in bad.stderr


def test_erase_asks_first_then_reads_back(home, sim):
    refused = run_shell(home, "--json", "-c", f"emeter erase {FREEZER}")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    done = run_shell(home, "--json", "-c", f"emeter erase {FREEZER} --yes")
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout)[0]["erased"] is True
    sim.set_fault(HEATER, "erase_noop")
    noop = run_shell(home, "--json", "-c", f"emeter erase {HEATER} --yes")
    assert noop.returncode == 1
    assert "did not erase" in json_lines(noop.stderr)[0]["error"]["message"]


def test_by_mail_a_watch_is_bounded_and_writes_no_file(home, tmp_path):
    from kshell.app.build import build_session
    from kshell.core.invocation import Invocation, MailRules
    from kshell.lang.binding import parse_args
    from kshell.ui.output import Collector
    from kshell.ui.runner import run_line

    ctx = build_session(
        argparse.Namespace(
            home=str(home), config=None, commands=[], timeout=1.0, yes=False, debug=False
        )
    )
    ctx.invocation = Invocation.for_mail("admin", MailRules())
    cmd, rest = ctx.registry.lookup(["emeter", "watch", HEATER])
    stream = asyncio.run(cmd.func(ctx, parse_args(cmd, rest)))
    assert stream.duration == 60.0 == cmd.mail_time_limit
    out = Collector()
    line = f"emeter watch {HEATER} --out {tmp_path / 'x.csv'}"
    assert not asyncio.run(run_line(ctx, line, out))
    assert "mail never reads or writes files (--out)" in out.text()
    assert not (tmp_path / "x.csv").exists()


def test_another_request_to_a_watched_plug_gets_its_turn_at_once(home, sim):
    async def main():
        ctx, made = _stream(home, FREEZER, "--interval", "0")
        stream = await made
        samples = waited = 0
        async for item in stream:
            assert isinstance(item, Sample) and item.ok
            samples += 1
            if samples == 20:  # the watch repeats its read on the kept connection by now
                device = ctx.devices.get(FREEZER)
                started = time.monotonic()
                await device.relay.set(False)  # waits for the one read in flight, no more
                waited = time.monotonic() - started
                off = sim.call(lambda: sim.plug(FREEZER).relay_state) == 0
            if samples == 60:
                break
        await stream.stop()
        return waited, off

    waited, off = asyncio.run(main())
    assert off and waited < 0.5  # the watch's 1 s timeout would be far longer


def test_the_watch_summary_has_a_total_row_and_right_aligned_figures(home):
    result = run_shell(home, "-c", f"emeter watch {HEATER} {KETTLE} --count 2 --interval 0")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("target"))
    header, rows = lines[at], lines[at + 2 : at + 5]
    assert rows[-1].startswith("total (2 meters)")
    end = header.index("samples") + len("samples")  # figures end where their header ends
    assert all(row[end - 1].isdigit() for row in rows), rows
    wh = header.index("Wh") + 2
    heater, kettle, total = (float(row[:wh].split()[-1]) for row in rows)
    assert abs(heater + kettle - total) < 0.002
