"""``emeter watch --out influx://...`` into a real InfluxDB 1.x, and ``--out FILE.lp``.

Plugs live on 127.80.2.x (this file's range). One simulator and one InfluxDB (Debian's
``influxd``, its own config, every port on 127.0.0.1) serve the module; each test writes
to a database of its own.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
from helpers.influx import Influx, _open, free_port
from helpers.shell import ROOT, json_lines, run_shell, write_config
from helpers.waiting import wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kshell.simulator.runner import SimulatorThread
from kshell.simulator.spec import PlugSpec
from kshell.ui.output import clean

HEATER, STRIP, HOSTILE = (f"127.80.2.{n}" for n in range(2, 5))
HOSTILE_ALIAS = 'Evil "x"\\ }\n,a=b c\\'
OUTLETS = ("TV", "Sound bar", "Console", "Router", "Desk,Lamp", "Charger=2")


@pytest.fixture(scope="module")
def sim():
    specs = [
        PlugSpec(host=HEATER, model="HS110(EU) 1.0", alias="Heater", profile="heater", udp_port=0),
        PlugSpec(
            host=STRIP, model="HS300(US) 1.0", alias="Strip", outlet_aliases=OUTLETS, udp_port=0
        ),
        PlugSpec(host=HOSTILE, model="HS110(EU) 2.0", alias=HOSTILE_ALIAS, udp_port=0),
    ]
    with SimulatorThread(specs) as running:
        yield running


@pytest.fixture(scope="module")
def home(sim, tmp_path_factory):
    path = tmp_path_factory.mktemp("influx") / "home"
    write_config(path, udp_port=sim.udp_port or 9999)
    assert run_shell(path, "-c", "discover").returncode == 0
    return path


@pytest.fixture(scope="module")
def influx(tmp_path_factory):
    with Influx(tmp_path_factory.mktemp("influxdb")) as server:
        yield server


def _samples(stdout: str) -> list[dict]:
    return [line for line in json_lines(stdout) if "power_w" in line]


def test_a_watch_lands_in_influxdb_tagged_and_escaped(home, influx):
    out = f"influx://127.0.0.1:{influx.http_port}/watch1"  # the sink creates the database
    result = run_shell(
        home, "--json", "-c", f"emeter watch all --interval 0.2 --count 3 --out {out}"
    )
    assert result.returncode == 0, result.stderr
    samples = _samples(result.stdout)
    assert len(samples) == 3 * (1 + 6 + 1)
    summary = json_lines(result.stdout)[-1]["summary"]
    assert summary["out"]["sent"] == len(samples) and summary["out"]["dropped"] == 0
    rows = influx.rows("watch1")
    assert len(rows) == len(samples)
    heater = [r for r in rows if r["host"] == HEATER]
    assert len(heater) == 3 and all(r["outlet"] is None for r in heater)
    by_time = {s["t"]: s for s in samples if s["host"] == HEATER}
    for row in heater:  # what the watch printed is what InfluxDB holds
        sample = by_time[row["time"] / 1000]
        assert row["power_w"] == pytest.approx(sample["power_w"])
        assert row["voltage_v"] == pytest.approx(sample["voltage_v"])
        assert row["total_kwh"] == pytest.approx(sample["total_kwh"])
        assert row["implausible"] == 0
    outlets = {(r["outlet"], r["alias"]) for r in rows if r["host"] == STRIP}
    assert outlets == {(str(n), a) for n, a in enumerate(OUTLETS, start=1)}
    hostile = {r["alias"] for r in rows if r["host"] == HOSTILE}
    assert hostile == {'Evil "x"\\x5c }\\x0a,a=b c\\x5c'}  # one line; backslashes visible


def test_an_implausible_reading_is_written_and_flagged(home, influx, sim):
    sim.set_fault(HEATER, "bogus_power", 2)
    try:
        out = f"influx://127.0.0.1:{influx.http_port}/bogus"
        result = run_shell(
            home, "--json", "-c", f"emeter watch Heater --interval 0.1 --count 4 --out {out}"
        )
        assert result.returncode == 0, result.stderr
    finally:
        sim.clear_faults(HEATER)
    rows = influx.rows("bogus")
    flagged = [r for r in rows if r["implausible"] == 1]
    assert len(rows) == 4 and len(flagged) == 2 and all(r["power_w"] > 20_000 for r in flagged)


def test_a_restart_of_influxdb_loses_no_buffered_reading(home, influx):
    influx.create("restart")
    out = f"influx://127.0.0.1:{influx.http_port}/restart"
    watch = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "shell.py"),
            "--home",
            str(home),
            "--json",
            "-c",
            f"emeter watch Heater Strip --interval 0.2 --duration 5 --out {out}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: influx.query("SELECT count(power_w) FROM kasa", "restart"),
            10,
            what="the first batch",
        )
        influx.restart(down=1.5)  # samples meanwhile wait in the sink's buffer
        stdout, stderr = watch.communicate(timeout=30)
    finally:
        watch.kill()
    assert watch.returncode == 0, stderr
    samples = _samples(stdout)
    summary = json_lines(stdout)[-1]["summary"]
    assert summary["out"]["dropped"] == 0 and summary["out"]["sent"] == len(samples)
    assert summary["out"]["retries"] > 0  # the outage did happen while it wrote
    rows = influx.rows("restart")
    assert len(rows) == len(samples) > 7 * 10
    assert {(r["host"], r["time"]) for r in rows} >= {
        (s["host"], round(s["t"] * 1000)) for s in samples if s["outlet"] is None
    }


def test_a_line_protocol_file_is_what_influxdb_takes(home, influx, tmp_path):
    path = tmp_path / "power.lp"
    result = run_shell(home, "-c", f"emeter watch all --interval 0.1 --count 2 --out {path}")
    assert result.returncode == 0, result.stderr
    lines = path.read_text().splitlines()
    assert len(lines) == 2 * 8 and all(line.startswith("kasa,alias=") for line in lines)
    influx.create("fromfile")
    url = f"{influx.url}/write?db=fromfile&precision=ms"
    with _open(url, data=path.read_bytes(), timeout=5) as answer:
        assert answer.status == 204
    assert len(influx.rows("fromfile")) == 16


def test_the_buffer_is_bounded_and_the_drops_are_counted(home):
    """A server that never answers: the sink keeps the newest lines up to its bound."""
    from kshell.core.target import Target
    from kshell.device import meter_rules as emeter
    from kshell.work.metrics.influx import InfluxSink
    from kshell.work.watch import Meter, Sample

    async def go() -> InfluxSink:
        sink = InfluxSink(f"influx://127.0.0.1:{free_port()}/none", max_buffer=5)
        meter = Meter(Target(HEATER))
        reading = emeter.normalise({"power": 1.5, "voltage": 230.0, "current": 0.1, "total": 2})
        for n in range(12):
            sink.write(Sample(1_700_000_000 + n, n, meter, reading))
        assert len(sink.buffer) == 5 and sink.dropped == 7
        assert sink.buffer[-1].endswith(" 1700000011000")  # the newest kept
        sink.final_flush = 0.3
        started = time.monotonic()
        await sink.aclose()
        assert time.monotonic() - started < 2
        return sink

    sink = asyncio.run(go())
    assert sink.dropped == 12 and sink.sent == 0 and "DROPPED" in sink.report()


def test_a_watch_whose_influx_never_answers_exits_1_saying_what_was_lost(home):
    dead = f"influx://127.0.0.1:{free_port()}/none"  # nothing listens there
    result = run_shell(home, "-c", f"emeter watch Heater --count 2 --interval 0 --out {dead}")
    assert result.returncode == 1, result.stdout
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "2 points not written" in errors[0], errors
    assert "2 DROPPED" in result.stdout  # the summary says it too


def test_a_full_line_protocol_file_is_one_line_and_ends_on_a_whole_line(home, tmp_path):
    import resource

    out = tmp_path / "full.lp"
    limit = 64 * 1024
    out.write_text("m v=1 1\n" * ((limit - 300) // 8))
    before = out.stat().st_size

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "shell.py"),
            "--home",
            str(home),
            "-c",
            f"emeter watch Heater --count 20 --interval 0 --out {out}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=small_files,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "writing stopped" in result.stderr
    data = out.read_bytes()
    assert data.endswith(b"\n") and before < len(data) <= limit


def test_a_malformed_influx_url_is_one_line(home):
    for bad in ("influx://127.0.0.1:8086", "influx://127.0.0.1:99999/db", "influx:///db"):
        result = run_shell(home, "-c", f"emeter watch Heater --count 1 --out {bad}")
        assert result.returncode != 0
        assert "influx://HOST:PORT/DATABASE" in result.stderr and "Traceback" not in result.stderr


HOSTILE_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from('\\ ,="}\n\r\t'),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(aliases=st.lists(HOSTILE_TEXT, min_size=10, max_size=30))
def test_any_alias_is_one_line_influxdb_takes(influx, aliases):
    from kshell.core.target import Target
    from kshell.device import meter_rules as emeter
    from kshell.work.metrics.lineproto import sample_line
    from kshell.work.watch import Meter, Sample

    reading = emeter.normalise({"power": 1.5, "voltage": 230.0, "current": 0.1, "total": 2})
    lines = []
    for n, alias in enumerate(aliases):
        meter = Meter(Target(f"127.80.2.{100 + n}"))
        meter.label = alias
        line = sample_line(Sample(1_700_000_000, 0, meter, reading))
        assert line is not None and "\n" not in line and "\r" not in line
        lines.append(line)
    influx.create("fuzz")
    influx.query("DROP SERIES FROM kasa", "fuzz")
    url = f"{influx.url}/write?db=fuzz&precision=ms"
    with _open(url, data="\n".join(lines).encode(), timeout=5) as answer:
        assert answer.status == 204
    rows = {r["host"]: r["alias"] for r in influx.rows("fuzz")}
    assert len(rows) == len(aliases)
    for n, alias in enumerate(aliases):
        shown = rows[f"127.80.2.{100 + n}"]
        assert "\n" not in shown and clean(shown.replace("\\x5c", "\\"), 200) == clean(alias, 120)
