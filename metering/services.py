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
from collections.abc import Collection, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache

import psycopg
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from atlas import db
from atlas.models import ApiKey, Merchant
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
class EventRow:
    """One validated event, ready to store; ``index`` is its position in the request (or group)."""

    index: int
    transaction_id: str
    customer: str
    code: str
    timestamp: datetime
    properties: dict
    subscription: str
    received_at: datetime


class KeysNotCurrent(Exception):
    """Some API keys the ingestion was asked to confirm are revoked or deleted: nothing was stored.

    ``current`` holds the ids of those still current.
    """

    def __init__(self, current: set[int] | None):
        super().__init__(current)
        self.current = current


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
) -> tuple[EventRow | None, dict[str, str]]:
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
    return EventRow(index, transaction_id, customer, code, timestamp, properties, subscription, received_at), {}


# --- ingestion -------------------------------------------------------------------------------------------------


def events_ingest(
    *, merchant: Merchant, payloads: Sequence, received_at: datetime | None = None, keys: Collection[int] = ()
) -> IngestResult:
    """Store every valid event exactly once and report each payload by index.

    A ``transaction_id`` already known to the merchant (stored earlier, by a
    concurrent request, or earlier in the same batch) is a duplicate and is not
    stored again. Invalid payloads, and events of unknown customers, are
    rejected with their field errors and change nothing. Newly stored events
    update the usage buckets and event counts in the same transaction.

    ``keys``: API key ids to confirm current (not revoked, not deleted) in the same
    transaction; if one is not, nothing is stored and ``KeysNotCurrent`` is raised.
    """
    received_at = received_at or timezone.now()
    result = IngestResult(results=[EventResult(index, "rejected") for index in range(len(payloads))])
    rows: list[EventRow] = []
    latest = _latest_allowed(received_at)
    for index, payload in enumerate(payloads):
        row, errors = validate_event(payload, received_at, index, latest)
        if row is None:
            result.results[index].errors = errors
        else:
            rows.append(row)
    if rows:
        events_store(merchant=merchant, rows=rows, results=result.results, keys=keys)
    for outcome in result.results:
        if outcome.status == "accepted":
            result.accepted += 1
        elif outcome.status == "duplicate":
            result.duplicates += 1
        else:
            result.rejected += 1
    return result


def events_store(
    *, merchant: Merchant, rows: Sequence[EventRow], results: Sequence[EventResult], keys: Collection[int] = ()
) -> None:
    """Store validated rows in one transaction and fill ``results[row.index]`` for each (see ``events_ingest``).

    In input order, the first row of a transaction_id with a known customer is the one stored (unless the
    merchant already has that transaction_id); later ones are duplicates.
    """
    customers, inserted = _store(merchant, rows, keys)
    claimed: set[str] = set()
    for row in rows:
        outcome = results[row.index]
        if row.customer not in customers:
            outcome.errors = {"customer": f"no customer with external_id {row.customer!r}"}
        elif row.transaction_id in inserted and row.transaction_id not in claimed:
            claimed.add(row.transaction_id)
            outcome.status, outcome.event_id = "accepted", inserted[row.transaction_id]
        else:
            outcome.status = "duplicate"


def _store(merchant: Merchant, rows: Sequence[EventRow], keys: Collection[int]) -> tuple[dict, dict]:
    """Resolve the customers, insert the new events and fold them into the state, in one transaction.

    Returns the batch's known customers ``{external_id: id}`` and the inserted events
    ``{transaction_id: id}``: of the rows sharing a transaction_id, the first with a known customer is
    inserted, unless the merchant already has that transaction_id. Rows are inserted in transaction_id
    order so concurrent batches take the unique index's locks in the same order; a deadlock that slips
    through anyway (a metric created between two batches changes a statement's shape) is retried.
    """
    keys = sorted(set(keys))
    for attempt in range(4):
        try:
            if connection.vendor == "postgresql":
                if not connection.in_atomic_block:
                    return _store_postgres(merchant, rows, keys, own_transaction=True)
                with transaction.atomic():  # a savepoint in the caller's transaction
                    return _store_postgres(merchant, rows, keys, own_transaction=False)
            with transaction.atomic():
                return _store_sqlite(merchant, rows, keys)
        except KeysNotCurrent as exc:
            if exc.current is None:
                raise KeysNotCurrent(_current_keys(keys)) from None
            raise
        except _StaleDefinitions:
            _DEFINITIONS.pop(merchant.pk, None)  # rolled back; read them again and retry
            if attempt == 3:
                raise
        except (OperationalError, psycopg.errors.DeadlockDetected) as exc:
            # Django wraps its own cursors' errors; the raw psycopg cursor of _store_postgres raises directly.
            sqlstate = getattr(exc, "sqlstate", None) or getattr(exc.__cause__, "sqlstate", None)
            if attempt == 3 or sqlstate != "40P01":
                raise
    raise AssertionError("unreachable")


_LOCK_SQL = {True: "SELECT pg_advisory_xact_lock(%s, %s)", False: "SELECT pg_advisory_xact_lock_shared(%s, %s)"}
_CURRENT_KEYS_SQL = f"SELECT id FROM {ApiKey._meta.db_table} WHERE {{ids}} AND revoked_at IS NULL"


def _current_keys(keys: Sequence[int]) -> set[int]:
    """The ids among ``keys`` of API keys still current (not revoked, not deleted)."""
    where, params = Dialect().id_in("id", keys)
    return {pk for (pk,) in db.rows(_CURRENT_KEYS_SQL.format(ids=where), params)}


# Raised by atlas_ingest_guard (migration 0005) inside the ingest statement, with one of these messages.
GUARD_SQLSTATE = "AT001"
_GUARD_STALE, _GUARD_KEYS = "stale metric definitions", "API key not current"


_INSERT_COLUMNS = (
    "merchant_id, customer_id, transaction_id, code, timestamp, properties, subscription_external_id, received_at"
)


_COUNTS_SQL = (
    f"INSERT INTO {EventCount._meta.db_table} (merchant_id, bucket, count) "
    f"SELECT %s, to_timestamp(floor(extract(epoch FROM e.timestamp) / {EventCount.SECONDS}) * {EventCount.SECONDS}), "
    f"count(*) FROM new_events e GROUP BY 2 ORDER BY 2 "
    f"ON CONFLICT (merchant_id, bucket) DO UPDATE SET count = {EventCount._meta.db_table}.count + excluded.count"
)


_STALE_DELETE_SQL = (
    f"DELETE FROM {MetricState._meta.db_table} WHERE (metric_id, signature) IN "
    f"(SELECT * FROM unnest(%b::bigint[], %b::text[]))"
)

_INSERT_SQL = (
    f"WITH input AS (SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::timestamptz[], "
    f"%b::text[], %b::text[], %b::timestamptz[]) WITH ORDINALITY AS u(customer, t, k, ts, p, s, r, n)), "
    f"known AS (SELECT external_id, id FROM {Customer._meta.db_table} WHERE merchant_id = %s "
    f"AND external_id = ANY(%b::text[])), "
    f"new_events AS (INSERT INTO {EVENT_TABLE} ({_INSERT_COLUMNS}) "
    f"SELECT DISTINCT ON (u.t) %s, c.id, u.t, u.k, u.ts, CAST(u.p AS jsonb), u.s, u.r "
    f"FROM input u JOIN known c ON c.external_id = u.customer ORDER BY u.t, u.n "
    f"ON CONFLICT (merchant_id, transaction_id) DO NOTHING RETURNING *), "
    f"counts AS ({_COUNTS_SQL})"
)


class _StaleDefinitions(Exception):
    """The metric definitions or states changed since this process read them: roll back, read them again."""


@dataclass(frozen=True)
class _Definitions:
    """A merchant's metric definitions as this process last read them, with the digest they were read under.

    ``digest`` is ``_DIGEST_SQL``'s md5 over every metric's definition columns and state signature. The
    insert statement computes it again under the state lock: equal digests mean the definitions and states
    are the ones the cached bucket upserts were built for.
    """

    digest: str
    metrics: list[tuple[Metric, int]]
    stale: list[tuple[Metric, str]]
    statements: dict = field(default_factory=dict)  # {event codes: (insert statement, its metric params)}

    def statement(self, codes: frozenset[str]) -> tuple[str, list]:
        """The insert statement for a batch of these codes: the bucket upserts of the metrics they feed."""
        found = self.statements.get(codes)
        if found is None:
            d = Dialect()
            sql, params = _INSERT_SQL, []
            number = 0
            for metric, width in self.metrics:
                if _fed_by(metric, codes):
                    upsert, upsert_params = state_upsert_sql(d, metric, width, source="new_events")
                    sql += f", state_{number} AS ({upsert})"
                    params += upsert_params
                    number += 1
            stale = [(metric.pk, signature) for metric, signature in self.stale if _fed_by(metric, codes)]
            if stale:  # these events are not in those states: a later definition must not find them current
                sql += f", stale AS ({_STALE_DELETE_SQL})"
                params += [[pk for pk, _ in stale], [signature for _, signature in stale]]
            sql += (
                f" SELECT 0, transaction_id, id FROM new_events UNION ALL SELECT 1, external_id, id FROM known "
                f"UNION ALL SELECT 2, NULL, atlas_ingest_guard(({_DIGEST_SQL}) = %s, '{_GUARD_STALE}') "
                f"+ atlas_ingest_guard((SELECT count(*) FROM ({_CURRENT_KEYS_SQL.format(ids='id = ANY(%s)')}) k) "
                f"= cardinality(%s::bigint[]), '{_GUARD_KEYS}')"
            )
            if len(self.statements) > 64:  # bounded: batches mix few distinct sets of codes
                self.statements.clear()
            found = self.statements[codes] = (sql, params)
        return found


_DEFINITIONS: dict[int, _Definitions] = {}

_DIGEST_SQL = (
    f"SELECT COALESCE(md5(string_agg(CAST(ROW(m.id, m.event_codes, m.aggregation, m.field, m.filters, m.group_by, "
    f"m.period, m.window_seconds, s.signature) AS text), ',' ORDER BY m.id)), '') "
    f"FROM {Metric._meta.db_table} m LEFT JOIN {MetricState._meta.db_table} s ON s.metric_id = m.id "
    f"WHERE m.merchant_id = %s"
)


def _definitions(merchant: Merchant) -> _Definitions:
    found = _DEFINITIONS.get(merchant.pk)
    if found is None:
        # The digest first: definitions read after it are as new or newer, and a newer one only makes the
        # statement's check fail and the cache be read again.
        (digest,) = db.row(_DIGEST_SQL, [merchant.pk])
        found = _Definitions(digest, *_metric_states(merchant))
        if len(_DEFINITIONS) > 10_000:  # bounded: one entry per merchant that ingested through this process
            _DEFINITIONS.clear()
        _DEFINITIONS[merchant.pk] = found
    return found


def _store_postgres(
    merchant: Merchant, rows: Sequence[EventRow], keys: list[int], *, own_transaction: bool
) -> tuple[dict, dict]:
    """One round trip: ``BEGIN``, the shared state lock, one statement and ``COMMIT``, pipelined.

    The statement resolves the customers, inserts the events (from arrays, so its text is the same for
    every batch and it is prepared once per connection) and, as data-modifying CTEs over the inserted
    rows, upserts the quarter-hour event counts and the buckets of every current metric the events feed.
    The metric definitions come from this process's cache. Nothing needs to be read before the commit:
    the statement itself fails (``atlas_ingest_guard``) if the merchant's definitions and states, as seen
    under the lock, are not the ones the cache was read under (then it is retried with fresh ones), or if
    an API key to confirm is revoked or deleted. A failed statement makes the pipelined ``COMMIT`` a no-op,
    and the transaction is rolled back here. Row locks (bucket and count rows) are held only while
    PostgreSQL runs the statement and the commit, never while this process waits for its next turn.

    ``own_transaction=False``: the caller holds a transaction (a savepoint of it wraps this call).
    """
    definitions = _definitions(merchant)
    sql, metric_params = definitions.statement(frozenset(row.code for row in rows))
    params: list = [
        [row.customer for row in rows],
        [row.transaction_id for row in rows],
        [row.code for row in rows],
        [row.timestamp for row in rows],
        [json.dumps(row.properties) for row in rows],
        [row.subscription for row in rows],
        [row.received_at for row in rows],
        merchant.pk,
        sorted({row.customer for row in rows}),
        merchant.pk,
        merchant.pk,
        *metric_params,
        merchant.pk,
        definitions.digest,
        keys,
        keys,
    ]
    connection.ensure_connection()
    raw = connection.connection
    try:
        # Server-side binding: the arrays travel as parameters, not as quoted literals in the statement.
        with raw.pipeline(), psycopg.Cursor(raw) as control, psycopg.Cursor(raw) as cursor:
            if own_transaction:
                control.execute("BEGIN")
            control.execute(_LOCK_SQL[False], [STATE_LOCK, merchant.pk % 2**31], prepare=True)
            cursor.execute(sql, params, prepare=True)
            if own_transaction:
                control.execute("COMMIT")
            found = cursor.fetchall()
    except psycopg.Error as exc:
        if own_transaction and raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raw.execute("ROLLBACK")
        if exc.sqlstate != GUARD_SQLSTATE:
            connection.errors_occurred = True  # Django checks the connection before reusing it
            raise
        if exc.diag.message_primary == _GUARD_STALE:
            raise _StaleDefinitions from None
        raise KeysNotCurrent(None) from None  # which keys are current is read once rolled back (_store)
    customers, inserted = {}, {}
    for kind, key, pk in found:
        if kind == 0:
            inserted[key] = pk
        elif kind == 1:
            customers[key] = pk
    return customers, inserted


def _store_sqlite(merchant: Merchant, rows: Sequence[EventRow], keys: list[int]) -> tuple[dict, dict]:
    """SQLite runs one writer at a time (IMMEDIATE transactions), which serves as the state lock."""
    if keys:
        current = _current_keys(keys)
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
    current, stale = _metric_states(merchant)
    metrics = [(metric, width) for metric, width in current if _fed_by(metric, codes)]
    _state_apply([(event_id, first[tid].code) for tid, event_id in inserted.items()], metrics)
    for metric, signature in stale:  # these events are not in those states: never let them count as current
        if _fed_by(metric, codes):
            MetricState.objects.filter(metric_id=metric.pk, signature=signature).delete()
    _counts_apply(merchant.pk, [first[tid].timestamp for tid in inserted])
    return customers, inserted


# Every column the bucket upserts read: a deferred one would cost a query per metric on the hot path.
_METRIC_STATES = db.Select(
    (
        "m",
        Metric,
        ["merchant", "code", "event_codes", "aggregation", "field", "filters", "group_by", "period", "window_seconds"],
    ),
    ("s", MetricState, ["signature"]),
)


@cache
def _metric_states_sql() -> str:
    return (
        f"SELECT {_METRIC_STATES.columns()} FROM {Metric._meta.db_table} m "
        f"LEFT JOIN {MetricState._meta.db_table} s ON s.metric_id = m.id WHERE m.merchant_id = %s ORDER BY m.id"
    )


def _metric_states(merchant: Merchant) -> tuple[list[tuple[Metric, int]], list[tuple[Metric, str]]]:
    """The merchant's metrics whose state is current (with their bucket widths), and those whose state is
    stale (with the stored signature): their definition changed since it was built."""
    current, stale = [], []
    for values in db.rows(_metric_states_sql(), [merchant.pk]):
        metric, state = _METRIC_STATES.instances(values)
        if state is None:
            continue
        expected, width = state_signature(metric)
        if state.signature == expected:
            current.append((metric, width))
        else:
            stale.append((metric, state.signature))
    return current, stale


def _fed_by(metric: Metric, codes: Set[str]) -> bool:
    return not codes.isdisjoint(event_codes(metric))


def _insert(merchant: Merchant, rows: list[EventRow], customers: dict[str, int]) -> dict[str, int]:
    """SQLite: one multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING."""
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
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_SQL[exclusive], [STATE_LOCK, merchant_id % 2**31])


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
    inner = (
        f"SELECT e.customer_id AS customer_id, {bucket} AS bucket, e.subscription_external_id AS tag, "
        f"{gkey} AS gkey, {value} AS val, {number} AS num, {d.epoch('e.timestamp')} AS ep, e.timestamp AS ts, "
        f"e.id AS id, {rank} AS rn FROM {source} e WHERE {where}"
    )
    inner_params = gkey_params + value_params + number_params + rank_params + params
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
        f"value, events_count, total, max_value, min_value, weighted, latest_at, latest_id, latest_value) "
        f"SELECT %s, s.customer_id, s.bucket, s.tag, s.gkey, s.val, COUNT(*), {selected}, {latest_columns} "
        f"FROM ({inner}) s WHERE 1 = 1 GROUP BY s.customer_id, s.bucket, s.tag, s.gkey, s.val "
        f"ORDER BY s.customer_id, s.bucket, s.tag, s.gkey, s.val "
        f"ON CONFLICT (metric_id, customer_id, bucket, subscription_external_id, group_key, value) "
        f"DO UPDATE SET {', '.join(merged)}"
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
        _DEFINITIONS.pop(metric.merchant_id, None)  # this process's ingestion reads the new state's definition
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
