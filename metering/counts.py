"""Events per quarter hour (``EventCount``): what the dashboard's events-per-day chart reads.

Ingestion adds its newly inserted events (never duplicates) to their quarter-hour
counts in the same transaction; ``counts_rebuild`` recounts a merchant from the raw
events after a bulk load that bypassed ingestion.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from django.db import connection, transaction

from metering.models import Event, EventCount

# PostgreSQL: a data-modifying CTE of the ingest statement, over its ``new_events`` CTE.
COUNTS_CTE_SQL = (
    f"INSERT INTO {EventCount._meta.db_table} (merchant_id, bucket, count) "
    f"SELECT %s, to_timestamp(floor(extract(epoch FROM e.timestamp) / {EventCount.SECONDS}) * {EventCount.SECONDS}), "
    f"count(*) FROM new_events e GROUP BY 2 ORDER BY 2 "
    f"ON CONFLICT (merchant_id, bucket) DO UPDATE SET count = {EventCount._meta.db_table}.count + excluded.count"
)


def _bucket_of(instant: datetime) -> datetime:
    epoch = int(instant.timestamp())
    return datetime.fromtimestamp(epoch - epoch % EventCount.SECONDS, tz=UTC)


def counts_apply(merchant_id: int, timestamps: list[datetime]) -> None:
    """Add newly inserted events to their quarter-hour counts (only new ones: duplicates never count twice).

    Buckets are upserted in sorted order so concurrent batches lock the same rows in the same order.
    """
    if not timestamps:
        return
    per_bucket = Counter(_bucket_of(instant) for instant in timestamps)
    table = EventCount._meta.db_table
    sql = (
        f"INSERT INTO {table} (merchant_id, bucket, count) VALUES (%s, %s, %s) "
        f"ON CONFLICT (merchant_id, bucket) DO UPDATE SET count = {table}.count + excluded.count"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(merchant_id, bucket, n) for bucket, n in sorted(per_bucket.items())])


EVENT_COUNTS_REBUILD_SQL = {
    "postgresql": (
        "INSERT INTO {counts} (merchant_id, bucket, count) "
        "SELECT merchant_id, to_timestamp(floor(extract(epoch FROM timestamp) / 900) * 900), count(*) "
        "FROM {events} WHERE merchant_id = %s GROUP BY 1, 2"
    ),
    "sqlite": (
        "INSERT INTO {counts} (merchant_id, bucket, count) "
        "SELECT merchant_id, datetime(CAST(strftime('%%s', timestamp) AS INTEGER) / 900 * 900, 'unixepoch'), "
        "count(*) FROM {events} WHERE merchant_id = %s GROUP BY 1, 2"
    ),
}


def counts_rebuild(merchant_id: int) -> None:
    """Recount a merchant's quarter-hour event counts from the raw events, in SQL."""
    sql = EVENT_COUNTS_REBUILD_SQL[connection.vendor].format(
        counts=EventCount._meta.db_table, events=Event._meta.db_table
    )
    with transaction.atomic(), connection.cursor() as cursor:
        EventCount.objects.filter(merchant_id=merchant_id).delete()
        cursor.execute(sql, [merchant_id])
