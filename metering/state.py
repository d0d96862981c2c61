"""Pre-aggregated metric state: the usage buckets ingestion keeps current and reads sum (docs/metering.md).

A metric's buckets are complete for one definition of it, recorded in its
``MetricState`` by a signature (``state_signature``). Ingestion folds new events
into the buckets of metrics whose state is current (``state_upsert_sql`` over
just the new rows); a rebuild recomputes them from the raw events with the same
statement over every event. The merchant's advisory state lock orders the two:
ingestion holds it shared, a rebuild exclusively.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence, Set
from functools import cache

from django.db import connection, transaction
from django.utils import timezone

from atlas import db
from catalog.models import Metric
from metering.aggregation import (
    BUCKET_TABLE,
    EVENT_TABLE,
    Dialect,
    bucket_seconds_for,
    event_codes,
    group_by,
    match_sql,
    normalized_filters,
    user_key_sql,
    value_sql,
)
from metering.models import MetricState, UsageBucket

# Advisory lock namespace ("METR"): ingestion holds it shared per merchant, a state rebuild exclusively.
STATE_LOCK = 0x4D455452
LOCK_SQL = {True: "SELECT pg_advisory_xact_lock(%s, %s)", False: "SELECT pg_advisory_xact_lock_shared(%s, %s)"}


def state_signature(metric: Metric) -> tuple[str, int]:
    """A digest of everything a metric's buckets depend on, and their width in seconds."""
    key = json.dumps(
        [metric.event_codes, metric.field, metric.filters, metric.group_by, metric.aggregation, metric.period,
         metric.window_seconds, metric.user_buckets], sort_keys=True, default=str,
    )  # fmt: skip
    found = _SIGNATURES.get(key)
    if found is None:
        found = _SIGNATURES[key] = _signature(metric)
        if len(_SIGNATURES) > 10_000:  # bounded: definitions are few, but never let it grow without end
            _SIGNATURES.clear()
            _SIGNATURES[key] = found
    return found


_SIGNATURES: dict[str, tuple[str, int]] = {}


def _signature(metric: Metric) -> tuple[str, int]:
    width = bucket_seconds_for(metric)
    definition = {
        "codes": event_codes(metric),
        "field": metric.field or "",
        "filters": normalized_filters(metric),
        "group_by": group_by(metric),
        "aggregation": metric.aggregation,
        "bucket_seconds": width,
    }
    if metric.user_buckets:  # only then: the states of every other metric keep their signatures
        definition["user_buckets"] = True
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest(), width


def fed_by(metric: Metric, codes: Set[str]) -> bool:
    """Whether events of these codes feed the metric."""
    return not codes.isdisjoint(event_codes(metric))


def lock_state(merchant_id: int, *, exclusive: bool) -> None:
    """Take the merchant's state lock for the current transaction (PostgreSQL; see the module docstring)."""
    # SQLite runs one writer at a time (IMMEDIATE transactions), which gives the same guarantee.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(LOCK_SQL[exclusive], [STATE_LOCK, merchant_id % 2**31])


# Every column the bucket upserts read: a deferred one would cost a query per metric on the hot path.
_METRIC_STATES = db.Select(
    (
        "m",
        Metric,
        [
            "merchant", "code", "event_codes", "aggregation", "field", "filters", "group_by", "period",
            "window_seconds", "user_buckets",
        ],
    ),
    ("s", MetricState, ["signature"]),
)


@cache
def _metric_states_sql() -> str:
    return (
        f"SELECT {_METRIC_STATES.columns()} FROM {Metric._meta.db_table} m "
        f"LEFT JOIN {MetricState._meta.db_table} s ON s.metric_id = m.id WHERE m.merchant_id = %s ORDER BY m.id"
    )


def metric_states(merchant_id: int) -> tuple[list[tuple[Metric, int]], list[tuple[Metric, str]]]:
    """The merchant's metrics whose state is current (with their bucket widths), and those whose state is
    stale (with the stored signature): their definition changed since it was built."""
    current, stale = [], []
    for values in db.rows(_metric_states_sql(), [merchant_id]):
        metric, state = _METRIC_STATES.instances(values)
        if state is None:
            continue
        expected, width = state_signature(metric)
        if state.signature == expected:
            current.append((metric, width))
        else:
            stale.append((metric, state.signature))
    return current, stale


def state_apply(new_events: list[tuple[int, str]], metrics: list[tuple[Metric, int]]) -> None:
    """Fold newly inserted events ``(id, code)`` into the buckets of every metric whose state is current.

    Runs under the merchant's shared state lock, so a rebuild (exclusive) either
    finished before (and we see its state) or starts after this commit (and
    sees these events). A metric without current state is skipped: the rebuild
    a reader triggers will include these events.
    """
    d = Dialect()
    for metric, width in metrics:
        metric_codes = set(event_codes(metric))
        ids = [event_id for event_id, code in new_events if code in metric_codes]
        if not ids:
            continue
        sql, params = state_upsert_sql(d, metric, width, ids)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


# The bucket columns each aggregation reads (besides events_count), see metering.selectors.
_STATE_COLUMNS = {
    Metric.Aggregation.COUNT: (),
    Metric.Aggregation.UNIQUE_COUNT: (),
    Metric.Aggregation.SUM: ("total",),
    Metric.Aggregation.MAX: ("max_value",),
    Metric.Aggregation.MIN: ("min_value",),
    Metric.Aggregation.LATEST: (),
    Metric.Aggregation.WEIGHTED_SUM: ("total", "weighted"),
}


def state_upsert_sql(
    d: Dialect, metric: Metric, width: int, ids: Sequence[int] | None = None, source: str = EVENT_TABLE
) -> tuple[str, list]:
    """INSERT ... SELECT the bucket aggregates of the metric's events (only ``ids`` if given), merged on conflict.

    ``source`` is the events table or a CTE of just-inserted events with the same columns.
    """
    aggregation = metric.aggregation
    where, params = match_sql(d, metric, None)
    if ids is not None:
        id_sql, id_params = d.id_in("e.id", ids)
        where, params = f"{where} AND {id_sql}", params + id_params
    gkey, gkey_params = d.group_key("e", group_by(metric))
    ukey, ukey_params = user_key_sql(d, metric, "e")
    if aggregation == Metric.Aggregation.UNIQUE_COUNT:
        value, value_params = value_sql(d, metric, "e")
        number, number_params = d.null_number, []
    else:
        value, value_params = "''", []
        number, number_params = value_sql(d, metric, "e")
    bucket = d.bucket("e.timestamp", width)
    latest = aggregation == Metric.Aggregation.LATEST
    if latest:
        rank = (
            f"ROW_NUMBER() OVER (PARTITION BY e.customer_id, {bucket}, e.subscription_external_id, {gkey}, {ukey} "
            f"ORDER BY e.timestamp DESC, e.id DESC)"
        )
        rank_params = gkey_params + ukey_params
        latest_columns = (
            "MAX(CASE WHEN s.rn = 1 THEN s.ts END), MAX(CASE WHEN s.rn = 1 THEN s.id END), "
            "MAX(CASE WHEN s.rn = 1 THEN s.num END)"
        )
    else:
        rank, rank_params, latest_columns = "1", [], "NULL, NULL, NULL"
    inner = (
        f"SELECT e.customer_id AS customer_id, {bucket} AS bucket, e.subscription_external_id AS tag, "
        f"{gkey} AS gkey, {ukey} AS ukey, {value} AS val, {number} AS num, {d.epoch('e.timestamp')} AS ep, "
        f"e.timestamp AS ts, e.id AS id, {rank} AS rn FROM {source} e WHERE {where}"
    )
    inner_params = gkey_params + ukey_params + value_params + number_params + rank_params + params
    # Only the columns the aggregation reads are computed and merged; the others stay NULL. The statement
    # stays short, which also keeps it under psycopg's 4 kB cache limit for parsed statements.
    used = _STATE_COLUMNS[aggregation]
    computed = {
        "total": "SUM(s.num)", "max_value": "MAX(s.num)", "min_value": "MIN(s.num)",
        "weighted": "SUM(s.num * (s.ep - s.bucket))",
    }  # fmt: skip
    selected = ", ".join(computed[column] if column in used else "NULL" for column in computed)
    merged = ["events_count = b.events_count + excluded.events_count"]
    for column in ("total", "weighted"):
        if column in used:
            merged.append(f"{column} = COALESCE(b.{column} + excluded.{column}, b.{column}, excluded.{column})")
    if "max_value" in used:
        merged.append("max_value = CASE WHEN b.max_value IS NULL OR excluded.max_value > b.max_value "
                      "THEN excluded.max_value ELSE b.max_value END")  # fmt: skip
    if "min_value" in used:
        merged.append("min_value = CASE WHEN b.min_value IS NULL OR excluded.min_value < b.min_value "
                      "THEN excluded.min_value ELSE b.min_value END")  # fmt: skip
    if latest:
        newer = (
            "excluded.latest_at IS NOT NULL AND (b.latest_at IS NULL OR excluded.latest_at > b.latest_at "
            "OR (excluded.latest_at = b.latest_at AND excluded.latest_id > b.latest_id))"
        )
        merged += [f"{column} = CASE WHEN {newer} THEN excluded.{column} ELSE b.{column} END"
                   for column in ("latest_value", "latest_id", "latest_at")]  # fmt: skip
    sql = (
        f"INSERT INTO {BUCKET_TABLE} AS b (metric_id, customer_id, bucket, subscription_external_id, group_key, "
        f"user_key, value, events_count, total, max_value, min_value, weighted, latest_at, latest_id, latest_value) "
        f"SELECT %s, s.customer_id, s.bucket, s.tag, s.gkey, s.ukey, s.val, COUNT(*), {selected}, {latest_columns} "
        f"FROM ({inner}) s WHERE 1 = 1 GROUP BY s.customer_id, s.bucket, s.tag, s.gkey, s.ukey, s.val "
        f"ORDER BY s.customer_id, s.bucket, s.tag, s.gkey, s.ukey, s.val "
        f"ON CONFLICT (metric_id, customer_id, bucket, subscription_external_id, group_key, user_key, value) "
        f"DO UPDATE SET {', '.join(merged)}"
    )
    return sql, [metric.pk, *inner_params]


def state_rebuild(*, metric: Metric, force: bool = False) -> MetricState:
    """Rebuild a metric's buckets from its raw events (set-based: one DELETE, one INSERT ... SELECT).

    It holds the merchant's state lock exclusively, so it waits for in-flight
    ingestion and ingestion waits for it; no event is missed or counted twice.
    """
    with transaction.atomic():
        lock_state(metric.merchant_id, exclusive=True)
        metric = Metric.objects.get(pk=metric.pk)
        signature, width = state_signature(metric)
        state = MetricState.objects.filter(metric=metric).first()
        if state is not None and state.signature == signature and not force:
            return state  # someone rebuilt it while we waited for the lock
        UsageBucket.objects.filter(metric=metric).delete()
        sql, params = state_upsert_sql(Dialect(), metric, width)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        state, _ = MetricState.objects.update_or_create(
            metric=metric,
            defaults={
                "merchant_id": metric.merchant_id,
                "signature": signature,
                "bucket_seconds": width,
                "built_at": timezone.now(),
            },
        )
        return state


def state_signature_stored(metric_id: int) -> str | None:
    """The signature of the metric's state as stored, or None without a state."""
    found = db.row(_STORED_SIGNATURE_SQL, [metric_id])
    return None if found is None else found[0]


_STORED_SIGNATURE_SQL = f"SELECT signature FROM {MetricState._meta.db_table} WHERE metric_id = %s"
