"""Load profiles and the energy meter of a simulated socket.

A profile is a deterministic function of time (what the appliance draws while the relay is on),
so the integrated ``total`` agrees with the readings; noise is added to each reading only. Past
days are synthesised from the profile's typical daily use, so ``get_daystat`` and
``get_monthstat`` look like a plug that has been in service for months.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import date, datetime

TAU = 2 * math.pi
PROFILES = (
    "fridge",
    "freezer",
    "heater",
    "kettle",
    "lamp",
    "media",
    "computer",
    "charger",
    "router",
    "idle",
)
_STEP_S = 10.0  # integration step: short enough for a 3-minute kettle boil
_MAX_STEPS = 8640  # a day of steps; longer gaps use the profile's mean power
_BOGUS_W = 28_000.0  # what an HS110 on firmware 1.1.1 was seen reporting


def _unit(seed: int, *parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for (seed, parts)."""
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class LoadProfile:
    """What one appliance draws, in watts, while its socket is switched on."""

    def __init__(self, name: str, seed: int, nominal_v: float) -> None:
        if name not in PROFILES:
            raise ValueError(f"unknown load profile {name!r}; known: {', '.join(PROFILES)}")
        self.name = name
        rng = random.Random(seed)
        us = nominal_v < 200  # US kettles and heaters are built for 15 A at 120 V
        self.phase = rng.uniform(0, 10_000)
        self.pf = 1.0
        self.daily_hours = 24.0
        self.seasonal = False
        if name in ("fridge", "freezer"):
            big = name == "freezer"
            self.on_w = rng.uniform(140, 170) if big else rng.uniform(85, 120)
            self.period = rng.uniform(3000, 3600) if big else rng.uniform(2400, 3300)
            self.duty = rng.uniform(0.45, 0.55) if big else rng.uniform(0.35, 0.45)
            self.off_w = 1.6  # interior light / control board
            self.pf = 0.75
            self.mean_w = self.on_w * self.duty + self.off_w * (1 - self.duty)
        elif name == "heater":
            self.on_w = (1500.0 if us else 2000.0) * rng.uniform(0.95, 1.02)
            self.period = rng.uniform(600, 1000)
            self.duty = rng.uniform(0.5, 0.65)
            self.off_w = 0.6
            self.seasonal = True
            self.daily_hours = 6.0
            self.mean_w = self.on_w * self.duty
        elif name == "kettle":
            self.on_w = (1400.0 if us else 2200.0) * rng.uniform(0.97, 1.03)
            self.period = rng.uniform(1500, 2400)
            self.boil = rng.uniform(150, 210)
            self.daily_hours = 2.0  # history: a few boils a day, not the demo's busy kitchen
            self.mean_w = self.on_w * self.boil / self.period
        elif name == "lamp":
            self.on_w = rng.choice((8.5, 9.5, 42.0, 60.0))
            self.pf = 0.55 if self.on_w < 20 else 1.0  # LED driver vs filament
            self.daily_hours = 5.0
            self.mean_w = self.on_w
        elif name == "media":
            self.on_w = rng.uniform(80, 110)
            self.pf = 0.9
            self.daily_hours = 5.0
            self.mean_w = self.on_w
        elif name == "computer":
            self.on_w = rng.uniform(90, 140)
            self.pf = 0.95
            self.daily_hours = 8.0
            self.mean_w = self.on_w
        elif name == "charger":
            self.on_w = rng.uniform(18, 30)
            self.period = 7200.0
            self.pf = 0.6
            self.daily_hours = 4.0
            self.mean_w = self.on_w * 1800 / self.period + 2.0
        elif name == "router":
            self.on_w = rng.uniform(7, 12)
            self.pf = 0.5
            self.mean_w = self.on_w
        else:  # idle: nothing plugged in
            self.on_w = 0.0
            self.daily_hours = 0.0
            self.mean_w = 0.0

    def power(self, t: float) -> float:
        """Watts drawn at wall-clock time ``t`` with the relay on (no noise)."""
        x = t + self.phase
        name = self.name
        if name in ("fridge", "freezer", "heater"):
            pos = x % self.period
            if pos < self.duty * self.period:
                surge = 250.0 if name != "heater" and pos < 6 else 0.0  # compressor start
                return self.on_w * (1 + 0.03 * math.sin(TAU * x / 180)) + surge
            return self.off_w
        if name == "kettle":
            return self.on_w if x % self.period < self.boil else 0.0
        if name == "lamp":
            return self.on_w * (1 + 0.004 * math.sin(TAU * x / 60))
        if name == "media":
            return (
                self.on_w + 0.18 * self.on_w * math.sin(TAU * x / 600) + 5 * math.sin(TAU * x / 47)
            )
        if name == "computer":
            load = 0.4 * math.sin(TAU * x / 300) + 0.2 * math.sin(TAU * x / 37)
            return max(40.0, self.on_w * (1 + load))
        if name == "charger":
            return self.on_w * math.exp(-(x % self.period) / 1800) + 2.0
        return self.on_w

    def day_factor(self, day: date) -> float:
        """Hours per day this appliance typically runs; heaters follow the season."""
        if not self.seasonal:
            return self.daily_hours
        return {11: 7.0, 12: 9.0, 1: 9.0, 2: 8.0, 3: 5.0, 4: 2.5, 10: 2.5}.get(day.month, 0.3)


@dataclass(frozen=True)
class Reading:
    power_w: float
    voltage_v: float
    current_a: float
    total_wh: float

    def as_v1(self) -> dict[str, float | int]:
        """Old schema (HS110 hardware 1): W, V, A and kWh as floats."""
        return {
            "current": round(self.current_a, 6),
            "voltage": round(self.voltage_v, 6),
            "power": round(self.power_w, 6),
            "total": round(self.total_wh / 1000, 3),
            "err_code": 0,
        }

    def as_v2(self) -> dict[str, float | int]:
        """New schema (HS110 2.x, KP115, HS300): integers in mV, mA, mW and Wh."""
        return {
            "voltage_mv": int(self.voltage_v * 1000),
            "current_ma": int(self.current_a * 1000),
            "power_mw": int(self.power_w * 1000),
            "total_wh": int(self.total_wh),
            "err_code": 0,
        }


def local_day(t: float) -> date:
    return datetime.fromtimestamp(t).date()


class EnergyMeter:
    """Integrates a profile over time; keeps per-day totals and the since-boot ``total``."""

    def __init__(
        self,
        profile: LoadProfile,
        *,
        seed: int,
        nominal_v: float,
        rated_w: float,
        now: float,
        on: bool,
        uptime_s: float,
    ) -> None:
        self.profile = profile
        self.seed = seed
        self.nominal_v = nominal_v
        self.rated_w = rated_w
        self._rng = random.Random(seed ^ 0x5EED)
        self._vphase = self._rng.uniform(0, TAU)
        self._t = now
        self._on = on
        self._p = profile.power(now) if on else 0.0
        self._live_wh: dict[date, float] = {}
        self._live_on_s: dict[date, float] = {}
        self.start_day = local_day(now)
        self.history_start = date.fromordinal(
            self.start_day.toordinal() - 30 - int(_unit(seed, "installed") * 400)
        )
        midnight = datetime.combine(self.start_day, datetime.min.time()).timestamp()
        self._prestart_fraction = min(1.0, max(0.0, (now - midnight) / 86400))
        self.erased_on: date | None = None
        self._synth_cache: dict[date, float] = {}
        # the plug booted a while ago: its since-boot total is already under way
        uptime_h = uptime_s / 3600
        self.total_wh = profile.mean_w * uptime_h * profile.day_factor(self.start_day) / 24

    # -- integration -------------------------------------------------------------------
    def advance(self, now: float, on: bool) -> None:
        """Account for the time since the last call; ``on`` is the state from now on."""
        dt = now - self._t
        if dt > 0 and self._on:
            if dt > _STEP_S * _MAX_STEPS:
                wh = self.profile.mean_w * dt / 3600
            else:
                wh, t, p = 0.0, self._t, self._p
                while t < now:
                    step = min(_STEP_S, now - t)
                    t += step
                    p2 = min(self.profile.power(t), self.rated_w)
                    wh += (p + p2) / 2 * step / 3600
                    p = p2
            day = local_day(now)
            self.total_wh += wh
            self._live_wh[day] = self._live_wh.get(day, 0.0) + wh
            self._live_on_s[day] = self._live_on_s.get(day, 0.0) + dt
        if dt > 0 or on != self._on:
            self._t = max(now, self._t)
            self._on = on
            self._p = min(self.profile.power(self._t), self.rated_w) if on else 0.0

    def voltage(self, t: float) -> float:
        amp = 0.012 * self.nominal_v
        slow = amp * math.sin(TAU * t / 5400 + self._vphase)
        fast = 0.3 * amp * math.sin(TAU * t / 97 + 2 * self._vphase)
        return self.nominal_v + slow + fast + self._rng.gauss(0, 0.0006 * self.nominal_v)

    def reading(self, now: float, on: bool, *, bogus: bool = False) -> Reading:
        self.advance(now, on)
        volts = self.voltage(now)
        if on:
            watts = min(self.profile.power(now), self.rated_w)
            watts = max(0.0, watts * (1 + self._rng.gauss(0, 0.004)))
        else:
            watts = 0.0
        amps = watts / (volts * self.profile.pf) if watts > 0 else 0.0
        if bogus:  # the firmware bug: absurd power, the rest of the answer looks normal
            watts = _BOGUS_W + self._rng.uniform(0, 900)
        return Reading(watts, volts, amps, self.total_wh)

    # -- history -----------------------------------------------------------------------
    def _synth_wh(self, day: date) -> float:
        wh = self._synth_cache.get(day)
        if wh is None:
            variation = 0.7 + 0.6 * _unit(self.seed, "day", day.toordinal())
            wh = self._synth_cache[day] = (
                self.profile.mean_w * self.profile.day_factor(day) * variation
            )
        return wh

    def day_wh(self, day: date, today: date) -> float | None:
        """Energy of one local day in Wh, or None when the meter holds no record for it."""
        if day > today or day < self.history_start:
            return None
        if self.erased_on is not None and day < self.erased_on:
            return None
        wh = self._live_wh.get(day, 0.0)
        if self.erased_on is None:
            if day < self.start_day:
                wh += self._synth_wh(day)
            elif day == self.start_day:
                wh += self._synth_wh(day) * self._prestart_fraction
        return wh

    def day_minutes(self, day: date, today: date) -> int | None:
        """Minutes the socket was on during one day (the ``schedule`` runtime statistics)."""
        if day > today or day < self.history_start:
            return None
        live = self._live_on_s.get(day, 0.0) / 60
        if day < self.start_day:
            hours = self.profile.day_factor(day) or 24.0 * _unit(self.seed, "rt", day)
            variation = 0.7 + 0.6 * _unit(self.seed, "day", day.toordinal())
            live += min(1440.0, hours * 60 * variation)
        return int(live)

    def erase(self, now: float) -> None:
        """``erase_emeter_stat``: drop the daily history and restart ``total``."""
        self.advance(now, self._on)
        self.erased_on = local_day(now)
        self._live_wh.clear()
        self.total_wh = 0.0

    def reboot(self, now: float, on: bool) -> None:
        """A reboot or power cut restarts the since-boot ``total``; history survives."""
        self.advance(now, on)
        self.total_wh = 0.0
