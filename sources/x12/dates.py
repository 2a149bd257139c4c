"""Read X12 dates and times into timezone-aware UTC datetimes.

X12 dates are CCYYMMDD, or YYMMDD in older versions and in GS04 of version
003050 and before. A six-digit year gets its century from DTM05 when the
segment carries one, and otherwise from a fixed window: 00-49 are 2000-2049 and
50-99 are 1950-1999, so the same input always yields the same instant.

Times are HHMM, HHMMSS, HHMMSSD or HHMMSSDD (tenths and hundredths of a
second). X12 dates carry no zone, so the partner's configured ``timezone``
applies, except when a DTM04 or G62-05 time code names one: the table below
maps the codes of X12 element 623 to zones. A local time that a daylight-saving
change makes ambiguous resolves to its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from invsync.catalog import MappingError

# Six-digit years below this are 20YY, the others 19YY.
CENTURY_PIVOT = 50


def _fixed(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


# X12 element 623 (Time Code). "LT" (local time) is absent on purpose: it means
# the partner's own zone, which the caller passes in.
TIME_CODES: dict[str, tzinfo] = {
    "UT": UTC,
    "GM": UTC,
    "AD": _fixed(-8),
    "AS": _fixed(-9),
    "AT": ZoneInfo("America/Anchorage"),
    "PD": _fixed(-7),
    "PS": _fixed(-8),
    "PT": ZoneInfo("America/Los_Angeles"),
    "MD": _fixed(-6),
    "MS": _fixed(-7),
    "MT": ZoneInfo("America/Denver"),
    "CD": _fixed(-5),
    "CS": _fixed(-6),
    "CT": ZoneInfo("America/Chicago"),
    "ED": _fixed(-4),
    "ES": _fixed(-5),
    "ET": ZoneInfo("America/New_York"),
    "TD": _fixed(-3),
    "TS": _fixed(-4),
    "TT": ZoneInfo("America/Halifax"),
    "ND": _fixed(-2.5),
    "NS": _fixed(-3.5),
    "NT": ZoneInfo("America/St_Johns"),
    "HD": _fixed(-9),
    "HS": _fixed(-10),
    # NOTE: Hawaii-Aleutian Time covers Hawaii, which has no daylight saving,
    # and the Aleutians, which have it. Honolulu is taken as the common meaning.
    "HT": ZoneInfo("Pacific/Honolulu"),
}
# Codes 01-12 are ISO zones P01..P12 (UTC+1..+12), and 13-24 are M12..M01.
TIME_CODES.update({f"{hours:02d}": _fixed(hours) for hours in range(1, 13)})
TIME_CODES.update({f"{code:02d}": _fixed(code - 25) for code in range(13, 25)})


def parse_datetime(
    date: str,
    time: str = "",
    *,
    zone: tzinfo,
    label: str,
    time_code: str = "",
    century: str = "",
) -> datetime:
    """Parse an X12 date and optional time into a UTC datetime.

    ``label`` names the element in error messages, for example ``BEG05``.
    Raises MappingError ``invalid_date`` when the date, time, century or time
    code is not valid.
    """
    date = date.strip()
    time = time.strip()
    if len(date) not in (6, 8) or not date.isdigit():
        msg = f"{label} {date!r} is not a date in CCYYMMDD or YYMMDD form"
        raise MappingError("invalid_date", msg)

    year_text = date[:-4]
    if len(year_text) == 2:
        year_text = _century(year_text, century.strip(), label) + year_text
    year = int(year_text)
    month = int(date[-4:-2])
    day = int(date[-2:])

    hour, minute, second, microsecond = _time_parts(time, label)
    tz = _zone(time_code.strip(), zone, label)
    try:
        local = datetime(year, month, day, hour, minute, second, microsecond, tz)
        return local.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        msg = f"{label} {date!r} {time!r} is not a valid date and time: {exc}"
        raise MappingError("invalid_date", msg) from exc


def _century(year: str, century: str, label: str) -> str:
    if century:
        if len(century) != 2 or not century.isdigit():
            msg = f"{label} century {century!r} is not two digits"
            raise MappingError("invalid_date", msg)
        return century
    return "20" if int(year) < CENTURY_PIVOT else "19"


def _time_parts(time: str, label: str) -> tuple[int, int, int, int]:
    if not time:
        return 0, 0, 0, 0
    if len(time) not in (4, 6, 7, 8) or not time.isdigit():
        msg = f"{label} time {time!r} is not HHMM, HHMMSS, HHMMSSD or HHMMSSDD"
        raise MappingError("invalid_date", msg)
    hour = int(time[0:2])
    minute = int(time[2:4])
    second = int(time[4:6]) if len(time) >= 6 else 0
    fraction = time[6:]
    microsecond = int(fraction.ljust(6, "0")) if fraction else 0
    return hour, minute, second, microsecond


def _zone(time_code: str, default: tzinfo, label: str) -> tzinfo:
    if not time_code or time_code == "LT":
        return default
    zone = TIME_CODES.get(time_code)
    if zone is None:
        msg = f"{label} time code {time_code!r} is not an X12 time code"
        raise MappingError("invalid_date", msg)
    return zone
