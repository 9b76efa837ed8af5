"""The energy meter's pure parts: both schemas, plausibility, statistics, drawing, files."""

from __future__ import annotations

import csv
import json
import math

import pytest

from kshell.core.target import Target
from kshell.device import meter_rules as emeter
from kshell.errors import ProtocolError
from kshell.ui.views.meters import sparkline
from kshell.work.watch import Meter, Sample, SampleWriter, backoff

# answers as real plugs give them (python-kasa's fixtures HS110(EU) 1.0 1.2.5 and
# HS300(US) 2.0 1.0.12, KP125(US) 1.0 1.0.6)
V1 = {"current": 0.014937, "err_code": 0, "power": 0.928511, "total": 55.139, "voltage": 231.067823}
V2_STRIP = {
    "current_ma": 6,
    "err_code": 0,
    "power_mw": 277,
    "slot_id": 0,
    "total_wh": 62,
    "voltage_mv": 120110,
}
V2_PLUG = {
    "current_ma": 978,
    "err_code": 0,
    "power_mw": 100277,
    "total_wh": 12170,
    "voltage_mv": 119425,
}
EU = emeter.rating_for("HS110(EU)")
US = emeter.rating_for("KP115(US)")


def test_old_firmware_schema_is_read_in_w_v_a_kwh():
    r = emeter.normalise(V1)
    assert r.schema == "v1"
    assert (r.power_w, r.voltage_v, r.current_a, r.total_kwh) == (
        0.928511,
        231.067823,
        0.014937,
        55.139,
    )


@pytest.mark.parametrize(
    "answer, expected",
    [
        (V2_STRIP, (0.277, 120.11, 0.006, 0.062)),
        (V2_PLUG, (100.277, 119.425, 0.978, 12.17)),
    ],
)
def test_new_firmware_schema_is_converted_from_milli_units_and_wh(answer, expected):
    r = emeter.normalise(answer)
    assert r.schema == "v2"
    got = (r.power_w, r.voltage_v, r.current_a, r.total_kwh)
    assert all(math.isclose(a, b) for a, b in zip(got, expected)), got


def test_schema_is_told_by_keys_and_missing_fields_stay_unknown():
    assert emeter.normalise({"power_mw": 5000, "err_code": 0}).power_w == 5.0  # a bulb's answer
    partial = emeter.normalise({"power": 12.5, "voltage": 230.0})
    assert partial.schema == "v1" and partial.current_a is None and partial.total_kwh is None


@pytest.mark.parametrize(
    "answer",
    [
        {"err_code": 0},
        {"power": "12"},
        {"power": True},
        {"power_mw": None},
        {"power": float("nan")},
    ],
)
def test_an_answer_without_a_usable_power_is_a_protocol_error(answer):
    with pytest.raises(ProtocolError, match="no power reading"):
        emeter.normalise(answer)


def test_ratings_by_region():
    assert (EU.watts, EU.amps) == (3680.0, 16.0)
    assert (emeter.rating_for("HS110(UK)").watts, emeter.rating_for("HS110(UK)").amps) == (
        3680.0,
        16.0,
    )
    assert (US.watts, US.amps) == (1875.0, 15.0)
    assert emeter.rating_for("HS300(US)").region == "US"
    assert emeter.rating_for("mystery").watts == 3680.0  # unknown: the most generous


def test_ordinary_readings_are_plausible():
    assert emeter.check(emeter.normalise(V1), EU) == []
    assert emeter.check(emeter.normalise(V2_STRIP), US) == []
    assert emeter.check(emeter.normalise(V2_PLUG), US) == []
    kettle = emeter.normalise({"power": 3000.0, "voltage": 231.0, "current": 13.1, "total": 9.0})
    assert emeter.check(kettle, EU) == []


def test_the_28000_watt_hs110_reading_is_flagged_against_the_rating():
    bogus = emeter.normalise({"power": 28341.2, "voltage": 230.9, "current": 0.41, "total": 12.0})
    flags = emeter.check(bogus, EU)
    assert any("above the 3,680 W rating" in f for f in flags)
    assert any("volts x amps" in f for f in flags)  # a normal current cannot carry it


def test_the_same_power_is_fine_in_europe_and_too_much_in_the_us():
    heater = {"power_mw": 2_900_000, "voltage_mv": 235_000, "current_ma": 12_400, "total_wh": 100}
    assert emeter.check(emeter.normalise(heater), EU) == []
    flags = emeter.check(emeter.normalise(heater), US)
    assert flags == ["power 2,900 W above the 1,875 W rating"]


def test_current_above_the_rating_is_flagged():
    r = emeter.normalise(
        {"power_mw": 1_800_000, "voltage_mv": 110_000, "current_ma": 16_400, "total_wh": 1}
    )
    assert emeter.check(r, US) == ["current 16.4 A above the 15 A rating"]


@pytest.mark.parametrize(
    "answer, word",
    [
        ({"power": -3.0, "voltage": 230.0, "current": 0.0, "total": 1.0}, "negative power"),
        ({"power": 3.0, "voltage": 230.0, "current": -0.1, "total": 1.0}, "negative current"),
        ({"power": 3.0, "voltage": 230.0, "current": 0.1, "total": -1.0}, "negative total"),
        ({"power": 3.0, "voltage": -230.0, "current": 0.1, "total": 1.0}, "negative voltage"),
    ],
)
def test_negative_values_are_flagged(answer, word):
    flags = emeter.check(emeter.normalise(answer), EU)
    assert any(f.startswith(word) for f in flags), flags


@pytest.mark.parametrize(
    "volts, ok",
    [(89.9, False), (90.0, True), (120.0, True), (270.0, True), (270.1, False), (0.0, False)],
)
def test_voltage_must_lie_between_90_and_270(volts, ok):
    r = emeter.normalise({"power": 0.0, "voltage": volts, "current": 0.0, "total": 1.0})
    assert (emeter.check(r, EU) == []) is ok


def test_a_total_that_runs_backwards_is_a_counter_reset_not_a_flag():
    before = emeter.normalise({"power": 5.0, "voltage": 230.0, "current": 0.05, "total": 12.5})
    after = emeter.normalise({"power": 5.0, "voltage": 230.0, "current": 0.05, "total": 0.001})
    assert emeter.counter_reset(before.total_kwh, after.total_kwh)
    assert not emeter.counter_reset(before.total_kwh, before.total_kwh)
    assert not emeter.counter_reset(None, after.total_kwh)
    assert emeter.check(after, EU) == []


def test_reading_json_has_the_documented_fields():
    data = emeter.reading_json(emeter.normalise(V2_PLUG), [])
    assert {"power_w", "voltage_v", "current_a", "total_kwh", "plausible", "flags"} <= set(data)
    assert data["plausible"] is True and data["flags"] == []
    assert data["total_kwh"] == 12.17


def test_statistics_entries_in_both_units():
    old = {"day_list": [{"year": 2026, "month": 11, "day": 3, "energy": 0.412}]}
    new = {
        "month_list": [
            {"year": 2026, "month": 10, "energy_wh": 1250},
            {"year": 2026, "month": 11, "energy_wh": "x"},
            "junk",
        ]
    }
    assert emeter.energy_entries(old, "day_list") == [
        ({"year": 2026, "month": 11, "day": 3}, 0.412)
    ]
    assert emeter.energy_entries(new, "month_list") == [({"year": 2026, "month": 10}, 1.25)]
    with pytest.raises(ProtocolError):
        emeter.energy_entries({}, "day_list")


# -- the watch's bookkeeping ------------------------------------------------------------------
def _sample(meter: Meter, t: float, watts: float, total: float = 1.0) -> Sample:
    reading = emeter.normalise(
        {"power": watts, "voltage": 230.0, "current": watts / 230, "total": total}
    )
    flags, reset = meter.judge(reading)
    sample = Sample(t, 0, meter, reading, flags, reset)
    meter.record(sample)
    return sample


def test_figures_integrate_energy_and_keep_flagged_readings_out():
    meter = Meter(Target("127.30.9.1"), max_gap=4000.0)
    meter.rating = EU
    _sample(meter, 0.0, 100.0)
    _sample(meter, 1800.0, 300.0)  # half an hour later
    bogus = _sample(meter, 1900.0, 28_000.0)
    _sample(meter, 3600.0, 100.0)
    assert bogus.flags
    s = meter.summary()
    assert s["samples"] == 3 and s["flagged"] == 1
    assert (s["min_w"], s["max_w"]) == (100.0, 300.0)
    assert math.isclose(s["avg_w"], 500 / 3, rel_tol=1e-4)
    # trapezoids: (100+300)/2 W for 0.5 h + (300+100)/2 W for 0.5 h, the bogus point skipped
    assert math.isclose(s["energy_wh"], 200.0, rel_tol=1e-6)


def test_a_long_gap_is_not_integrated_and_a_reset_is_counted():
    meter = Meter(Target("127.30.9.2"), max_gap=60.0)
    meter.rating = EU
    _sample(meter, 0.0, 100.0, total=5.0)
    _sample(meter, 10.0, 100.0, total=5.1)
    _sample(meter, 1000.0, 100.0, total=0.0)  # after a power cut
    s = meter.summary()
    assert math.isclose(s["energy_wh"], 100 * 10 / 3600, rel_tol=1e-3)
    assert s["counter_resets"] == 1 and s["flagged"] == 0


def test_history_is_bounded():
    meter = Meter(Target("127.30.9.3"))
    for i in range(10_000):
        _sample(meter, float(i), 50.0 + i % 7)
    assert len(meter.history) == meter.history.maxlen


def test_backoff_grows_and_is_capped():
    delays = [backoff(n, 1.0) for n in range(1, 12)]
    assert delays[:3] == [1.0, 2.0, 4.0]
    assert max(delays) == 30.0
    assert backoff(1, 0.0) == 0.5  # --interval 0 still leaves a failing plug alone a moment


def test_sparkline_scales_and_marks_gaps_and_flags():
    line = sparkline([0.0, 50.0, 100.0, None, "!", 100.0])
    assert line == "▁▅█·!█"
    assert sparkline([7.0, 7.0, 7.0]) == "███"  # from zero: a steady load is a level top
    # a router at 9.6-9.8 W: noise stays noise, the bars all near the top (they were 1 to 8)
    router = sparkline([9.6, 9.8, 9.7, 9.6, 9.8])
    assert set(router) <= {"▇", "█"}, router
    assert sparkline([0.0, 0.0]) == "▁▁"


def test_writers_put_every_sample_with_its_time(tmp_path):
    meter = Meter(Target("127.30.9.4"))
    meter.rating = EU
    good = _sample(meter, 1_800_000_000.0, 42.0)
    bad = _sample(meter, 1_800_000_001.0, 28_000.0)
    offline = Sample(1_800_000_002.0, 2, meter, error=ProtocolError("garbled"))
    for name in ("s.csv", "s.jsonl"):
        writer = SampleWriter(tmp_path / name)
        for sample in (good, bad, offline):
            writer.write(sample)
        writer.close()
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok", "offline"]
    assert rows[0]["time"].startswith("2027-01-15T08:00:00") and rows[0]["power_w"] == "42.0"
    assert rows[1]["plausible"] == "False" and "rating" in rows[1]["flags"]
    assert rows[2]["error"] == "garbled" and rows[2]["power_w"] == ""
    lines = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [x["t"] for x in lines] == [1_800_000_000.0, 1_800_000_001.0, 1_800_000_002.0]
    assert lines[1]["plausible"] is False and lines[2]["status"] == "offline"
    # appending keeps one header
    writer = SampleWriter(tmp_path / "s.csv")
    writer.write(good)
    writer.close()
    assert (tmp_path / "s.csv").read_text().count("time,t,round") == 1


def test_writer_refuses_other_formats(tmp_path):
    from kshell.errors import UsageError

    with pytest.raises(UsageError, match=".csv or .jsonl"):
        SampleWriter(tmp_path / "s.txt")


def test_the_other_module_name_is_asked_when_emeter_is_not_supported():
    import asyncio

    from kshell.device.capabilities.meter import IotMeter
    from kshell.errors import DeviceError

    class Plug:  # answers only under the bulbs' module name, like some firmware
        def __init__(self) -> None:
            self.asked: list[str] = []

        async def query(self, module, method, params=None, *, child_id=None, idempotent=False):
            self.asked.append(module)
            if module == "emeter":
                raise DeviceError(module, method, -1, "module not support")
            return {"power_mw": 4200, "err_code": 0}

    plug = Plug()
    meter = IotMeter(plug)  # type: ignore[arg-type]
    first = asyncio.run(meter.read())
    second = asyncio.run(meter.read())  # the name that worked is remembered
    assert plug.asked == ["emeter", "smartlife.iot.common.emeter", "smartlife.iot.common.emeter"]
    assert first.power_w == second.power_w == 4.2


def test_the_live_frame_marks_flagged_and_offline_rows():
    import io
    from types import SimpleNamespace

    from kshell.ui.views.meters import LiveView

    ok, bad, gone = (Meter(Target(f"127.30.9.{n}")) for n in (5, 6, 7))
    for meter in (ok, bad):
        meter.rating = US
    _sample(ok, 1.0, 60.0)
    _sample(bad, 1.0, 60.0)
    _sample(bad, 2.0, 28_000.0)
    gone.record(Sample(3.0, 0, gone, error=ProtocolError("connection refused")))
    bad.label = "Kettle\x1b[2J"  # what a plug calls itself reaches the terminal escaped
    watch = SimpleNamespace(
        meters=[ok, bad, gone], interval=1.0, schedule=None, elapsed=lambda: 75.0
    )
    out = io.StringIO()
    view = LiveView(out)
    lines = view.frame(watch, 160, 40)  # type: ignore[arg-type]
    assert lines[0].startswith("emeter watch: 3 meters, every 1 s; 0:01:15")
    assert "recent power" in lines[1]
    assert "  60.0 " in lines[2] and "flagged" not in lines[2]
    assert "28000.0!" in lines[3] and "1 flagged, last: power 28,000 W above" in lines[3]
    assert "\x1b[2J" not in lines[3] and "\\x1b[2J" in lines[3]
    assert "offline" in lines[4] and "connection refused" in lines[4] and lines[4].count("·") == 1
    # the house now: plausible readings only (the 28 kW one is left out)
    assert lines[5].startswith("total") and "60.0  (1 of 3 meters answering)" in lines[5]
    small = view.frame(watch, 160, 5)  # a short terminal: rows are cut, the summary has all
    assert small[-1].startswith("… 2 more meters (of 3)")
    view.draw(watch)  # type: ignore[arg-type]
    view.draw(watch)  # type: ignore[arg-type]
    assert out.getvalue().count(f"\x1b[{len(lines)}F") == 1  # the second frame went back up
