"""Storing a batch of validated events on PostgreSQL: one prepared statement in one pipelined round trip.

The statement resolves the customers, inserts the events and, as data-modifying
CTEs over the inserted rows, upserts the quarter-hour counts and the buckets of
every current metric the events feed. The bucket upserts are built from metric
definitions cached per process (``DEFINITIONS``); a digest checked inside the
statement (``atlas_ingest_guard``, migration ``metering.0005``) proves the cache
current under the state lock, or makes the statement fail so the batch is retried
with definitions read again (docs/metering.md, "Ingestion").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from django.db import connection

from atlas import db
from atlas.models import Merchant
from catalog.models import Metric
from customers.models import Customer
from metering.aggregation import EVENT_TABLE, Dialect
from metering.counts import COUNTS_CTE_SQL
from metering.ingestion.keys import CURRENT_KEYS_SQL, KeysNotCurrent
from metering.ingestion.store_sqlite import INSERT_COLUMNS
from metering.ingestion.validation import EventRow
from metering.models import MetricState
from metering.state import LOCK_SQL, STATE_LOCK, fed_by, metric_states, state_upsert_sql

# Raised by atlas_ingest_guard (migration 0005) inside the ingest statement, with one of these messages.
GUARD_SQLSTATE = "AT001"
_GUARD_STALE, _GUARD_KEYS = "stale metric definitions", "API key not current"


class StaleDefinitions(Exception):
    """The metric definitions or states changed since this process read them: roll back, read them again."""


_STALE_DELETE_SQL = (
    f"DELETE FROM {MetricState._meta.db_table} WHERE (metric_id, signature) IN "
    f"(SELECT * FROM unnest(%b::bigint[], %b::text[]))"
)

_INSERT_SQL = (
    f"WITH input AS (SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::timestamptz[], "
    f"%b::text[], %b::text[], %b::timestamptz[]) WITH ORDINALITY AS u(customer, t, k, ts, p, s, r, n)), "
    f"known AS (SELECT external_id, id FROM {Customer._meta.db_table} WHERE merchant_id = %s "
    f"AND external_id = ANY(%b::text[])), "
    f"new_events AS (INSERT INTO {EVENT_TABLE} ({INSERT_COLUMNS}) "
    f"SELECT DISTINCT ON (u.t) %s, c.id, u.t, u.k, u.ts, CAST(u.p AS jsonb), u.s, u.r "
    f"FROM input u JOIN known c ON c.external_id = u.customer ORDER BY u.t, u.n "
    f"ON CONFLICT (merchant_id, transaction_id) DO NOTHING RETURNING *), "
    f"counts AS ({COUNTS_CTE_SQL})"
)

_DIGEST_SQL = (
    f"SELECT COALESCE(md5(string_agg(CAST(ROW(m.id, m.event_codes, m.aggregation, m.field, m.filters, m.group_by, "
    f"m.period, m.window_seconds, m.user_buckets, s.signature) AS text), ',' ORDER BY m.id)), '') "
    f"FROM {Metric._meta.db_table} m LEFT JOIN {MetricState._meta.db_table} s ON s.metric_id = m.id "
    f"WHERE m.merchant_id = %s"
)


@dataclass(frozen=True)
class Definitions:
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
                if fed_by(metric, codes):
                    upsert, upsert_params = state_upsert_sql(d, metric, width, source="new_events")
                    sql += f", state_{number} AS ({upsert})"
                    params += upsert_params
                    number += 1
            stale = [(metric.pk, signature) for metric, signature in self.stale if fed_by(metric, codes)]
            if stale:  # these events are not in those states: a later definition must not find them current
                sql += f", stale AS ({_STALE_DELETE_SQL})"
                params += [[pk for pk, _ in stale], [signature for _, signature in stale]]
            sql += (
                f" SELECT 0, transaction_id, id FROM new_events UNION ALL SELECT 1, external_id, id FROM known "
                f"UNION ALL SELECT 2, NULL, atlas_ingest_guard(({_DIGEST_SQL}) = %s, '{_GUARD_STALE}') "
                f"+ atlas_ingest_guard((SELECT count(*) FROM ({CURRENT_KEYS_SQL.format(ids='id = ANY(%s)')}) k) "
                f"= cardinality(%s::bigint[]), '{_GUARD_KEYS}')"
            )
            if len(self.statements) > 64:  # bounded: batches mix few distinct sets of codes
                self.statements.clear()
            found = self.statements[codes] = (sql, params)
        return found


# {merchant id: Definitions}, per process.
DEFINITIONS: dict[int, Definitions] = {}


def definitions_forget(merchant_id: int) -> None:
    """Drop the cached definitions of a merchant (its states changed): the next batch reads them again."""
    DEFINITIONS.pop(merchant_id, None)


def _definitions(merchant: Merchant) -> Definitions:
    found = DEFINITIONS.get(merchant.pk)
    if found is None:
        # The digest first: definitions read after it are as new or newer, and a newer one only makes the
        # statement's check fail and the cache be read again.
        (digest,) = db.row(_DIGEST_SQL, [merchant.pk])
        found = Definitions(digest, *metric_states(merchant.pk))
        if len(DEFINITIONS) > 10_000:  # bounded: one entry per merchant that ingested through this process
            DEFINITIONS.clear()
        DEFINITIONS[merchant.pk] = found
    return found


def store_postgres(
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
        [row.properties_json for row in rows],
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
            control.execute(LOCK_SQL[False], [STATE_LOCK, merchant.pk % 2**31], prepare=True)
            cursor.execute(sql, params, prepare=True)
            if own_transaction:
                control.execute("COMMIT")
            found = cursor.fetchall()
    except BaseException as exc:
        # Whatever failed (the server, or psycopg adapting a parameter after BEGIN and the lock were queued),
        # the transaction ends here: a connection left idle in transaction would hold the merchant's state
        # lock and fail the next request of this thread.
        if own_transaction:
            _roll_back(raw)
        guard = isinstance(exc, psycopg.Error) and exc.sqlstate == GUARD_SQLSTATE
        if not guard:
            connection.errors_occurred = True  # Django checks the connection before reusing it
            raise
        if exc.diag.message_primary == _GUARD_STALE:
            raise StaleDefinitions from None
        raise KeysNotCurrent(None) from None  # which keys are current is read once rolled back (events_store)
    customers, inserted = {}, {}
    for kind, key, pk in found:
        if kind == 0:
            inserted[key] = pk
        elif kind == 1:
            customers[key] = pk
    return customers, inserted


def _roll_back(raw: psycopg.Connection) -> None:
    """End the failed transaction; a connection that cannot even do that is closed (Django opens a new one)."""
    try:
        if raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raw.execute("ROLLBACK")
    except Exception:
        connection.close()
