"""The billing periods of a subscription and the proration of partial ones.

A pure module: no Django, no database, only the standard library. The rules (SPEC §5, decisions in
docs/periods.md):

- Periods are half-open ``[start, end)``, aware and in UTC. Their boundaries fall at local midnight in the
  merchant's time zone; where a DST change skips or repeats midnight, the boundary is the first instant of
  the local day.
- ``anniversary`` periods repeat from the local date of the subscription start; month-based intervals clamp
  to short months and recover, always counted from the original anchor day (Jan 31 → Feb 28 → Mar 31).
- ``calendar`` periods sit on a fixed grid shared by every subscription of the merchant: ``billing_day`` of
  the month for month-based intervals (quarters start in Jan/Apr/Jul/Oct, years in January, multiples
  counted from January 2000), ISO Monday for weeks (multiples counted from Monday 2000-01-03). The first
  period runs from the subscription start to the next grid boundary.
- Proration counts local calendar days: an instant counts from its local date, so a day split by a mid-day
  start, cancel or plan change is counted once, in the later part.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

INTERVALS = ("week", "month", "quarter", "year")
ANCHORS = ("calendar", "anniversary")

_MONTHS_PER_INTERVAL = {"month": 1, "quarter": 3, "year": 12}
# Calendar grids for multiples (every 2 weeks, every 5 months, every 2 years) need a fixed origin so that
# every subscription of a merchant closes on the same dates. Divisors of 12 months land on the same months
# every year whatever the origin; it shows only for multi-year intervals (every 2 years: even years), for
# multiples that don't divide a year (every 5 months) and for multi-week intervals.
_GRID_MONDAY = date(2000, 1, 3)  # the first Monday of 2000
_GRID_YEAR = 2000
# The instants the calendar answers for: from 2000 (its grid) to 2999, with room above to compute boundaries.
FIRST_YEAR, LAST_YEAR = 2000, 2999
CALENDAR_RANGE_ERROR = f"must be between the years {FIRST_YEAR} and {LAST_YEAR}"

# The factor is a quotient that rarely terminates (22/31); 28 significant digits is the decimal module's
# default, pinned here so a caller's thread context cannot change the result.
_DIVISION = Context(prec=28, rounding=ROUND_HALF_EVEN)


def in_calendar_range(value: date | datetime) -> bool:
    """Whether a date or instant lies in the years the calendar answers for (``FIRST_YEAR`` to ``LAST_YEAR``)."""
    return FIRST_YEAR <= value.year <= LAST_YEAR


def _zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ValueError(f"timezone: must be an IANA time zone name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone: unknown time zone {name!r}") from exc


def _aware_utc(argument: str, value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{argument}: must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{argument}: must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _positive_int(argument: str, value: int, *, low: int = 1, high: int | None = None) -> int:
    # bool is an int subclass; True as an interval count is a bug, not a 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{argument}: must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{argument}: must be {bounds}, got {value}")
    return value


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``tz``, in UTC.

    Where DST skips midnight, fold=0 reads the missing wall time with the offset before the change, which
    lands on the change itself: still the first instant of the day. Where midnight repeats, fold=0 is the
    first occurrence.
    """
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _local_date(instant: datetime, tz: ZoneInfo) -> date:
    """The local day holding ``instant``: the latest date whose first instant is at or before it.

    That is the wall-clock date, except for the hour after a DST fall-back from just past midnight (Goose Bay
    and Moncton until 2010: 00:01 back to 23:01), when the wall clock shows the previous date again. Keeping
    the day from running backwards keeps day counts and period lookups consistent with the boundaries.
    """
    day = instant.astimezone(tz).date()
    following = day + timedelta(days=1)
    return following if _midnight(following, tz) <= instant else day


def _days(start: datetime, end: datetime, tz: ZoneInfo) -> int:
    return (_local_date(end, tz) - _local_date(start, tz)).days


def _ratio(days: int, full_days: int) -> Decimal:
    return _DIVISION.divide(Decimal(days), Decimal(full_days))


def _days_in_month(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _add_months(anchor: date, months: int) -> date:
    """``anchor`` moved by ``months``, its day clamped to the month's length (Jan 31 + 1 → Feb 28)."""
    year, month0 = divmod(anchor.year * 12 + anchor.month - 1 + months, 12)
    return date(year, month0 + 1, min(anchor.day, _days_in_month(year, month0 + 1)))


def proration(
    *, start: datetime, end: datetime, full_start: datetime, full_end: datetime, timezone: str = "UTC"
) -> Decimal:
    """Days in ``[start, end)`` over days in ``[full_start, full_end)``, counted in local calendar days.

    Not rounded: callers multiply an amount by it and round the product once. An empty ``[start, end)``
    (or one inside a single local day) is 0.
    """
    tz = _zone(timezone)
    start = _aware_utc("start", start)
    end = _aware_utc("end", end)
    full_start = _aware_utc("full_start", full_start)
    full_end = _aware_utc("full_end", full_end)
    if end < start:
        raise ValueError("end: must not be before start")
    if start < full_start:
        raise ValueError("start: must not be before full_start")
    if end > full_end:
        raise ValueError("end: must not be after full_end")
    full_days = _days(full_start, full_end, tz)
    if full_days < 1:
        raise ValueError("full_end: the full period must span at least one local day")
    return _ratio(_days(start, end, tz), full_days)


@dataclass(frozen=True)
class Period:
    """One billing period ``[start, end)`` inside its nominal full period ``[full_start, full_end)``.

    ``timezone`` is the merchant's: day counts (and so proration) are local calendar days.
    """

    start: datetime
    end: datetime
    full_start: datetime
    full_end: datetime
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        for name in ("start", "end", "full_start", "full_end"):
            object.__setattr__(self, name, _aware_utc(name, getattr(self, name)))
        _zone(self.timezone)
        if not self.start < self.end:
            raise ValueError("end: must be after start")
        if self.start < self.full_start:
            raise ValueError("start: must not be before full_start")
        if self.end > self.full_end:
            raise ValueError("end: must not be after full_end")

    @property
    def is_partial(self) -> bool:
        return self.start != self.full_start or self.end != self.full_end

    @property
    def proration(self) -> Decimal:
        return _ratio(self.days(), self.full_days())

    def days(self) -> int:
        return _days(self.start, self.end, _zone(self.timezone))

    def full_days(self) -> int:
        return _days(self.full_start, self.full_end, _zone(self.timezone))


class Calendar:
    """The billing periods of one subscription.

    Period ``k`` is ``[boundary(k), boundary(k + 1))`` clipped to ``[start, end)``. Boundaries are computed
    directly from ``k`` (no walking from the start), so ``period_at`` costs the same for any instant.
    """

    def __init__(
        self,
        *,
        start: datetime,
        interval: str,
        interval_count: int = 1,
        anchor: str = "calendar",
        billing_day: int = 1,
        timezone: str = "UTC",
        end: datetime | None = None,
    ) -> None:
        if interval not in INTERVALS:
            raise ValueError(f"interval: must be one of {', '.join(INTERVALS)}, got {interval!r}")
        if anchor not in ANCHORS:
            raise ValueError(f"anchor: must be one of {', '.join(ANCHORS)}, got {anchor!r}")
        self.interval = interval
        self.anchor = anchor
        self.interval_count = _positive_int("interval_count", interval_count)
        self.billing_day = _positive_int("billing_day", billing_day, high=28)
        self.timezone = timezone
        self._tz = _zone(timezone)
        self.start = _aware_utc("start", start)
        self.end = None if end is None else _aware_utc("end", end)
        if self.end is not None and self.end <= self.start:
            raise ValueError("end: must be after start")
        self._anchor_date = _local_date(self.start, self._tz)
        self._first = self._index_of(self.start)

    def __repr__(self) -> str:
        return (
            f"Calendar(start={self.start.isoformat()}, interval={self.interval!r}, "
            f"interval_count={self.interval_count}, anchor={self.anchor!r}, billing_day={self.billing_day}, "
            f"timezone={self.timezone!r}, end={self.end.isoformat() if self.end else None})"
        )

    def periods(self, until: datetime | None = None) -> Iterator[Period]:
        """The periods in order from the first, ending with the one cut at ``end``, and stopping before the
        first period that starts at or after ``until``. Endless when both are None."""
        until = None if until is None else _aware_utc("until", until)
        return self._periods(until)

    def _periods(self, until: datetime | None) -> Iterator[Period]:
        k = self._first
        while True:
            period = self._period(k)
            if until is not None and period.start >= until:
                return
            yield period
            if self.end is not None and period.end >= self.end:
                return
            k += 1

    def period_at(self, instant: datetime) -> Period | None:
        """The period containing ``instant``; None before the start or at/after the end."""
        instant = _aware_utc("instant", instant)
        if instant < self.start or (self.end is not None and instant >= self.end):
            return None
        return self._period(self._index_of(instant))

    def first_period(self) -> Period:
        return self._period(self._first)

    def next_boundary(self, instant: datetime) -> datetime | None:
        """The first period edge strictly after ``instant``: the start before the subscription starts, then
        the end of the period holding ``instant``; None at or after the end."""
        instant = _aware_utc("instant", instant)
        if instant < self.start:
            return self.start
        period = self.period_at(instant)
        return None if period is None else period.end

    # Grid arithmetic: period k is [_boundary(k), _boundary(k + 1)), k counted on the anchor's grid; the
    # subscription's first period is k = _first.

    def _boundary_date(self, k: int) -> date:
        if self.interval == "week":
            span = timedelta(weeks=self.interval_count)
            origin = self._anchor_date if self.anchor == "anniversary" else _GRID_MONDAY
            return origin + span * k
        months = _MONTHS_PER_INTERVAL[self.interval] * self.interval_count * k
        if self.anchor == "anniversary":
            return _add_months(self._anchor_date, months)
        year, month0 = divmod(months, 12)
        return date(_GRID_YEAR + year, month0 + 1, self.billing_day)

    def _index_of_date(self, day: date) -> int:
        """The k with boundary_date(k) <= day < boundary_date(k + 1)."""
        if self.interval == "week":
            origin = self._anchor_date if self.anchor == "anniversary" else _GRID_MONDAY
            return (day - origin).days // (7 * self.interval_count)
        step = _MONTHS_PER_INTERVAL[self.interval] * self.interval_count
        if self.anchor == "anniversary":
            k = (day.year * 12 + day.month - self._anchor_date.year * 12 - self._anchor_date.month) // step
            # Same month as the boundary but before its (possibly clamped) day: still in the previous period.
            return k - 1 if self._boundary_date(k) > day else k
        month = (day.year - _GRID_YEAR) * 12 + day.month - 1
        if day.day < self.billing_day:
            month -= 1
        return month // step

    def _boundary(self, k: int) -> datetime:
        return _midnight(self._boundary_date(k), self._tz)

    def _index_of(self, instant: datetime) -> int:
        # Exact because _local_date(instant) >= d exactly when instant >= _midnight(d).
        return self._index_of_date(_local_date(instant, self._tz))

    def _period(self, k: int) -> Period:
        full_start, full_end = self._boundary(k), self._boundary(k + 1)
        return Period(
            start=max(full_start, self.start),
            end=full_end if self.end is None else min(full_end, self.end),
            full_start=full_start,
            full_end=full_end,
            timezone=self.timezone,
        )
