"""Billing periods and proration (billing/subscriptions/periods.py): pure, no database."""

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.subscriptions import periods as periods_module
from billing.subscriptions.periods import ANCHORS, INTERVALS, Calendar, Period, proration

US = timedelta(microseconds=1)
NEW_YORK = "America/New_York"


def d(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def frac(days: int, full_days: int) -> Decimal:
    return Decimal(days) / Decimal(full_days)


def assert_periods(actual: list[Period], expected: list[tuple]) -> None:
    """``expected`` rows are (start, end, full_start, full_end, days, full_days)."""
    assert [(p.start, p.end, p.full_start, p.full_end) for p in actual] == [row[:4] for row in expected]
    assert [(p.days(), p.full_days()) for p in actual] == [row[4:] for row in expected]
    assert [p.proration for p in actual] == [frac(row[4], row[5]) for row in expected]


# -- calendar anchor ------------------------------------------------------------------------------------------

CALENDAR_CASES = [
    pytest.param(
        dict(interval="month", start=d(2025, 8, 10)),
        [
            (d(2025, 8, 10), d(2025, 9, 1), d(2025, 8, 1), d(2025, 9, 1), 22, 31),
            (d(2025, 9, 1), d(2025, 10, 1), d(2025, 9, 1), d(2025, 10, 1), 30, 30),
            (d(2025, 10, 1), d(2025, 11, 1), d(2025, 10, 1), d(2025, 11, 1), 31, 31),
        ],
        id="month-first-period-prorated-to-billing-day-1",
    ),
    pytest.param(
        dict(interval="month", billing_day=26, start=d(2025, 8, 10)),
        [
            (d(2025, 8, 10), d(2025, 8, 26), d(2025, 7, 26), d(2025, 8, 26), 16, 31),
            (d(2025, 8, 26), d(2025, 9, 26), d(2025, 8, 26), d(2025, 9, 26), 31, 31),
            (d(2025, 9, 26), d(2025, 10, 26), d(2025, 9, 26), d(2025, 10, 26), 30, 30),
        ],
        id="month-billing-day-26",
    ),
    pytest.param(
        dict(interval="month", billing_day=26, start=d(2025, 8, 26)),
        [
            (d(2025, 8, 26), d(2025, 9, 26), d(2025, 8, 26), d(2025, 9, 26), 31, 31),
            (d(2025, 9, 26), d(2025, 10, 26), d(2025, 9, 26), d(2025, 10, 26), 30, 30),
        ],
        id="month-start-on-billing-day-is-full",
    ),
    pytest.param(
        dict(interval="month", start=d(2028, 2, 29)),
        [
            (d(2028, 2, 29), d(2028, 3, 1), d(2028, 2, 1), d(2028, 3, 1), 1, 29),
            (d(2028, 3, 1), d(2028, 4, 1), d(2028, 3, 1), d(2028, 4, 1), 31, 31),
        ],
        id="month-leap-day-start",
    ),
    pytest.param(
        dict(interval="month", interval_count=2, start=d(2025, 8, 10)),
        [
            (d(2025, 8, 10), d(2025, 9, 1), d(2025, 7, 1), d(2025, 9, 1), 22, 62),
            (d(2025, 9, 1), d(2025, 11, 1), d(2025, 9, 1), d(2025, 11, 1), 61, 61),
            (d(2025, 11, 1), d(2026, 1, 1), d(2025, 11, 1), d(2026, 1, 1), 61, 61),
        ],
        id="every-2-months-on-odd-months",
    ),
    pytest.param(
        dict(interval="month", interval_count=3, start=d(2025, 8, 10)),
        [
            (d(2025, 8, 10), d(2025, 10, 1), d(2025, 7, 1), d(2025, 10, 1), 52, 92),
            (d(2025, 10, 1), d(2026, 1, 1), d(2025, 10, 1), d(2026, 1, 1), 92, 92),
            (d(2026, 1, 1), d(2026, 4, 1), d(2026, 1, 1), d(2026, 4, 1), 90, 90),
        ],
        id="every-3-months-is-calendar-quarters",
    ),
    pytest.param(
        dict(interval="quarter", start=d(2025, 8, 10)),
        [
            (d(2025, 8, 10), d(2025, 10, 1), d(2025, 7, 1), d(2025, 10, 1), 52, 92),
            (d(2025, 10, 1), d(2026, 1, 1), d(2025, 10, 1), d(2026, 1, 1), 92, 92),
        ],
        id="quarter-jan-apr-jul-oct",
    ),
    pytest.param(
        dict(interval="quarter", billing_day=26, start=d(2025, 2, 10)),
        [
            (d(2025, 2, 10), d(2025, 4, 26), d(2025, 1, 26), d(2025, 4, 26), 75, 90),
            (d(2025, 4, 26), d(2025, 7, 26), d(2025, 4, 26), d(2025, 7, 26), 91, 91),
        ],
        id="quarter-billing-day-26",
    ),
    pytest.param(
        dict(interval="quarter", interval_count=2, start=d(2025, 8, 10)),
        [
            (d(2025, 8, 10), d(2026, 1, 1), d(2025, 7, 1), d(2026, 1, 1), 144, 184),
            (d(2026, 1, 1), d(2026, 7, 1), d(2026, 1, 1), d(2026, 7, 1), 181, 181),
        ],
        id="every-2-quarters-is-half-years",
    ),
    pytest.param(
        dict(interval="year", start=d(2025, 8, 10)),
        [
            (d(2025, 8, 10), d(2026, 1, 1), d(2025, 1, 1), d(2026, 1, 1), 144, 365),
            (d(2026, 1, 1), d(2027, 1, 1), d(2026, 1, 1), d(2027, 1, 1), 365, 365),
        ],
        id="year-january",
    ),
    pytest.param(
        dict(interval="year", billing_day=26, start=d(2025, 2, 10)),
        [
            (d(2025, 2, 10), d(2026, 1, 26), d(2025, 1, 26), d(2026, 1, 26), 350, 365),
        ],
        id="year-billing-day-26",
    ),
    pytest.param(
        dict(interval="year", start=d(2028, 2, 29)),
        [
            (d(2028, 2, 29), d(2029, 1, 1), d(2028, 1, 1), d(2029, 1, 1), 307, 366),
            (d(2029, 1, 1), d(2030, 1, 1), d(2029, 1, 1), d(2030, 1, 1), 365, 365),
        ],
        id="year-leap",
    ),
    pytest.param(
        dict(interval="year", interval_count=2, start=d(2025, 8, 10)),
        [
            (d(2025, 8, 10), d(2026, 1, 1), d(2024, 1, 1), d(2026, 1, 1), 144, 731),
            (d(2026, 1, 1), d(2028, 1, 1), d(2026, 1, 1), d(2028, 1, 1), 730, 730),
        ],
        id="every-2-years-from-even-years",
    ),
    pytest.param(
        dict(interval="week", start=d(2025, 8, 13)),
        [
            (d(2025, 8, 13), d(2025, 8, 18), d(2025, 8, 11), d(2025, 8, 18), 5, 7),
            (d(2025, 8, 18), d(2025, 8, 25), d(2025, 8, 18), d(2025, 8, 25), 7, 7),
        ],
        id="week-iso-monday",
    ),
    pytest.param(
        dict(interval="week", billing_day=26, start=d(2025, 8, 18)),
        [
            (d(2025, 8, 18), d(2025, 8, 25), d(2025, 8, 18), d(2025, 8, 25), 7, 7),
        ],
        id="week-start-on-monday-is-full-and-ignores-billing-day",
    ),
    pytest.param(
        dict(interval="week", interval_count=2, start=d(2025, 8, 13)),
        [
            (d(2025, 8, 13), d(2025, 8, 25), d(2025, 8, 11), d(2025, 8, 25), 12, 14),
            (d(2025, 8, 25), d(2025, 9, 8), d(2025, 8, 25), d(2025, 9, 8), 14, 14),
        ],
        id="every-2-weeks-fixed-grid",
    ),
    pytest.param(
        dict(interval="week", interval_count=2, start=d(2025, 8, 20)),
        [
            (d(2025, 8, 20), d(2025, 8, 25), d(2025, 8, 11), d(2025, 8, 25), 5, 14),
        ],
        id="every-2-weeks-start-in-second-week",
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), CALENDAR_CASES)
def test_calendar_anchor_aligns_periods_to_the_merchant_grid(kwargs, expected):
    calendar = Calendar(anchor="calendar", **kwargs)

    assert_periods(list(islice(calendar.periods(), len(expected))), expected)


def test_a_50_dollar_fee_starting_aug_10_is_35_48():
    first = Calendar(start=d(2025, 8, 10), interval="month").first_period()

    assert first.is_partial
    assert first.proration == Decimal(22) / Decimal(31)
    assert (Decimal("50") * first.proration).quantize(Decimal("0.01"), ROUND_HALF_UP) == Decimal("35.48")


def test_a_start_on_the_boundary_gives_a_full_first_period():
    first = Calendar(start=d(2025, 9, 1), interval="month").first_period()

    assert not first.is_partial
    assert first.proration == Decimal("1")


# -- anniversary anchor ---------------------------------------------------------------------------------------

ANNIVERSARY_CASES = [
    pytest.param(
        dict(interval="month", start=d(2025, 8, 10)),
        [(d(2025, 8, 10), d(2025, 9, 10)), (d(2025, 9, 10), d(2025, 10, 10)), (d(2025, 10, 10), d(2025, 11, 10))],
        id="month",
    ),
    pytest.param(
        dict(interval="month", start=d(2025, 1, 31)),
        [
            (d(2025, 1, 31), d(2025, 2, 28)),
            (d(2025, 2, 28), d(2025, 3, 31)),
            (d(2025, 3, 31), d(2025, 4, 30)),
            (d(2025, 4, 30), d(2025, 5, 31)),
        ],
        id="month-end-clamps-and-recovers",
    ),
    pytest.param(
        dict(interval="month", start=d(2028, 1, 31)),
        [(d(2028, 1, 31), d(2028, 2, 29)), (d(2028, 2, 29), d(2028, 3, 31))],
        id="month-end-leap-february",
    ),
    pytest.param(
        dict(interval="month", interval_count=2, start=d(2024, 12, 31)),
        [
            (d(2024, 12, 31), d(2025, 2, 28)),
            (d(2025, 2, 28), d(2025, 4, 30)),
            (d(2025, 4, 30), d(2025, 6, 30)),
            (d(2025, 6, 30), d(2025, 8, 31)),
        ],
        id="every-2-months-from-month-end",
    ),
    pytest.param(
        dict(interval="month", interval_count=3, start=d(2027, 11, 30)),
        [(d(2027, 11, 30), d(2028, 2, 29)), (d(2028, 2, 29), d(2028, 5, 30)), (d(2028, 5, 30), d(2028, 8, 30))],
        id="every-3-months-through-leap-february",
    ),
    pytest.param(
        dict(interval="quarter", start=d(2025, 1, 31)),
        [
            (d(2025, 1, 31), d(2025, 4, 30)),
            (d(2025, 4, 30), d(2025, 7, 31)),
            (d(2025, 7, 31), d(2025, 10, 31)),
            (d(2025, 10, 31), d(2026, 1, 31)),
        ],
        id="quarter-from-month-end",
    ),
    pytest.param(
        dict(interval="year", start=d(2028, 2, 29)),
        [
            (d(2028, 2, 29), d(2029, 2, 28)),
            (d(2029, 2, 28), d(2030, 2, 28)),
            (d(2030, 2, 28), d(2031, 2, 28)),
            (d(2031, 2, 28), d(2032, 2, 29)),
        ],
        id="year-leap-day-clamps-and-recovers",
    ),
    pytest.param(
        dict(interval="year", interval_count=2, start=d(2025, 8, 10)),
        [(d(2025, 8, 10), d(2027, 8, 10)), (d(2027, 8, 10), d(2029, 8, 10))],
        id="every-2-years",
    ),
    pytest.param(
        dict(interval="week", start=d(2025, 8, 13)),
        [(d(2025, 8, 13), d(2025, 8, 20)), (d(2025, 8, 20), d(2025, 8, 27))],
        id="week-from-start-weekday",
    ),
    pytest.param(
        dict(interval="week", interval_count=2, start=d(2025, 8, 13)),
        [(d(2025, 8, 13), d(2025, 8, 27)), (d(2025, 8, 27), d(2025, 9, 10))],
        id="every-2-weeks",
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), ANNIVERSARY_CASES)
def test_anniversary_anchor_repeats_from_the_start_date(kwargs, expected):
    calendar = Calendar(anchor="anniversary", billing_day=26, **kwargs)

    periods = list(islice(calendar.periods(), len(expected)))

    assert [(p.start, p.end) for p in periods] == expected
    assert all(not p.is_partial and p.proration == Decimal("1") for p in periods)


def test_anniversary_mid_day_start_is_partial_by_time_but_bills_the_full_period():
    first = Calendar(start=d(2025, 8, 10, 14, 30), interval="month", anchor="anniversary").first_period()

    assert (first.start, first.end, first.full_start, first.full_end) == (
        d(2025, 8, 10, 14, 30),
        d(2025, 9, 10),
        d(2025, 8, 10),
        d(2025, 9, 10),
    )
    assert first.is_partial
    assert (first.days(), first.full_days(), first.proration) == (31, 31, Decimal("1"))


# -- time zones -----------------------------------------------------------------------------------------------

TIMEZONE_CASES = [
    pytest.param(
        dict(interval="month", timezone=NEW_YORK, start=d(2024, 2, 15, 5)),
        [
            (d(2024, 2, 15, 5), d(2024, 3, 1, 5), d(2024, 2, 1, 5), d(2024, 3, 1, 5), 15, 29),
            # DST starts on March 10: March opens at UTC-5 and closes at UTC-4.
            (d(2024, 3, 1, 5), d(2024, 4, 1, 4), d(2024, 3, 1, 5), d(2024, 4, 1, 4), 31, 31),
            (d(2024, 4, 1, 4), d(2024, 5, 1, 4), d(2024, 4, 1, 4), d(2024, 5, 1, 4), 30, 30),
        ],
        id="new-york-month-across-dst-start",
    ),
    pytest.param(
        dict(interval="month", timezone=NEW_YORK, start=d(2024, 10, 1, 4)),
        [
            (d(2024, 10, 1, 4), d(2024, 11, 1, 4), d(2024, 10, 1, 4), d(2024, 11, 1, 4), 31, 31),
            (d(2024, 11, 1, 4), d(2024, 12, 1, 5), d(2024, 11, 1, 4), d(2024, 12, 1, 5), 30, 30),
        ],
        id="new-york-month-across-dst-end",
    ),
    pytest.param(
        dict(interval="week", timezone=NEW_YORK, start=d(2024, 3, 4, 5)),
        [
            (d(2024, 3, 4, 5), d(2024, 3, 11, 4), d(2024, 3, 4, 5), d(2024, 3, 11, 4), 7, 7),
            (d(2024, 3, 11, 4), d(2024, 3, 18, 4), d(2024, 3, 11, 4), d(2024, 3, 18, 4), 7, 7),
        ],
        id="new-york-167-hour-week-is-7-days",
    ),
    pytest.param(
        # 03:00 UTC on March 1 is still February 29 in New York.
        dict(interval="month", timezone=NEW_YORK, start=d(2024, 3, 1, 3)),
        [
            (d(2024, 3, 1, 3), d(2024, 3, 1, 5), d(2024, 2, 1, 5), d(2024, 3, 1, 5), 1, 29),
            (d(2024, 3, 1, 5), d(2024, 4, 1, 4), d(2024, 3, 1, 5), d(2024, 4, 1, 4), 31, 31),
        ],
        id="new-york-local-date-decides-the-period",
    ),
    pytest.param(
        dict(interval="month", anchor="anniversary", timezone=NEW_YORK, start=d(2024, 10, 15, 18)),
        [
            (d(2024, 10, 15, 18), d(2024, 11, 15, 5), d(2024, 10, 15, 4), d(2024, 11, 15, 5), 31, 31),
        ],
        id="new-york-anniversary-mid-day-start",
    ),
    pytest.param(
        # Sydney leaves DST on April 6: April opens at UTC+11 and closes at UTC+10.
        dict(interval="month", timezone="Australia/Sydney", start=d(2025, 3, 31, 13)),
        [
            (d(2025, 3, 31, 13), d(2025, 4, 30, 14), d(2025, 3, 31, 13), d(2025, 4, 30, 14), 30, 30),
        ],
        id="sydney-month-starts-the-day-before-in-utc",
    ),
    pytest.param(
        # Santiago skips midnight on 2024-09-08 (00:00 -04 becomes 01:00 -03): the boundary is 01:00 local.
        dict(interval="month", anchor="anniversary", timezone="America/Santiago", start=d(2024, 8, 8, 4)),
        [
            (d(2024, 8, 8, 4), d(2024, 9, 8, 4), d(2024, 8, 8, 4), d(2024, 9, 8, 4), 31, 31),
            (d(2024, 9, 8, 4), d(2024, 10, 8, 3), d(2024, 9, 8, 4), d(2024, 10, 8, 3), 30, 30),
        ],
        id="santiago-skipped-midnight",
    ),
    pytest.param(
        # Santiago repeats 23:00-24:00 on 2024-04-06: April 7 begins once, at 04:00 UTC.
        dict(interval="month", anchor="anniversary", timezone="America/Santiago", start=d(2024, 3, 7, 3)),
        [
            (d(2024, 3, 7, 3), d(2024, 4, 7, 4), d(2024, 3, 7, 3), d(2024, 4, 7, 4), 31, 31),
        ],
        id="santiago-repeated-hour-before-midnight",
    ),
    pytest.param(
        # Goose Bay fell back from 00:01 to 23:01 on 2010-11-07: November 7 began at 03:00 UTC, then the wall
        # clock showed November 6 again until 04:00 UTC. The day begins at its first instant.
        dict(interval="month", anchor="anniversary", timezone="America/Goose_Bay", start=d(2010, 10, 7, 3)),
        [
            (d(2010, 10, 7, 3), d(2010, 11, 7, 3), d(2010, 10, 7, 3), d(2010, 11, 7, 3), 31, 31),
            (d(2010, 11, 7, 3), d(2010, 12, 7, 4), d(2010, 11, 7, 3), d(2010, 12, 7, 4), 30, 30),
        ],
        id="goose-bay-fall-back-across-midnight",
    ),
    pytest.param(
        dict(interval="month", anchor="anniversary", timezone="America/Goose_Bay", start=d(2010, 11, 7, 3, 30)),
        [
            (d(2010, 11, 7, 3, 30), d(2010, 12, 7, 4), d(2010, 11, 7, 3), d(2010, 12, 7, 4), 30, 30),
        ],
        id="goose-bay-start-in-the-repeated-hour-anchors-on-the-new-day",
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), TIMEZONE_CASES)
def test_boundaries_fall_at_local_midnight_and_are_returned_in_utc(kwargs, expected):
    calendar = Calendar(**kwargs)

    periods = list(islice(calendar.periods(), len(expected)))

    assert_periods(periods, expected)
    assert all(p.start.tzinfo is UTC and p.full_end.tzinfo is UTC for p in periods)


def test_a_dst_week_is_167_hours_long():
    week = Calendar(start=d(2024, 3, 4, 5), interval="week", timezone=NEW_YORK).first_period()

    assert week.end - week.start == timedelta(hours=167)


def test_the_repeated_hour_before_a_midnight_change_belongs_to_the_earlier_day():
    calendar = Calendar(start=d(2024, 3, 7, 3), interval="month", anchor="anniversary", timezone="America/Santiago")

    # 03:30 UTC is the second 23:30 of April 6 in Santiago.
    assert calendar.period_at(d(2024, 4, 7, 3, 30)).end == d(2024, 4, 7, 4)
    assert calendar.period_at(d(2024, 4, 7, 4)).start == d(2024, 4, 7, 4)


def test_the_repeated_hour_after_a_fall_back_across_midnight_belongs_to_the_new_day():
    calendar = Calendar(start=d(2010, 10, 7, 3), interval="month", anchor="anniversary", timezone="America/Goose_Bay")

    # 03:30 UTC reads 23:30 on November 6 in Goose Bay, but November 7 began at 03:00 UTC.
    assert calendar.period_at(d(2010, 11, 7, 3) - US).end == d(2010, 11, 7, 3)
    assert calendar.period_at(d(2010, 11, 7, 3, 30)).start == d(2010, 11, 7, 3)


def test_start_in_another_offset_is_normalised_to_utc():
    start = datetime(2024, 2, 15, tzinfo=ZoneInfo(NEW_YORK))

    first = Calendar(start=start, interval="month", timezone=NEW_YORK).first_period()

    assert first.start == d(2024, 2, 15, 5)
    assert first.start.tzinfo is UTC


# -- the end of a subscription --------------------------------------------------------------------------------

ENDING_CASES = [
    pytest.param(
        dict(interval="month", start=d(2025, 8, 10), end=d(2025, 10, 15)),
        [
            (d(2025, 8, 10), d(2025, 9, 1), d(2025, 8, 1), d(2025, 9, 1), 22, 31),
            (d(2025, 9, 1), d(2025, 10, 1), d(2025, 9, 1), d(2025, 10, 1), 30, 30),
            (d(2025, 10, 1), d(2025, 10, 15), d(2025, 10, 1), d(2025, 11, 1), 14, 31),
        ],
        id="last-period-truncated",
    ),
    pytest.param(
        dict(interval="month", start=d(2025, 8, 10), end=d(2025, 8, 20)),
        [
            (d(2025, 8, 10), d(2025, 8, 20), d(2025, 8, 1), d(2025, 9, 1), 10, 31),
        ],
        id="ends-inside-the-first-period",
    ),
    pytest.param(
        dict(interval="month", start=d(2025, 8, 10), end=d(2025, 10, 1)),
        [
            (d(2025, 8, 10), d(2025, 9, 1), d(2025, 8, 1), d(2025, 9, 1), 22, 31),
            (d(2025, 9, 1), d(2025, 10, 1), d(2025, 9, 1), d(2025, 10, 1), 30, 30),
        ],
        id="ends-on-a-boundary-without-an-empty-period",
    ),
    pytest.param(
        dict(interval="month", start=d(2025, 9, 1), end=d(2025, 10, 15, 12)),
        [
            (d(2025, 9, 1), d(2025, 10, 1), d(2025, 9, 1), d(2025, 10, 1), 30, 30),
            (d(2025, 10, 1), d(2025, 10, 15, 12), d(2025, 10, 1), d(2025, 11, 1), 14, 31),
        ],
        id="mid-day-cancel-leaves-the-cancel-day-to-what-follows",
    ),
    pytest.param(
        dict(interval="month", anchor="anniversary", start=d(2025, 1, 31), end=d(2025, 3, 15)),
        [
            (d(2025, 1, 31), d(2025, 2, 28), d(2025, 1, 31), d(2025, 2, 28), 28, 28),
            (d(2025, 2, 28), d(2025, 3, 15), d(2025, 2, 28), d(2025, 3, 31), 15, 31),
        ],
        id="anniversary-truncated",
    ),
    pytest.param(
        dict(interval="month", anchor="anniversary", start=d(2025, 8, 10), end=d(2025, 9, 10, 9)),
        [
            (d(2025, 8, 10), d(2025, 9, 10), d(2025, 8, 10), d(2025, 9, 10), 31, 31),
            (d(2025, 9, 10), d(2025, 9, 10, 9), d(2025, 9, 10), d(2025, 10, 10), 0, 30),
        ],
        id="cancel-on-the-first-morning-of-a-period-bills-usage-but-no-day",
    ),
    pytest.param(
        dict(interval="year", start=d(2028, 2, 29), end=d(2028, 3, 1), timezone=NEW_YORK),
        [
            (d(2028, 2, 29), d(2028, 3, 1), d(2028, 1, 1, 5), d(2029, 1, 1, 5), 1, 366),
        ],
        id="one-day-of-a-leap-year",
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), ENDING_CASES)
def test_a_subscription_ending_mid_period_has_a_truncated_last_period(kwargs, expected):
    calendar = Calendar(**kwargs)

    assert_periods(list(calendar.periods()), expected)


# -- periods(until), period_at, next_boundary -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "expected_starts"),
    [
        (d(2025, 8, 10), []),
        (d(2025, 9, 1), [d(2025, 8, 10)]),
        (d(2025, 9, 1) + US, [d(2025, 8, 10), d(2025, 9, 1)]),
        (d(2025, 10, 1), [d(2025, 8, 10), d(2025, 9, 1)]),
        (d(2030, 1, 1), [d(2025, 8, 10), d(2025, 9, 1), d(2025, 10, 1)]),
    ],
)
def test_periods_stop_before_the_first_period_starting_at_until(until, expected_starts):
    calendar = Calendar(start=d(2025, 8, 10), interval="month", end=d(2025, 10, 15))

    assert [p.start for p in calendar.periods(until=until)] == expected_starts


def test_periods_without_end_or_until_are_endless():
    calendar = Calendar(start=d(2025, 8, 10), interval="week")

    assert len(list(islice(calendar.periods(), 1000))) == 1000


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (d(2025, 8, 10) - US, None),
        (d(2025, 8, 10), (d(2025, 8, 10), d(2025, 9, 1))),
        (d(2025, 8, 31, 23, 59), (d(2025, 8, 10), d(2025, 9, 1))),
        (d(2025, 9, 1) - US, (d(2025, 8, 10), d(2025, 9, 1))),
        (d(2025, 9, 1), (d(2025, 9, 1), d(2025, 10, 1))),
        (d(2025, 10, 1), (d(2025, 10, 1), d(2025, 10, 15))),
        (d(2025, 10, 15) - US, (d(2025, 10, 1), d(2025, 10, 15))),
        (d(2025, 10, 15), None),
        (d(2030, 1, 1), None),
    ],
)
def test_period_at_is_half_open(instant, expected):
    calendar = Calendar(start=d(2025, 8, 10), interval="month", end=d(2025, 10, 15))

    period = calendar.period_at(instant)

    assert (period and (period.start, period.end)) == expected


JAN_31_MONTHLY = dict(interval="month", anchor="anniversary", start=d(2025, 1, 31))


@pytest.mark.parametrize(
    ("kwargs", "instant", "expected"),
    [
        (JAN_31_MONTHLY, d(2999, 2, 15), (2999, 1, 31, 2999, 2, 28)),
        (JAN_31_MONTHLY, d(9000, 3, 1), (9000, 2, 28, 9000, 3, 31)),
        (JAN_31_MONTHLY, d(2400, 3, 1), (2400, 2, 29, 2400, 3, 31)),
        (dict(interval="quarter", billing_day=26, start=d(2025, 2, 10)), d(2500, 5, 5), (2500, 4, 26, 2500, 7, 26)),
        (dict(interval="week", interval_count=2, start=d(2025, 8, 13)), d(3000, 1, 1), (2999, 12, 23, 3000, 1, 6)),
        (dict(interval="year", interval_count=2, start=d(2025, 8, 10)), d(2101, 6, 1), (2100, 1, 1, 2102, 1, 1)),
        (dict(interval="year", anchor="anniversary", start=d(2028, 2, 29)), d(8028, 2, 29), (8028, 2, 29, 8029, 2, 28)),
    ],
)
def test_period_at_far_in_the_future(kwargs, instant, expected):
    period = Calendar(**kwargs).period_at(instant)

    assert (period.start, period.end) == (d(*expected[:3]), d(*expected[3:]))
    assert not period.is_partial


def test_period_at_does_not_walk_from_the_start(monkeypatch):
    calendar = Calendar(start=d(2025, 8, 13), interval="week")
    calls = []
    real_midnight = periods_module._midnight
    monkeypatch.setattr(periods_module, "_midnight", lambda *args: calls.append(args) or real_midnight(*args))

    calendar.period_at(d(9000, 1, 1))

    assert len(calls) < 10


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (d(2025, 8, 1), d(2025, 8, 10)),
        (d(2025, 8, 10), d(2025, 9, 1)),
        (d(2025, 8, 20, 12), d(2025, 9, 1)),
        (d(2025, 9, 1) - US, d(2025, 9, 1)),
        (d(2025, 9, 1), d(2025, 10, 1)),
        (d(2025, 10, 1), d(2025, 10, 15)),
        (d(2025, 10, 15), None),
        (d(2026, 1, 1), None),
    ],
)
def test_next_boundary_is_the_next_period_edge_strictly_after(instant, expected):
    calendar = Calendar(start=d(2025, 8, 10), interval="month", end=d(2025, 10, 15))

    assert calendar.next_boundary(instant) == expected


def test_next_boundary_without_end_keeps_going():
    calendar = Calendar(start=d(2025, 8, 10), interval="month", billing_day=26)

    assert calendar.next_boundary(d(2030, 1, 5)) == d(2030, 1, 26)


# -- proration() ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "full_start", "full_end", "timezone", "expected"),
    [
        (d(2025, 8, 10), d(2025, 9, 1), d(2025, 8, 1), d(2025, 9, 1), "UTC", frac(22, 31)),
        (d(2025, 9, 16), d(2025, 10, 1), d(2025, 9, 1), d(2025, 10, 1), "UTC", Decimal("0.5")),
        (d(2025, 9, 1), d(2025, 10, 1), d(2025, 9, 1), d(2025, 10, 1), "UTC", Decimal("1")),
        (d(2025, 9, 1), d(2025, 9, 1), d(2025, 9, 1), d(2025, 10, 1), "UTC", Decimal("0")),
        (d(2025, 9, 1, 8), d(2025, 9, 1, 20), d(2025, 9, 1), d(2025, 10, 1), "UTC", Decimal("0")),
        (d(2025, 9, 1, 8), d(2025, 9, 2, 7), d(2025, 9, 1), d(2025, 10, 1), "UTC", frac(1, 30)),
        # 03:00 UTC on March 1 is February 29 in New York: one local day, none in UTC.
        (d(2024, 3, 1, 3), d(2024, 3, 1, 5), d(2024, 2, 1, 5), d(2024, 3, 1, 5), NEW_YORK, frac(1, 29)),
        (d(2024, 3, 1, 3), d(2024, 3, 1, 5), d(2024, 2, 1, 5), d(2024, 3, 1, 5), "UTC", Decimal("0")),
    ],
)
def test_proration_is_local_days_over_full_days(start, end, full_start, full_end, timezone, expected):
    factor = proration(start=start, end=end, full_start=full_start, full_end=full_end, timezone=timezone)

    assert factor == expected


def test_proration_is_not_rounded():
    august = dict(full_start=d(2025, 8, 1), full_end=d(2025, 9, 1))

    assert str(proration(start=d(2025, 8, 10), end=d(2025, 9, 1), **august)) == "0.7096774193548387096774193548"
    assert str(proration(start=d(2025, 8, 1), end=d(2025, 8, 2), **august)) == "0.03225806451612903225806451613"
    assert str(proration(start=d(2025, 8, 16), end=d(2025, 8, 31), **dict(august, full_end=d(2025, 8, 31)))) == "0.5"


@pytest.mark.parametrize(
    ("override", "argument"),
    [
        (dict(start=datetime(2025, 8, 10)), "start"),
        (dict(end=datetime(2025, 9, 1)), "end"),
        (dict(full_start=datetime(2025, 8, 1)), "full_start"),
        (dict(full_end=datetime(2025, 9, 1)), "full_end"),
        (dict(end=d(2025, 8, 9)), "end"),
        (dict(start=d(2025, 7, 31)), "start"),
        (dict(end=d(2025, 9, 2)), "end"),
        (dict(start=d(2025, 8, 1), end=d(2025, 8, 1, 1), full_end=d(2025, 8, 1, 12)), "full_end"),
        (dict(timezone="Mars/Olympus_Mons"), "timezone"),
    ],
)
def test_proration_rejects_bad_input_naming_the_argument(override, argument):
    kwargs = dict(start=d(2025, 8, 10), end=d(2025, 9, 1), full_start=d(2025, 8, 1), full_end=d(2025, 9, 1)) | override

    with pytest.raises(ValueError, match=rf"^{argument}:"):
        proration(**kwargs)


# -- Period ---------------------------------------------------------------------------------------------------


def test_period_normalises_to_utc_and_compares_by_instant():
    tz = ZoneInfo(NEW_YORK)
    period = Period(
        start=datetime(2024, 3, 1, tzinfo=tz),
        end=datetime(2024, 4, 1, tzinfo=tz),
        full_start=datetime(2024, 3, 1, tzinfo=tz),
        full_end=datetime(2024, 4, 1, tzinfo=tz),
        timezone=NEW_YORK,
    )

    assert (period.start, period.end) == (d(2024, 3, 1, 5), d(2024, 4, 1, 4))
    assert period.start.tzinfo is UTC
    assert (period.days(), period.full_days(), period.is_partial) == (31, 31, False)


@pytest.mark.parametrize(
    ("override", "argument"),
    [
        (dict(start=datetime(2025, 8, 10)), "start"),
        (dict(end=d(2025, 8, 10)), "end"),
        (dict(start=d(2025, 7, 31)), "start"),
        (dict(end=d(2025, 9, 2)), "end"),
        (dict(timezone="Nowhere/Town"), "timezone"),
    ],
)
def test_period_rejects_inconsistent_edges(override, argument):
    kwargs = dict(start=d(2025, 8, 10), end=d(2025, 9, 1), full_start=d(2025, 8, 1), full_end=d(2025, 9, 1)) | override

    with pytest.raises(ValueError, match=rf"^{argument}:"):
        Period(**kwargs)


# -- validation -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "argument"),
    [
        (dict(interval="day"), "interval"),
        (dict(interval="monthly"), "interval"),
        (dict(anchor="fiscal"), "anchor"),
        (dict(interval_count=0), "interval_count"),
        (dict(interval_count=-2), "interval_count"),
        (dict(interval_count=True), "interval_count"),
        (dict(interval_count=1.5), "interval_count"),
        (dict(billing_day=0), "billing_day"),
        (dict(billing_day=29), "billing_day"),
        (dict(billing_day=31), "billing_day"),
        (dict(billing_day="1"), "billing_day"),
        (dict(timezone="Mars/Olympus_Mons"), "timezone"),
        (dict(timezone=""), "timezone"),
        (dict(start=datetime(2025, 8, 10)), "start"),
        (dict(start="2025-08-10"), "start"),
        (dict(end=datetime(2025, 9, 1)), "end"),
        (dict(end=d(2025, 8, 10)), "end"),
        (dict(end=d(2025, 8, 9)), "end"),
    ],
)
def test_calendar_rejects_bad_input_naming_the_argument(override, argument):
    kwargs = dict(start=d(2025, 8, 10), interval="month") | override

    with pytest.raises(ValueError, match=rf"^{argument}:"):
        Calendar(**kwargs)


def test_naive_instants_are_rejected_naming_the_argument():
    calendar = Calendar(start=d(2025, 8, 10), interval="month")

    with pytest.raises(ValueError, match=r"^instant:"):
        calendar.period_at(datetime(2025, 9, 1))
    with pytest.raises(ValueError, match=r"^instant:"):
        calendar.next_boundary(datetime(2025, 9, 1))
    with pytest.raises(ValueError, match=r"^until:"):
        calendar.periods(until=datetime(2025, 9, 1))  # raised on the call, not on first iteration


def test_public_constants():
    assert INTERVALS == ("week", "month", "quarter", "year")
    assert ANCHORS == ("calendar", "anniversary")


# -- properties -----------------------------------------------------------------------------------------------

# Zones with DST at 02:00, at midnight (Santiago), just past midnight (Goose Bay until 2010), by 30 minutes
# (Lord Howe), with odd offsets (Kolkata, Chatham), and in the southern hemisphere.
ZONES = ["UTC", NEW_YORK, "Europe/London", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago",
         "America/Goose_Bay", "Asia/Kolkata", "Pacific/Chatham"]


def _local_date(instant: datetime, timezone: str) -> date:
    return instant.astimezone(ZoneInfo(timezone)).date()


# DST changes that bend the local date: at midnight, just past midnight, and two ordinary ones.
TRANSITIONS = [
    ("America/Goose_Bay", d(2010, 11, 7, 3, 1)),  # 00:01 back to 23:01: the wall clock repeats a date
    ("America/Goose_Bay", d(2010, 3, 14, 4, 1)),  # 00:01 forward to 01:01
    ("America/Santiago", d(2024, 4, 7, 3)),  # 24:00 back to 23:00
    ("America/Santiago", d(2024, 9, 8, 4)),  # midnight skipped
    (NEW_YORK, d(2024, 3, 10, 7)),
    (NEW_YORK, d(2024, 11, 3, 6)),
]


@st.composite
def zoned_starts(draw) -> tuple[str, datetime]:
    """A time zone and a start anywhere in a century, or within a day of a DST change in that zone."""
    if draw(st.booleans()):
        return draw(st.sampled_from(ZONES)), draw(
            st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))
        )
    timezone, change = draw(st.sampled_from(TRANSITIONS))
    return timezone, change + draw(st.timedeltas(min_value=-timedelta(days=1), max_value=timedelta(days=1)))


@settings(max_examples=400, deadline=None)
@given(
    zoned_start=zoned_starts(),
    interval=st.sampled_from(INTERVALS),
    interval_count=st.integers(min_value=1, max_value=4),
    anchor=st.sampled_from(ANCHORS),
    billing_day=st.integers(min_value=1, max_value=28),
    length=st.none() | st.timedeltas(min_value=US, max_value=timedelta(days=900)),
    probe=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=1000)),
)
def test_periods_tile_time_without_gaps_or_overlaps(
    zoned_start, interval, interval_count, anchor, billing_day, length, probe
):
    timezone, start = zoned_start
    end = None if length is None else start + length
    until = start + timedelta(days=1000)
    calendar = Calendar(
        start=start, interval=interval, interval_count=interval_count, anchor=anchor,
        billing_day=billing_day, timezone=timezone, end=end,
    )

    periods = list(calendar.periods(until=until))

    assert periods[0].start == start
    assert periods[0] == calendar.first_period()
    assert all(before.end == after.start for before, after in pairwise(periods))
    if end is not None and end <= until:
        assert periods[-1].end == end
    else:
        assert periods[-1].start < until <= periods[-1].end
    for period in periods:
        assert period.full_start <= period.start < period.end <= period.full_end
        assert calendar.period_at(period.start) == period
        assert calendar.period_at(period.end - US) == period
        assert calendar.next_boundary(period.start) == period.end
        for boundary in (period.full_start, period.full_end):
            # A boundary is the first instant of its local day.
            assert _local_date(boundary - US, timezone) < _local_date(boundary, timezone)
        if period.days() == 0:
            # Only a subscription ending on the first local day of its last period bills no day.
            assert period.end == end and period.proration == 0
        else:
            assert 0 < period.proration <= 1
        if period.start != start and period.end != end:
            assert period.proration == 1
    instant = start + probe
    holding = [p for p in periods if p.start <= instant < p.end]
    if holding:
        assert calendar.period_at(instant) == holding[0]
    elif end is not None and instant >= end:
        assert calendar.period_at(instant) is None


@settings(max_examples=200, deadline=None)
@given(
    zoned_start=zoned_starts(),
    interval=st.sampled_from(("month", "quarter", "year")),
    interval_count=st.integers(min_value=1, max_value=5),
    anchor=st.sampled_from(ANCHORS),
    billing_day=st.integers(min_value=1, max_value=28),
)
def test_full_periods_start_on_the_anchor_day(zoned_start, interval, interval_count, anchor, billing_day):
    timezone, start = zoned_start
    calendar = Calendar(
        start=start, interval=interval, interval_count=interval_count, anchor=anchor,
        billing_day=billing_day, timezone=timezone,
    )
    anchor_day = _local_date(calendar.first_period().full_start, timezone).day

    for period in islice(calendar.periods(), 30):
        local = _local_date(period.full_start, timezone)
        if anchor == "calendar":
            assert local.day == billing_day
        else:
            last_day = ((local.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day
            assert local.day == min(anchor_day, last_day)
