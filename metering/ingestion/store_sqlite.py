"""Storing a batch of validated events on SQLite: a few statements in its one-writer transaction.

SQLite runs one writer at a time (``IMMEDIATE`` transactions), which serves as the
merchant's state lock of PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from atlas.models import Merchant
from customers.models import Customer
from metering.aggregation import EVENT_TABLE
from metering.counts import counts_apply
from metering.ingestion.keys import KeysNotCurrent, current_keys
from metering.ingestion.validation import EventRow
from metering.models import Event, MetricState
from metering.state import fed_by, metric_states, state_apply

INSERT_COLUMNS = (
    "merchant_id, customer_id, transaction_id, code, timestamp, properties, subscription_external_id, received_at"
)


def store_sqlite(merchant: Merchant, rows: Sequence[EventRow], keys: list[int]) -> tuple[dict, dict]:
    """Inside the caller's transaction: confirm the keys, resolve the customers, insert the first row of each
    new transaction_id (in transaction_id order), fold them into the current states and the counts."""
    if keys:
        current = current_keys(keys)
        if len(current) != len(keys):
            raise KeysNotCurrent(current)
    external_ids = sorted({row.customer for row in rows})
    customers = dict(
        Customer.objects.filter(merchant=merchant, external_id__in=external_ids).values_list("external_id", "id")
    )
    first: dict[str, EventRow] = {}
    for row in rows:
        if row.customer in customers:
            first.setdefault(row.transaction_id, row)
    if not first:
        return customers, {}
    ordered = sorted(first.values(), key=lambda row: row.transaction_id)
    inserted = _insert(merchant, ordered, customers)
    codes = {row.code for row in ordered}
    current, stale = metric_states(merchant.pk)
    metrics = [(metric, width) for metric, width in current if fed_by(metric, codes)]
    state_apply([(event_id, first[tid].code) for tid, event_id in inserted.items()], metrics)
    for metric, signature in stale:  # these events are not in those states: never let them count as current
        if fed_by(metric, codes):
            MetricState.objects.filter(metric_id=metric.pk, signature=signature).delete()
    counts_apply(merchant.pk, [first[tid].timestamp for tid in inserted])
    return customers, inserted


def _insert(merchant: Merchant, rows: list[EventRow], customers: dict[str, int]) -> dict[str, int]:
    """One multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING."""
    ops = connection.ops
    properties_field = Event._meta.get_field("properties")
    params: list = []
    for row in rows:
        params += [
            merchant.pk,
            customers[row.customer],
            row.transaction_id,
            row.code,
            ops.adapt_datetimefield_value(row.timestamp),
            properties_field.get_db_prep_value(row.properties, connection),
            row.subscription,
            ops.adapt_datetimefield_value(row.received_at),
        ]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        f"INSERT INTO {EVENT_TABLE} ({INSERT_COLUMNS}) VALUES {values} "
        f"ON CONFLICT (merchant_id, transaction_id) DO NOTHING RETURNING id, transaction_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {tid: event_id for event_id, tid in cursor.fetchall()}
