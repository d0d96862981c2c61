"""Writes of the metering app: the entry points other apps call.

``events_ingest`` is the one way events are written (the API, seat events from
provisioning, demo data); how a batch is validated and stored is in
``metering.ingestion``. ``metric_state_rebuild`` and ``metric_state_ensure``
keep the pre-aggregated state (``metering.state``) current for reads;
``event_counts_rebuild`` recounts the quarter-hour event counts
(``metering.counts``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from django.utils import timezone

from atlas.models import Merchant
from catalog.models import Metric
from metering.counts import counts_rebuild
from metering.ingestion.store import EventResult, IngestResult, events_store
from metering.ingestion.store_postgres import definitions_forget
from metering.ingestion.validation import EventRow, latest_allowed, validate_event
from metering.models import MetricState
from metering.state import state_rebuild, state_signature, state_signature_stored

# billing parses ``?at=`` as ingestion parses timestamps, and imports the parser from here.
__all__ = ["event_counts_rebuild", "events_ingest", "metric_state_ensure", "metric_state_rebuild"]


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
    latest = latest_allowed(received_at)
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


def metric_state_rebuild(*, metric: Metric, force: bool = False) -> MetricState:
    """Rebuild a metric's buckets from its raw events (set-based: one DELETE, one INSERT ... SELECT).

    Used when a metric is first read, or read after its definition changed. It
    holds the merchant's state lock exclusively, so it waits for in-flight
    ingestion and ingestion waits for it; no event is missed or counted twice.
    """
    state = state_rebuild(metric=metric, force=force)
    definitions_forget(metric.merchant_id)  # this process's ingestion reads the new state's definition
    return state


def metric_state_ensure(*, metric: Metric, stored_signature: str | None = None) -> int:
    """The bucket width of a metric whose state is current, rebuilding it first if it is missing or stale.

    ``stored_signature``: the state's signature as the caller just read it (saves the query when current).
    """
    signature, width = state_signature(metric)
    if stored_signature != signature and state_signature_stored(metric.pk) != signature:
        metric_state_rebuild(metric=metric)
    return width


def event_counts_rebuild(*, merchant: Merchant) -> None:
    """Recount a merchant's quarter-hour event counts from the raw events, in SQL (after a bulk load that
    bypassed ingestion, and in the migration that introduced the counts)."""
    counts_rebuild(merchant.pk)
