"""Unit tests of X12 date and time parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from invsync.catalog import MappingError
from sources.x12.dates import parse_datetime

CHICAGO = ZoneInfo("America/Chicago")


def test_ccyymmdd_in_partner_zone() -> None:
    parsed = parse_datetime("20240501", zone=CHICAGO, label="BEG05")

    assert parsed == datetime(2024, 5, 1, 5, 0, tzinfo=UTC)
    assert parsed.tzinfo is UTC


def test_date_with_hhmm() -> None:
    parsed = parse_datetime("20240115", "1430", zone=CHICAGO, label="BSN03")

    assert parsed == datetime(2024, 1, 15, 20, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        ("0930", datetime(2024, 5, 1, 9, 30, tzinfo=UTC)),
        ("093015", datetime(2024, 5, 1, 9, 30, 15, tzinfo=UTC)),
        ("0930157", datetime(2024, 5, 1, 9, 30, 15, 700000, tzinfo=UTC)),
        ("09301507", datetime(2024, 5, 1, 9, 30, 15, 70000, tzinfo=UTC)),
    ],
)
def test_time_forms(time: str, expected: datetime) -> None:
    assert parse_datetime("20240501", time, zone=UTC, label="GS05") == expected


@pytest.mark.parametrize(
    ("date", "expected_year"),
    [("010614", 2001), ("491231", 2049), ("500101", 1950), ("991231", 1999)],
)
def test_yymmdd_century_window(date: str, expected_year: int) -> None:
    assert parse_datetime(date, zone=UTC, label="GS04").year == expected_year


def test_yymmdd_with_century_element() -> None:
    parsed = parse_datetime("960808", zone=UTC, label="DTM*002", century="20")

    assert parsed == datetime(2096, 8, 8, tzinfo=UTC)


def test_daylight_saving_offset_applies() -> None:
    winter = parse_datetime("20240115", "1200", zone=CHICAGO, label="X")
    summer = parse_datetime("20240715", "1200", zone=CHICAGO, label="X")

    assert winter == datetime(2024, 1, 15, 18, 0, tzinfo=UTC)
    assert summer == datetime(2024, 7, 15, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("GM", datetime(2004, 8, 11, 23, 0, tzinfo=UTC)),
        ("UT", datetime(2004, 8, 11, 23, 0, tzinfo=UTC)),
        ("ES", datetime(2004, 8, 12, 4, 0, tzinfo=UTC)),
        ("ED", datetime(2004, 8, 12, 3, 0, tzinfo=UTC)),
        ("ET", datetime(2004, 8, 12, 3, 0, tzinfo=UTC)),
        ("PT", datetime(2004, 8, 12, 6, 0, tzinfo=UTC)),
        ("01", datetime(2004, 8, 11, 22, 0, tzinfo=UTC)),
        ("24", datetime(2004, 8, 12, 0, 0, tzinfo=UTC)),
        ("13", datetime(2004, 8, 12, 11, 0, tzinfo=UTC)),
        ("LT", datetime(2004, 8, 12, 4, 0, tzinfo=UTC)),
    ],
)
def test_time_codes_override_partner_zone(code: str, expected: datetime) -> None:
    parsed = parse_datetime(
        "20040811", "2300", zone=CHICAGO, label="DTM*007", time_code=code
    )

    assert parsed == expected


@pytest.mark.parametrize(
    ("date", "time", "options", "message"),
    [
        (
            "CCYYMMDD",
            "",
            {},
            "W06-03 'CCYYMMDD' is not a date in CCYYMMDD or YYMMDD form",
        ),
        (
            "2024051",
            "",
            {},
            "W06-03 '2024051' is not a date in CCYYMMDD or YYMMDD form",
        ),
        ("", "", {}, "W06-03 '' is not a date in CCYYMMDD or YYMMDD form"),
        ("20241301", "", {}, "W06-03 '20241301' '' is not a valid date and time"),
        ("20240230", "", {}, "W06-03 '20240230' '' is not a valid date and time"),
        ("20240501", "2500", {}, "W06-03 '20240501' '2500' is not a valid date"),
        (
            "99991231",
            "2300",
            {"time_code": "13"},
            "W06-03 '99991231' '2300' is not a valid date and time",
        ),
        ("20240501", "12", {}, "W06-03 time '12' is not HHMM, HHMMSS, HHMMSSD or"),
        ("20240501", "12:30", {}, "W06-03 time '12:30' is not HHMM"),
        ("240501", "", {"century": "2"}, "W06-03 century '2' is not two digits"),
        (
            "20240501",
            "1200",
            {"time_code": "XX"},
            "W06-03 time code 'XX' is not an X12 time code",
        ),
    ],
)
def test_invalid_dates_raise_invalid_date(
    date: str, time: str, options: dict[str, str], message: str
) -> None:
    with pytest.raises(MappingError) as caught:
        parse_datetime(date, time, zone=UTC, label="W06-03", **options)

    assert caught.value.error_class == "invalid_date"
    assert str(caught.value).startswith(message)
