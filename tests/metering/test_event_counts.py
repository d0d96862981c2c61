"""Quarter-hour event counts: kept by ingestion, equal to counting raw events, exact for local days."""

from datetime import date, datetime

import pytest

from billing.reports.analytics import events_per_day
from customers.services import customer_create
from metering.models import Event, EventCount
from metering.services import event_counts_rebuild, events_ingest

pytestmark = pytest.mark.django_db


def _ingest(merchant, stamps, prefix="t"):
    payloads = [
        {"transaction_id": f"{prefix}{i}", "customer": "cus_1", "code": "api_call", "timestamp": stamp}
        for i, stamp in enumerate(stamps)
    ]
    return events_ingest(merchant=merchant, payloads=payloads)


@pytest.fixture
def merchant(tenant):
    customer_create(merchant=tenant.merchant, external_id="cus_1", name="One", currency="USD")
    return tenant.merchant


def test_ingestion_counts_new_events_per_quarter_hour_and_never_counts_duplicates(merchant):
    stamps = ["2026-10-01T10:00:00Z", "2026-10-01T10:14:59Z", "2026-10-01T10:15:00Z", "2026-10-02T23:59:59Z"]
    _ingest(merchant, stamps)
    _ingest(merchant, stamps)  # the same transaction ids again: all duplicates
    counts = {bucket.isoformat(): n for bucket, n in EventCount.objects.values_list("bucket", "count")}
    assert counts == {
        "2026-10-01T10:00:00+00:00": 2,
        "2026-10-01T10:15:00+00:00": 1,
        "2026-10-02T23:45:00+00:00": 1,
    }


def test_events_per_day_is_exact_for_a_half_hour_time_zone(merchant):
    merchant.timezone = "Asia/Kolkata"  # UTC+05:30: local midnight is 18:30 UTC
    merchant.save()
    _ingest(merchant, ["2026-10-01T18:29:59Z", "2026-10-01T18:30:00Z", "2026-10-02T18:29:00Z", "2026-10-02T18:31:00Z"])
    assert events_per_day(merchant=merchant, start=date(2026, 10, 1), days=3) == [
        (date(2026, 10, 1), 1),
        (date(2026, 10, 2), 2),
        (date(2026, 10, 3), 1),
    ]


def test_a_rebuild_gives_the_same_counts_as_ingestion(merchant):
    _ingest(merchant, [f"2026-10-0{day}T{hour:02d}:{minute:02d}:00Z" for day in (1, 2) for hour in (0, 9, 23)
                       for minute in (0, 7, 44)])  # fmt: skip
    incremental = sorted(EventCount.objects.values_list("bucket", "count"))
    event_counts_rebuild(merchant=merchant)
    assert sorted(EventCount.objects.values_list("bucket", "count")) == incremental
    assert sum(n for _, n in incremental) == Event.objects.filter(merchant=merchant).count() == 18


def test_events_per_day_matches_counting_raw_events(merchant):
    stamps = [datetime(2026, 10, 1 + i % 5, (i * 7) % 24, (i * 13) % 60).isoformat() + "Z" for i in range(60)]
    _ingest(merchant, stamps)
    per_day = dict(events_per_day(merchant=merchant, start=date(2026, 10, 1), days=5))
    for day, n in per_day.items():
        assert n == Event.objects.filter(merchant=merchant, timestamp__date=day).count()
    assert sum(per_day.values()) == 60
