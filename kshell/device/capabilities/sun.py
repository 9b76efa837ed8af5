"""When the sun rises and sets at a plug's place: what a sunrise/sunset rule means today.

NOAA's general solar position equations (fractional year, equation of time, declination,
the hour angle at a zenith of 90.833 degrees: refraction and the sun's radius), good to a
minute or two away from the poles; a plug keeps its own tables, so this only says when.
"""

from __future__ import annotations

import datetime as dt
import math

ZENITH = math.radians(90.833)


def sun_event_utc(day: dt.date, latitude: float, longitude: float, rising: bool) -> float | None:
    """Minutes after UTC midnight of ``day`` when the sun rises (or sets) at the place;
    None where it does not that day (polar day or night)."""
    gamma = 2 * math.pi / 365 * (day.timetuple().tm_yday - 1)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    lat = math.radians(latitude)
    cos_ha = math.cos(ZENITH) / (math.cos(lat) * math.cos(decl)) - math.tan(lat) * math.tan(decl)
    if not -1 <= cos_ha <= 1:
        return None
    ha = math.degrees(math.acos(cos_ha))
    return 720 - 4 * (longitude + (ha if rising else -ha)) - eqtime
