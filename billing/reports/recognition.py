"""Revenue recognition by day (IFRS 15), pure: no database.

An amount billed for a service period ``[first, end)`` of local calendar days is earned evenly by day. What is
recognised before a day is rounded once, cumulatively (``round(amount × days elapsed / days)``), so the days' parts
always add up to the amount exactly: 100.00 over 3 days is 33.33, 33.34, 33.33. A service period shorter than a day
(a one-time fee, whose service is an instant) is earned on its day.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from atlas.money import round_line

ZERO = Decimal("0")
DAY = timedelta(days=1)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


@dataclass(frozen=True)
class Schedule:
    """``amount`` earned evenly over local days ``[first, end)`` (on ``first`` alone when ``end <= first``)."""

    amount: Decimal
    currency: str
    first: date
    end: date

    @classmethod
    def of(cls, amount: Decimal, currency: str, start: datetime, end: datetime, tz: ZoneInfo) -> "Schedule":
        return cls(amount, currency, local_date(start, tz), local_date(end, tz))

    def through(self, day: date) -> Decimal:
        """What is recognised on the days before ``day``."""
        days = (self.end - self.first).days
        if days <= 0:
            return self.amount if day > self.first else ZERO
        elapsed = min(max((day - self.first).days, 0), days)
        if elapsed == days:
            return self.amount
        return round_line(self.amount * elapsed / days, self.currency)

    def between(self, start: date, end: date) -> Decimal:
        """What is recognised on the days ``[start, end)``."""
        return self.through(end) - self.through(start) if end > start else ZERO

    def by_day(self) -> list[tuple[date, Decimal]]:
        """Every day's part (for people and tests: sums to ``amount``)."""
        last = max(self.end, self.first + DAY)
        days = [self.first + DAY * k for k in range((last - self.first).days)]
        return [(day, self.between(day, day + DAY)) for day in days]


def month_spans(start: date, end: date) -> list[tuple[date, date]]:
    """``[start, end]`` (inclusive) cut at calendar months: inclusive ``(first, last)`` pairs."""
    spans, cursor = [], start
    while cursor <= end:
        following = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
        last = min(end, following - DAY)
        spans.append((cursor, last))
        cursor = last + DAY
    return spans
