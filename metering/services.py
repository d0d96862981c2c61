"""Writes of the metering app: event ingestion and the pre-aggregated state it keeps current.

``events_ingest`` is the one way events are written (the API, seat events from
provisioning, demo data). It is set-based: plain-code validation, one query to
resolve every customer of the batch, one ``INSERT ... ON CONFLICT DO NOTHING
RETURNING`` (the unique constraint on ``(merchant, transaction_id)`` decides
duplicates, also between concurrent requests), then, in the same transaction,
one upsert per affected metric folds only the newly inserted events into the
usage buckets.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from atlas import db
from atlas.models import Merchant
from catalog.models import Metric
from customers.models import Customer
from metering.aggregation import (
    BUCKET_TABLE,
    EVENT_TABLE,
    Dialect,
    bucket_seconds_for,
    event_codes,
    group_by,
    match_sql,
    normalized_filters,
    value_sql,
)
from metering.models import Event, EventCount, MetricState, UsageBucket

MAX_ID_LENGTH = 255
# Advisory lock namespace ("METR"): ingestion holds it shared per merchant, a state rebuild exclusively.
STATE_LOCK = 0x4D455452
_EPOCH_PATTERN = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class EventResult:
    index: int
    status: str  # accepted | duplicate | rejected
    errors: dict[str, str] = field(default_factory=dict)
    event_id: int | None = None

    def as_dict(self, prefix: str | None = None) -> dict:
        out: dict = {"index": self.index, "status": self.status}
        if self.errors:
            if prefix is None:
                out["errors"] = dict(self.errors)
            else:
                head = f"{prefix}[{self.index}]"
                out["errors"] = {(f"{head}.{name}" if name else head): reason for name, reason in self.errors.items()}
        return out


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    results: list[EventResult] = field(default_factory=list)

    def as_dict(self, prefix: str | None = "events") -> dict:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "results": [result.as_dict(prefix) for result in self.results],
        }


@dataclass
class _Row:
    index: int
    transaction_id: str
    customer: str
    code: str
    timestamp: datetime
    properties: dict
    subscription: str
    customer_id: int | None = None


# --- validation (plain code: this is the hot path) -------------------------------------------------------------


def _string(payload: dict, name: str, errors: dict, *, required: bool) -> str:
    value = payload.get(name)
    if value is None or (not required and value == ""):
        if required:
            errors[name] = "is required"
        return ""
    if not isinstance(value, str):
        errors[name] = "must be a string"
        return ""
    if not value.strip():
        errors[name] = "must not be empty"
    elif len(value) > MAX_ID_LENGTH:
        errors[name] = f"must be at most {MAX_ID_LENGTH} characters"
    elif "\x00" in value:
        errors[name] = "must not contain NUL characters"
    return value


def _epoch(seconds: float | int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def parse_timestamp(value) -> datetime:
    """ISO 8601 (an offset-less time is UTC) or epoch seconds, as an aware UTC datetime; ValueError says why."""
    if isinstance(value, bool):
        raise ValueError("must be an ISO 8601 string or epoch seconds")
    try:
        if isinstance(value, int | float):
            if not math.isfinite(value):
                raise ValueError("must be a finite number of epoch seconds")
            instant = _epoch(value)
        elif isinstance(value, str):
            text = value.strip()
            if _EPOCH_PATTERN.match(text):
                instant = _epoch(float(text) if "." in text else int(text))
            else:
                instant = datetime.fromisoformat(text)
                if instant.tzinfo is None:
                    instant = instant.replace(tzinfo=UTC)
                instant = instant.astimezone(UTC)
        else:
            raise ValueError("must be an ISO 8601 string or epoch seconds")
    except (OverflowError, OSError):
        raise ValueError("is out of range") from None
    except ValueError as exc:
        if "epoch" in str(exc) or "ISO 8601" in str(exc):
            raise
        raise ValueError(f"{value!r} is not an ISO 8601 timestamp or epoch seconds") from None
    if instant < _EARLIEST:
        raise ValueError("must not be before 1970-01-01T00:00:00Z")
    return instant


def _properties(value, errors: dict) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors["properties"] = "must be an object"
        return {}
    for key, item in value.items():
        path = f"properties.{key}"
        if "\x00" in key:
            errors["properties"] = "property names must not contain NUL characters"
        elif isinstance(item, dict | list):
            errors[path] = "must be a string, number or boolean: nested values are not allowed"
        elif item is None:
            errors[path] = "must be a string, number or boolean, not null"
        elif isinstance(item, float) and not math.isfinite(item):
            errors[path] = "must be a finite number"
        elif isinstance(item, str) and ("\x00" in item or "\x1f" in item):
            errors[path] = "must not contain NUL or unit-separator characters"
        elif not isinstance(item, str | int | float | bool):
            errors[path] = "must be a string, number or boolean"
    return value


def _latest_allowed(received_at: datetime) -> datetime:
    return received_at + timedelta(seconds=settings.ATLAS_EVENT_FUTURE_TOLERANCE_SECONDS)


def validate_event(
    payload, received_at: datetime, index: int = 0, latest: datetime | None = None
) -> tuple[_Row | None, dict[str, str]]:
    """One event payload checked with plain code: (row, {}) or (None, {field: reason})."""
    if not isinstance(payload, dict):
        return None, {"": "must be an object"}
    errors: dict[str, str] = {}
    transaction_id = _string(payload, "transaction_id", errors, required=True)
    customer = _string(payload, "customer", errors, required=True)
    code = _string(payload, "code", errors, required=True)
    subscription = _string(payload, "subscription", errors, required=False)
    properties = _properties(payload.get("properties"), errors)
    timestamp = received_at
    raw = payload.get("timestamp")
    if raw is not None and raw != "":
        try:
            timestamp = parse_timestamp(raw)
        except ValueError as exc:
            errors["timestamp"] = str(exc)
        else:
            if timestamp > (latest or _latest_allowed(received_at)):
                errors["timestamp"] = "must not be more than 5 minutes in the future"
    if errors:
        return None, errors
    return _Row(index, transaction_id, customer, code, timestamp, properties, subscription), {}


# --- ingestion -------------------------------------------------------------------------------------------------


def events_ingest(*, merchant: Merchant, payloads: Sequence, received_at: datetime | None = None) -> IngestResult:
    """Store every valid event exactly once and report each payload by index.

    A ``transaction_id`` already known to the merchant (stored earlier, by a
    concurrent request, or earlier in the same batch) is a duplicate and is not
    stored again. Invalid payloads are rejected with their field errors and
    change nothing. Newly stored events update the usage buckets in the same
    transaction.
    """
    received_at = received_at or timezone.now()
    result = IngestResult(results=[EventResult(index, "rejected") for index in range(len(payloads))])
    rows: list[_Row] = []
    latest = _latest_allowed(received_at)
    for index, payload in enumerate(payloads):
        row, errors = validate_event(payload, received_at, index, latest)
        if row is None:
            result.results[index].errors = errors
        else:
            rows.append(row)

    customers = _customer_ids(merchant, {row.customer for row in rows})
    unique: dict[str, _Row] = {}
    for row in rows:
        row.customer_id = customers.get(row.customer)
        if row.customer_id is None:
            result.results[row.index].errors = {"customer": f"no customer with external_id {row.customer!r}"}
        elif row.transaction_id in unique:
            result.results[row.index].status = "duplicate"
        else:
            unique[row.transaction_id] = row

    if unique:
        ordered = sorted(unique.values(), key=lambda row: row.transaction_id)
        inserted = _store(merchant, ordered, received_at)
        for tid, row in unique.items():
            outcome = result.results[row.index]
            if tid in inserted:
                outcome.status, outcome.event_id = "accepted", inserted[tid]
            else:
                outcome.status = "duplicate"

    for outcome in result.results:
        if outcome.status == "accepted":
            result.accepted += 1
        elif outcome.status == "duplicate":
            result.duplicates += 1
        else:
            result.rejected += 1
    return result


def _customer_ids(merchant: Merchant, external_ids: set[str]) -> dict[str, int]:
    """Every customer of a batch in one query: {external_id: id}."""
    if not external_ids:
        return {}
    if connection.vendor == "postgresql":
        # A raw query: building ORM rows for a thousand ids costs more than the query itself.
        table = Customer._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT external_id, id FROM {table} WHERE merchant_id = %s AND external_id = ANY(%s)",
                [merchant.pk, list(external_ids)],
            )
            return dict(cursor.fetchall())
    return dict(
        Customer.objects.filter(merchant=merchant, external_id__in=external_ids).values_list("external_id", "id")
    )


def _store(merchant: Merchant, rows: list[_Row], received_at: datetime) -> dict[str, int]:
    """Insert the rows and fold the new ones into the current state, in one transaction; {transaction_id: id}.

    Rows come in transaction_id order so concurrent batches take the unique
    index's locks in the same order. A deadlock that slips through anyway (a
    metric created between two batches changes a statement's shape) is retried.
    """
    for attempt in range(3):
        try:
            with transaction.atomic():
                _lock_state(merchant.pk, exclusive=False)
                codes = {row.code for row in rows}
                metrics = _current_metrics(merchant, codes)
                if connection.vendor == "postgresql":
                    inserted = _store_postgres(merchant, rows, received_at, metrics)
                else:
                    inserted = _insert(merchant, rows, received_at)
                    by_tid = {row.transaction_id: row for row in rows}
                    new_events = [(event_id, by_tid[tid].code) for tid, event_id in inserted.items()]
                    _state_apply(new_events, metrics)
                _counts_apply(merchant.pk, [row.timestamp for row in rows if row.transaction_id in inserted])
                return inserted
        except (OperationalError, psycopg.errors.DeadlockDetected) as exc:
            # Django wraps its own cursors' errors; the raw psycopg cursor of _store_postgres raises directly.
            sqlstate = getattr(exc, "sqlstate", None) or getattr(exc.__cause__, "sqlstate", None)
            if attempt == 2 or sqlstate != "40P01":
                raise
    raise AssertionError("unreachable")


def _current_metrics(merchant: Merchant, codes: set[str]) -> list[tuple[Metric, int]]:
    """The metrics fed by ``codes`` whose state is current, with their bucket widths (read under the lock).

    A plain query (this runs for every request): the definition columns and the state's signature.
    """
    metric_table, state_table = Metric._meta.db_table, MetricState._meta.db_table
    text = "CAST({} AS text)" if connection.vendor == "postgresql" else "{}"
    sql = (
        f"SELECT m.id, m.code, {text.format('m.event_codes')}, m.aggregation, m.field, {text.format('m.filters')}, "
        f"{text.format('m.group_by')}, m.period, m.window_seconds, s.signature FROM {metric_table} m "
        f"LEFT JOIN {state_table} s ON s.metric_id = m.id WHERE m.merchant_id = %s ORDER BY m.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [merchant.pk])
        rows = cursor.fetchall()
    out = []
    for pk, code, codes_json, aggregation, field_name, filters, groups, period, window, signature in rows:
        metric_codes = json.loads(codes_json) if codes_json else []
        if signature is None or not set(map(str, metric_codes)) & codes:
            continue
        metric = Metric(
            id=pk, merchant_id=merchant.pk, code=code, event_codes=metric_codes, aggregation=aggregation,
            field=field_name, filters=json.loads(filters) if filters else {},
            group_by=json.loads(groups) if groups else [], period=period, window_seconds=window,
        )  # fmt: skip
        current, width = state_signature(metric)
        if signature == current:
            out.append((metric, width))
    return out


_INSERT_COLUMNS = (
    "merchant_id, customer_id, transaction_id, code, timestamp, properties, subscription_external_id, received_at"
)


def _store_postgres(
    merchant: Merchant, rows: list[_Row], received_at: datetime, metrics: list[tuple[Metric, int]]
) -> dict[str, int]:
    """One statement: the insert (from arrays, so the statement is the same for every batch and is prepared
    once per connection) and, as data-modifying CTEs over its RETURNING rows, every metric's bucket upsert."""
    d = Dialect()
    sql = (
        f"WITH new_events AS (INSERT INTO {EVENT_TABLE} ({_INSERT_COLUMNS}) "
        f"SELECT %s, c, t, k, ts, CAST(p AS jsonb), s, %s "
        f"FROM unnest(%b::bigint[], %b::text[], %b::text[], %b::timestamptz[], %b::text[], %b::text[]) "
        f"AS u(c, t, k, ts, p, s) "
        f"ON CONFLICT (merchant_id, transaction_id) DO NOTHING RETURNING *)"
    )
    params: list = [
        merchant.pk,
        received_at,
        [row.customer_id for row in rows],
        [row.transaction_id for row in rows],
        [row.code for row in rows],
        [row.timestamp for row in rows],
        [json.dumps(row.properties) for row in rows],
        [row.subscription for row in rows],
    ]
    for number, (metric, width) in enumerate(metrics):
        upsert, upsert_params = state_upsert_sql(d, metric, width, source="new_events")
        sql += f", state_{number} AS ({upsert})"
        params += upsert_params
    sql += " SELECT id, transaction_id FROM new_events"
    connection.ensure_connection()
    # Server-side binding: the arrays travel as parameters, not as quoted literals in the statement.
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return {tid: event_id for event_id, tid in cursor.fetchall()}


def _insert(merchant: Merchant, rows: list[_Row], received_at: datetime) -> dict[str, int]:
    """SQLite: one multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING."""
    ops = connection.ops
    properties_field = Event._meta.get_field("properties")
    received = ops.adapt_datetimefield_value(received_at)
    params: list = []
    for row in rows:
        params += [
            merchant.pk,
            row.customer_id,
            row.transaction_id,
            row.code,
            ops.adapt_datetimefield_value(row.timestamp),
            properties_field.get_db_prep_value(row.properties, connection),
            row.subscription,
            received,
        ]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        f"INSERT INTO {EVENT_TABLE} ({_INSERT_COLUMNS}) VALUES {values} "
        f"ON CONFLICT (merchant_id, transaction_id) DO NOTHING RETURNING id, transaction_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {tid: event_id for event_id, tid in cursor.fetchall()}


# --- pre-aggregated state --------------------------------------------------------------------------------------


def state_signature(metric: Metric) -> tuple[str, int]:
    """A digest of everything a metric's buckets depend on, and their width in seconds."""
    key = json.dumps(
        [metric.event_codes, metric.field, metric.filters, metric.group_by, metric.aggregation, metric.period,
         metric.window_seconds], sort_keys=True, default=str,
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
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest(), width


def _lock_state(merchant_id: int, *, exclusive: bool) -> None:
    # SQLite runs one writer at a time (IMMEDIATE transactions), which gives the same guarantee.
    if connection.vendor == "postgresql":
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {function}(%s, %s)", [STATE_LOCK, merchant_id % 2**31])


def _state_apply(new_events: list[tuple[int, str]], metrics: list[tuple[Metric, int]]) -> None:
    """Fold newly inserted events into the buckets of every metric whose state is current.

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


def _state_of(metric: Metric) -> MetricState | None:
    try:
        return metric.usage_state
    except MetricState.DoesNotExist:
        return None


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
            f"ROW_NUMBER() OVER (PARTITION BY e.customer_id, {bucket}, e.subscription_external_id, {gkey} "
            f"ORDER BY e.timestamp DESC, e.id DESC)"
        )
        rank_params = gkey_params
        latest_columns = (
            "MAX(CASE WHEN s.rn = 1 THEN s.ts END), MAX(CASE WHEN s.rn = 1 THEN s.id END), "
            "MAX(CASE WHEN s.rn = 1 THEN s.num END)"
        )
    else:
        rank, rank_params, latest_columns = "1", [], "NULL, NULL, NULL"
    weighted = "SUM(s.num * (s.ep - s.bucket))" if aggregation == Metric.Aggregation.WEIGHTED_SUM else "NULL"
    inner = (
        f"SELECT e.customer_id AS customer_id, {bucket} AS bucket, e.subscription_external_id AS tag, "
        f"{gkey} AS gkey, {value} AS val, {number} AS num, {d.epoch('e.timestamp')} AS ep, e.timestamp AS ts, "
        f"e.id AS id, {rank} AS rn FROM {source} e WHERE {where}"
    )
    inner_params = gkey_params + value_params + number_params + rank_params + params
    t = BUCKET_TABLE
    newer = (
        f"excluded.latest_at IS NOT NULL AND ({t}.latest_at IS NULL OR excluded.latest_at > {t}.latest_at "
        f"OR (excluded.latest_at = {t}.latest_at AND excluded.latest_id > {t}.latest_id))"
    )

    def added(column: str) -> str:
        return (
            f"{column} = CASE WHEN {t}.{column} IS NULL THEN excluded.{column} "
            f"WHEN excluded.{column} IS NULL THEN {t}.{column} ELSE {t}.{column} + excluded.{column} END"
        )

    sql = (
        f"INSERT INTO {t} (metric_id, customer_id, bucket, subscription_external_id, group_key, value, "
        f"events_count, total, max_value, min_value, weighted, latest_at, latest_id, latest_value) "
        f"SELECT %s, s.customer_id, s.bucket, s.tag, s.gkey, s.val, COUNT(*), SUM(s.num), MAX(s.num), MIN(s.num), "
        f"{weighted}, {latest_columns} FROM ({inner}) s WHERE 1 = 1 "
        f"GROUP BY s.customer_id, s.bucket, s.tag, s.gkey, s.val "
        f"ORDER BY s.customer_id, s.bucket, s.tag, s.gkey, s.val "
        f"ON CONFLICT (metric_id, customer_id, bucket, subscription_external_id, group_key, value) DO UPDATE SET "
        f"events_count = {t}.events_count + excluded.events_count, {added('total')}, {added('weighted')}, "
        f"max_value = CASE WHEN {t}.max_value IS NULL OR excluded.max_value > {t}.max_value "
        f"THEN excluded.max_value ELSE {t}.max_value END, "
        f"min_value = CASE WHEN {t}.min_value IS NULL OR excluded.min_value < {t}.min_value "
        f"THEN excluded.min_value ELSE {t}.min_value END, "
        f"latest_value = CASE WHEN {newer} THEN excluded.latest_value ELSE {t}.latest_value END, "
        f"latest_id = CASE WHEN {newer} THEN excluded.latest_id ELSE {t}.latest_id END, "
        f"latest_at = CASE WHEN {newer} THEN excluded.latest_at ELSE {t}.latest_at END"
    )
    return sql, [metric.pk, *inner_params]


def metric_state_rebuild(*, metric: Metric, force: bool = False) -> MetricState:
    """Rebuild a metric's buckets from its raw events (set-based: one DELETE, one INSERT ... SELECT).

    Used when a metric is first read, or read after its definition changed. It
    holds the merchant's state lock exclusively, so it waits for in-flight
    ingestion and ingestion waits for it; no event is missed or counted twice.
    """
    with transaction.atomic():
        _lock_state(metric.merchant_id, exclusive=True)
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


def metric_state_ensure(*, metric: Metric, stored_signature: str | None = None) -> int:
    """The bucket width of a metric whose state is current, rebuilding it first if it is missing or stale.

    ``stored_signature``: the state's signature as the caller just read it (saves the query when current).
    """
    signature, width = state_signature(metric)
    if stored_signature != signature:
        found = db.row(_STORED_SIGNATURE_SQL, [metric.pk])
        if found is None or found[0] != signature:
            metric_state_rebuild(metric=metric)
    return width


_STORED_SIGNATURE_SQL = f"SELECT signature FROM {MetricState._meta.db_table} WHERE metric_id = %s"


# --- events per quarter hour (the dashboard's events-per-day chart) -------------------------------------------


def _bucket_of(instant: datetime) -> datetime:
    epoch = int(instant.timestamp())
    return datetime.fromtimestamp(epoch - epoch % EventCount.SECONDS, tz=UTC)


def _counts_apply(merchant_id: int, timestamps: list[datetime]) -> None:
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


def event_counts_rebuild(*, merchant: Merchant) -> None:
    """Recount a merchant's quarter-hour event counts from the raw events, in SQL (after a bulk load that
    bypassed ingestion, and in the migration that introduced the counts)."""
    sql = EVENT_COUNTS_REBUILD_SQL[connection.vendor].format(
        counts=EventCount._meta.db_table, events=Event._meta.db_table
    )
    with transaction.atomic(), connection.cursor() as cursor:
        EventCount.objects.filter(merchant=merchant).delete()
        cursor.execute(sql, [merchant.pk])
