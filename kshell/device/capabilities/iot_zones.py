"""The IOT family's time zones: ``time.set_timezone`` takes an index into this table.

Facts from python-kasa's ``iot/iottimezone.py`` (the firmware's zone list, indices 0-109).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import zoneinfo

ZONES: tuple[str, ...] = (
    "Etc/GMT+12",
    "Pacific/Samoa",
    "US/Hawaii",
    "US/Alaska",  # 0
    "Mexico/BajaNorte",
    "Etc/GMT+8",
    "PST8PDT",
    "US/Arizona",  # 4
    "America/Mazatlan",
    "MST",
    "MST7MDT",
    "Mexico/General",  # 8
    "Etc/GMT+6",
    "CST6CDT",
    "America/Monterrey",
    "Canada/Saskatchewan",  # 12
    "America/Bogota",
    "Etc/GMT+5",
    "America/New_York",
    "America/Indiana/Indianapolis",  # 16
    "America/Caracas",
    "America/Asuncion",
    "Etc/GMT+4",
    "Canada/Atlantic",  # 20
    "America/Cuiaba",
    "Brazil/West",
    "America/Santiago",
    "Canada/Newfoundland",  # 24
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "America/Cayenne",
    "America/Miquelon",  # 28
    "America/Montevideo",
    "Chile/Continental",
    "Etc/GMT+2",
    "Atlantic/Azores",  # 32
    "Atlantic/Cape_Verde",
    "Africa/Casablanca",
    "UCT",
    "GB",  # 36
    "Africa/Monrovia",
    "Europe/Amsterdam",
    "Europe/Belgrade",
    "Europe/Brussels",  # 40
    "Europe/Sarajevo",
    "Africa/Lagos",
    "Africa/Windhoek",
    "Asia/Amman",  # 44
    "Europe/Athens",
    "Asia/Beirut",
    "Africa/Cairo",
    "Asia/Damascus",  # 48
    "EET",
    "Africa/Harare",
    "Europe/Helsinki",
    "Asia/Istanbul",  # 52
    "Asia/Jerusalem",
    "Europe/Kaliningrad",
    "Africa/Tripoli",
    "Asia/Baghdad",  # 56
    "Asia/Kuwait",
    "Europe/Minsk",
    "Europe/Moscow",
    "Africa/Nairobi",  # 60
    "Asia/Tehran",
    "Asia/Muscat",
    "Asia/Baku",
    "Europe/Samara",  # 64
    "Indian/Mauritius",
    "Asia/Tbilisi",
    "Asia/Yerevan",
    "Asia/Kabul",  # 68
    "Asia/Ashgabat",
    "Asia/Yekaterinburg",
    "Asia/Karachi",
    "Asia/Kolkata",  # 72
    "Asia/Colombo",
    "Asia/Kathmandu",
    "Asia/Almaty",
    "Asia/Dhaka",  # 76
    "Asia/Novosibirsk",
    "Asia/Rangoon",
    "Asia/Bangkok",
    "Asia/Krasnoyarsk",  # 80
    "Asia/Chongqing",
    "Asia/Irkutsk",
    "Asia/Singapore",
    "Australia/Perth",  # 84
    "Asia/Taipei",
    "Asia/Ulaanbaatar",
    "Asia/Tokyo",
    "Asia/Seoul",  # 88
    "Asia/Yakutsk",
    "Australia/Adelaide",
    "Australia/Darwin",
    "Australia/Brisbane",  # 92
    "Australia/Canberra",
    "Pacific/Guam",
    "Australia/Hobart",
    "Antarctica/DumontDUrville",  # 96
    "Asia/Magadan",
    "Asia/Srednekolymsk",
    "Etc/GMT-11",
    "Asia/Anadyr",  # 100
    "Pacific/Auckland",
    "Etc/GMT-12",
    "Pacific/Fiji",
    "Etc/GMT-13",  # 104
    "Pacific/Apia",
    "Etc/GMT-14",  # 108
)


def zone_of(index: int) -> zoneinfo.ZoneInfo | None:
    """The IANA zone behind an index, None when the index is unknown or this host lacks it."""
    import zoneinfo  # imported when a zone is looked up, not by every one-shot command

    if not 0 <= index < len(ZONES):
        return None
    try:
        return zoneinfo.ZoneInfo(ZONES[index])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def index_of(name: str) -> int | None:
    """The index for an IANA zone: by name, else the first that keeps the same offsets all year."""
    import zoneinfo

    if name in ZONES:
        return ZONES.index(name)
    try:
        wanted = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    year = dt.datetime.now(dt.UTC).year
    days = [
        dt.datetime(year, 1, 1, 12, tzinfo=dt.UTC) + dt.timedelta(days=d) for d in range(0, 365, 7)
    ]
    for index in range(len(ZONES)):
        zone = zone_of(index)
        if zone is not None and all(
            d.astimezone(zone).utcoffset() == d.astimezone(wanted).utcoffset() for d in days
        ):
            return index
    return None
