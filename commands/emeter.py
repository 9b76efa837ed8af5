"""The energy meter: a reading, a live watch, daily and monthly statistics, erase.

Readings are normalised from both wire schemas and judged against the model's rating;
an implausible reading is shown and marked, never dropped. ``erase`` reads the
statistics back, because some firmware answers success and erases nothing.
"""

from __future__ import annotations

import calendar
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kshell.core.session import Session
from kshell.core.target import Target
from kshell.core.targets import for_each, refresh_meter, resolve_all, resolve_capable
from kshell.errors import DeviceError, KshellError, Refused, UnsupportedDevice, UsageError
from kshell.lang.args import Args
from kshell.lang.registry import Arg, ByMail, Opt, command
from kshell.results import Failure, Result, Table, Text

if TYPE_CHECKING:
    from kshell.device.device import Device
    from kshell.device.state import Info

TARGET = Arg(
    "target",
    "target",
    "plug alias, host[:port], MAC, or alias/N for a strip outlet",
    needs=("meter",),
)
METERED = Arg(
    "targets",
    "targets",
    "plugs with a meter: alias, host[:port], MAC, all, or alias/N",
    needs=("meter",),
)
WATCHED = Arg(
    "targets",
    "targets",
    "plugs to watch (default: the one in use, else all)",
    optional=True,
    needs=("meter",),
)
MAX_COUNT = 10_000_000
MAIL_MAX_S = 60.0  # a watch asked for by mail: its mail time limit, where it ends by itself


# -- emeter TARGET ----------------------------------------------------------------------------
@command(
    "emeter",
    args=(METERED,),
    permission="read",
    examples=("emeter Kettle", "emeter 'Media Strip/2'", "emeter all"),
    by_mail=ByMail.YES,
)
async def emeter_now(session: Session, args: Args) -> list[Result]:
    """One reading: power, voltage, current and total, checked for plausibility.

    Both meter schemas (W/V/A/kWh on older HS110 firmware, mW/mV/mA/Wh on newer devices)
    come out in W, V, A and kWh. A strip shows each outlet. Implausible readings (above the
    model's rating, negative, voltage outside 90-270 V) are shown with the reasons.
    """
    from kshell.device import meter_rules as emeter

    async def one(target: Target) -> Result:
        device = await refresh_meter(session, target)
        state = device.state
        rating = emeter.rating_for(state.model)
        names = {c.id: c.alias for c in state.children}
        readings = [
            await _reading(session, device, t, state.model, rating, names.get(t.child_id or ""))
            for t in _outlets(target, state)
        ]
        if len(readings) == 1:
            return readings[0]
        return _strip_reading(target, state.model, rating, readings)

    targets, skipped = resolve_capable(session, args.targets, METERED.needs)
    several = any(w.lower() == "all" for w in args.targets)  # the house: `emeter all`
    results = await for_each(session, targets, lambda t: _with_days(session, t, one))
    if several:  # the house at once: one table, today's and this month's energy, a total
        results = [_house_table(results), *(r for r in results if isinstance(r, Failure))]
    return results + [skipped] if skipped else results


async def _with_days(
    session: Session, target: Target, read: Callable[[Target], Awaitable[Result]]
) -> Result:
    """The reading, with today's and this month's kWh from the plug's day statistics (a
    plug whose statistics do not answer still gives its reading)."""
    result = await read(target)
    if not isinstance(result, Text) or result.data is None:
        return result
    device = target.device(session)  # read just now by ``read``: its state is fresh
    today = date.today()
    parts = result.data.get("outlets") or [result.data]
    for part in parts:
        child = _child_of(target, device.state, part)
        try:
            days = await device.meter.days(today.year, today.month, child)
        except KshellError:
            continue
        part["today_kwh"] = round(sum(e.kwh for e in days if e.day == today.day), 4)
        part["month_kwh"] = round(sum(e.kwh for e in days), 4)
    return result


def _child_of(target: Target, state: Info, part: dict[str, Any]) -> str | None:
    if target.child_id is not None or not state.children:
        return target.child_id
    number = part.get("outlet")
    return next((c.id for c in state.children if c.number == number), None)


HOUSE_HEADERS = ["target", "W", "V", "A", "today kWh", "month kWh", "total kWh", "flags"]


def _house_table(results: list[Result]) -> Table:
    """Every meter one row (a strip: each outlet), then the house's total."""
    rows: list[list[Any]] = []
    meters: list[dict[str, Any]] = []
    for result in results:
        if not isinstance(result, Text) or result.data is None:
            continue
        for part in result.data.get("outlets") or [result.data]:
            meters.append(part)
            name = f"{part['target']} ({part['alias']})" if part.get("alias") else part["target"]
            rows.append(
                [
                    name,
                    _v(part.get("power_w"), 1),
                    _v(part.get("voltage_v"), 1),
                    _v(part.get("current_a"), 3),
                    _v(part.get("today_kwh"), 3),
                    _v(part.get("month_kwh"), 3),
                    _v(part.get("total_kwh"), 3),
                    "IMPLAUSIBLE: " + "; ".join(part["flags"]) if part.get("flags") else "",
                ]
            )
    plausible = [m for m in meters if m.get("plausible", True)]  # a 28 kW reading is no sum

    def total(key: str) -> float | None:
        values = [m[key] for m in plausible if isinstance(m.get(key), (int, float))]
        return round(sum(values), 4) if values else None

    house = {k: total(k) for k in ("power_w", "current_a", "today_kwh", "month_kwh", "total_kwh")}
    if meters:
        rows.append(
            [
                f"total ({len(meters)} meters)",
                _v(house["power_w"], 1),
                "",
                _v(house["current_a"], 3),
                _v(house["today_kwh"], 3),
                _v(house["month_kwh"], 3),
                _v(house["total_kwh"], 3),
                f"{len(meters) - len(plausible)} implausible left out"
                if len(plausible) < len(meters)
                else "",
            ]
        )
    data = {"meters": meters, "total": house}
    return Table(HOUSE_HEADERS, rows, data, numbers=(1, 2, 3, 4, 5, 6))


def _outlets(target: Target, state: Info) -> list[Target]:
    """A whole strip means each of its outlets; anything else means itself."""
    if not state.children or target.child_id is not None:
        return [target]
    return [Target(target.host, target.port, target.record, c.id, c.number) for c in state.children]


def _strip_reading(target: Target, model: str, rating: Any, readings: list[Text]) -> Text:
    """Each outlet by name, then the strip's total, judged against the strip's rating."""
    from kshell.device import meter_rules as emeter

    parts = [r.data or {} for r in readings]

    def total(key: str) -> float | None:
        values = [p[key] for p in parts if isinstance(p.get(key), (int, float))]
        return sum(values) if values else None

    volts = [p["voltage_v"] for p in parts if isinstance(p.get("voltage_v"), (int, float))]
    summed = emeter.Reading(
        total("power_w"),
        sum(volts) / len(volts) if volts else None,
        total("current_a"),
        total("total_kwh"),
        "sum",
        {},
    )
    found = emeter.check(summed, rating)
    line = (
        f"{target.label} ({target.address}, {model}), {len(parts)} outlets: total "
        f"{_v(summed.power_w, 1)} W  {_v(summed.current_a, 3)} A  "
        f"total {_v(summed.total_kwh, 3)} kWh"
    )
    if found:
        line += "\n  IMPLAUSIBLE: " + "; ".join(found)
    data = {
        "target": target.label,
        "host": target.address,
        "model": model,
        "outlets": parts,
        "total": {
            "power_w": summed.power_w,
            "current_a": summed.current_a,
            "total_kwh": summed.total_kwh,
            "plausible": not found,
            "flags": found,
        },
    }
    return Text("\n".join([*(r.text for r in readings), line]), data)


async def _reading(
    session: Session,
    device: Device,
    target: Target,
    model: str,
    rating: Any,
    name: str | None = None,
) -> Text:
    from kshell.device import meter_rules as emeter

    reading = await device.meter.read(target.child_id)
    answer = reading.raw
    flags = emeter.check(reading, rating)
    totals = session.readings.total_kwh
    reset = emeter.counter_reset(totals.get(target.label), reading.total_kwh)
    if reading.total_kwh is not None:
        totals[target.label] = reading.total_kwh
    session.readings.power_w[target.label] = reading.power_w
    data = {
        "target": target.label,
        "host": target.address,
        "outlet": target.outlet,
        "alias": name,
        "model": model,
        **emeter.reading_json(reading, flags),
        "counter_reset": reset,
        "raw": answer,
    }
    named = f"{target.label} {name!r}" if name else target.label
    line = (
        f"{named} ({target.address}, {model}): {_v(reading.power_w, 1)} W  "
        f"{_v(reading.voltage_v, 1)} V  {_v(reading.current_a, 3)} A  "
        f"total {_v(reading.total_kwh, 3)} kWh"
    )
    if reset:
        line += "  (total went backwards since the last reading: counter reset)"
    if flags:
        line += "\n  IMPLAUSIBLE: " + "; ".join(flags)
    return Text(line, data)


def _v(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


# -- emeter watch -----------------------------------------------------------------------------
@command(
    "emeter watch",
    args=(WATCHED,),
    options=(
        Opt("--interval", "float", "seconds between rounds (default 1; 0: as fast as they answer)"),
        Opt("--count", "int", "stop after N polling rounds"),
        Opt("--duration", "float", "stop after S seconds"),
        Opt(
            "--out",
            "file",
            "also write every sample to FILE (.csv, .jsonl, .lp), appended, "
            "or to influx://HOST:PORT/DATABASE",
        ),
    ),
    permission="read",
    examples=(
        "emeter watch all",
        "emeter watch Kettle Fridge --interval 2",
        "emeter watch all --count 10 --out power.csv",
        "emeter watch all --out influx://127.0.0.1:8086/kasa",
        "emeter watch 'Media Strip'",
    ),
    long_running=True,
    by_mail=ByMail.YES,  # --out is a file: the gate refuses it by mail
    mail_time_limit=MAIL_MAX_S,
)
async def watch(session: Session, args: Args) -> Any:
    """Live power readings: one row per plug (per outlet for a strip), redrawn in place.

    Rows show W, V, A, min/avg/max, a sparkline of recent power and flags; a plug that
    fails shows 'offline' and is retried while the others go on. Ctrl-C stops and prints a
    summary (samples, min/avg/max W, energy in Wh integrated over the window; flagged
    readings are counted but kept out of those figures). Without a terminal, or with
    --json, one line per sample, then the summary (in JSON: a last line {"summary": ...});
    a failed attempt is an error line on stderr. --count counts rounds; plugs are asked
    one request at a time each, and one that fails is left alone a while (up to 30 s).
    By mail a watch stops after 60 s at most, cannot write files, and takes the
    [remote] floor and cap (mail_min_interval between rounds, mail_max_samples rounds).
    """
    from kshell.store.config import number
    from kshell.work.watch import Watch

    interval = (
        args.interval if args.interval is not None else number(session.config, "emeter", "interval")
    )
    if interval < 0 or interval > 86_400:
        raise UsageError("emeter watch: --interval must be 0-86400 seconds")
    if args.count is not None and not 1 <= args.count <= MAX_COUNT:
        raise UsageError("emeter watch: --count must be at least 1")
    if args.duration is not None and args.duration <= 0:
        raise UsageError("emeter watch: --duration must be more than 0 seconds")
    out = _watch_out(args.out) if args.out else None
    duration, count = args.duration, args.count
    rules = session.invocation.mail
    if rules is not None:  # end by itself, with a summary, before the gate stops it
        duration = min(duration or MAIL_MAX_S, MAIL_MAX_S)
        # a floor and a cap: `--interval 0` by mail must not fill the reply and the memory
        interval = max(interval, rules.min_interval)
        count = min(count or rules.max_samples, rules.max_samples)
    words = args.targets or ([session.current] if session.current else ["all"])
    # `all` means every plug that has a meter (the Arg's needs); named plugs are tried regardless
    targets, skipped = resolve_capable(session, words, WATCHED.needs)
    if not targets:
        raise UsageError("emeter watch: no known plug has an energy meter (run discover)")
    notes = (skipped,) if skipped else ()
    return Watch(
        session,
        targets,
        interval=interval,
        count=count,
        duration=duration,
        out=out,
        notes=notes,
    )


def _watch_out(out: str) -> Path | str:
    """A file for the CSV/JSON writer, or line protocol (a .lp file, InfluxDB) as a str."""
    if out.startswith("influx://"):
        from kshell.work.metrics.influx import parse_url

        parse_url(out)  # a malformed URL is a usage error now, not when the watch starts
        return out
    from kshell.work.rowfile import RowFile
    from kshell.work.watch.sinks import check_sample_path

    path = Path(out).expanduser()
    if not out.lower().endswith(".lp"):
        check_sample_path(path)
    RowFile.check(path)  # a path that cannot be written is refused before any plug is asked
    return str(path) if out.lower().endswith(".lp") else path


# -- statistics -------------------------------------------------------------------------------
async def _meter_target(session: Session, word: str) -> tuple[Target, Device]:
    """The one target of a statistics command, read afresh: it must have a meter."""
    targets = resolve_all(session, [word])
    if len(targets) != 1:
        raise UsageError(f"name one plug, not {len(targets)}")
    target = targets[0]
    return target, await refresh_meter(session, target)


@command(
    "emeter day",
    args=(
        TARGET,
        Arg("year", "int", "year (default: this one)", optional=True),
        Arg("month", "int", "month 1-12 (default: this one)", optional=True),
    ),
    permission="read",
    examples=("emeter day Kettle", "emeter day Kettle 2026 10"),
    by_mail=ByMail.YES,
)
async def day(session: Session, args: Args) -> Result:
    """Energy per day of a month, as a table with a bar chart and the total.

    A strip shows each outlet by name and the strip's sum. A day above what the plug's
    rating allows in 24 hours (or below zero) is shown and flagged as implausible.
    """
    from kshell.work import energy as stats

    today = date.today()
    if (args.year is None) != (args.month is None):
        raise UsageError("emeter day: give both YEAR and MONTH, or neither")
    year, month = (args.year, args.month) if args.year is not None else (today.year, today.month)
    _check_year(year)
    if not 1 <= month <= 12:
        raise UsageError("emeter day: MONTH must be 1-12")
    target, device = await _meter_target(session, args.target)
    series = await stats.series(target, device, year, month)
    return stats.judged(
        target,
        device.state,
        series,
        key="day",
        labels={d: f"{year}-{month:02d}-{d:02d}" for d in range(1, 32)},
        hours=24,
        title=f"{target.label}: energy per day, {calendar.month_name[month]} {year}",
        extra={"year": year, "month": month},
    )


@command(
    "emeter month",
    args=(TARGET, Arg("year", "int", "year (default: this one)", optional=True)),
    permission="read",
    examples=("emeter month Kettle", "emeter month Kettle 2025"),
    by_mail=ByMail.YES,
)
async def month(session: Session, args: Args) -> Result:
    """Energy per month of a year, as a table with a bar chart and the total.

    A strip shows each outlet by name and the strip's sum; a month above what the plug's
    rating allows in that many days is flagged as implausible.
    """
    from kshell.work import energy as stats

    year = args.year if args.year is not None else date.today().year
    _check_year(year)
    target, device = await _meter_target(session, args.target)
    series = await stats.series(target, device, year)
    for one in series:  # a month number outside 1-12 is no month
        one.values = {m: v for m, v in one.values.items() if 1 <= m <= 12}
    return stats.judged(
        target,
        device.state,
        series,
        key="month",
        labels={m: f"{calendar.month_abbr[m]} {year}" for m in range(1, 13)},
        hours=24 * 31,
        title=f"{target.label}: energy per month, {year}",
        extra={"year": year},
    )


def _check_year(year: int) -> None:
    if not 2000 <= year <= 2099:
        raise UsageError("emeter: YEAR must be 2000-2099")


ERASED_KWH = 0.002  # what a just-erased month may already hold again (a minute of a kettle)


@command(
    "emeter erase",
    args=(TARGET,),
    permission="admin",
    confirm="inline",  # asks once the plug is known to be able to: a refusal comes first
    examples=("emeter erase Kettle --yes",),
    by_mail=ByMail.YES,
)
async def erase(session: Session, args: Args) -> Result:
    """Erase a plug's energy statistics (days, months, total), then read back to check.

    Some firmware answers success and erases nothing: the read-back says so.
    """
    target, device = await _meter_target(session, args.target)
    named = target.label if target.label == target.address else f"{target.label} ({target.address})"
    if device.state.children and target.child_id is None:
        raise UsageError(f"{target.label} is a strip: name an outlet, e.g. {target.label}/1")
    why_not = device.meter.cannot_erase()
    if why_not is not None:
        raise UnsupportedDevice(why_not, target=named)
    if not (args.yes or session.assume_yes):
        if session.ask is None:
            raise Refused("this command asks before acting and nobody can answer here: add --yes")
        if not await session.ask(f"erase the energy statistics of {named}?"):
            return Text("cancelled", {"cancelled": True})
    today = date.today()
    before = await _month_kwh(device, target, today)
    await device.meter.erase(target.child_id)
    after = await _month_kwh(device, target, today)
    data = {
        "target": target.label,
        "host": target.address,
        "month_kwh_before": round(before, 4),
        "month_kwh_after": round(after, 4),
    }
    if after > ERASED_KWH and after >= before * 0.5:
        raise KshellError(
            f"the plug answered success but still reports {after:.3f} kWh this month "
            f"({before:.3f} before): its firmware did not erase the statistics",
            target=target.label,
        )
    if before <= ERASED_KWH:
        return Text(
            f"{target.label}: erased (there was nothing recorded this month; read back: empty)",
            {**data, "erased": True, "verified": False},
        )
    return Text(
        f"{target.label}: erased; read back {after:.3f} kWh this month (was {before:.3f})",
        {**data, "erased": True, "verified": True},
    )


async def _month_kwh(device: Device, target: Target, today: date) -> float:
    try:
        days = await device.meter.days(today.year, today.month, target.child_id)
    except DeviceError as exc:
        raise KshellError(f"cannot read the statistics back: {exc.message}") from None
    return sum(e.kwh for e in days)
