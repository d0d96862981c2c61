"""One batch of validated events stored in one transaction, and the outcome of each.

``events_store`` chooses the store of the database (``store_postgres``,
``store_sqlite``), retries what may be retried (stale cached definitions, a
deadlock) and turns what the store returns into one ``EventResult`` per row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import psycopg
from django.db import OperationalError, connection, transaction

from atlas.models import Merchant
from metering.ingestion.keys import KeysNotCurrent, current_keys
from metering.ingestion.store_postgres import StaleDefinitions, definitions_forget, store_postgres
from metering.ingestion.store_sqlite import store_sqlite
from metering.ingestion.validation import EventRow


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


def events_store(
    *, merchant: Merchant, rows: Sequence[EventRow], results: Sequence[EventResult], keys: Collection[int] = ()
) -> None:
    """Store validated rows in one transaction and fill ``results[row.index]`` for each.

    In input order, the first row of a transaction_id with a known customer is the one stored (unless the
    merchant already has that transaction_id); later ones are duplicates. ``keys``: API key ids to confirm
    current in the same transaction; if one is not, nothing is stored and ``KeysNotCurrent`` is raised.
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
                    return store_postgres(merchant, rows, keys, own_transaction=True)
                with transaction.atomic():  # a savepoint in the caller's transaction
                    return store_postgres(merchant, rows, keys, own_transaction=False)
            with transaction.atomic():
                return store_sqlite(merchant, rows, keys)
        except KeysNotCurrent as exc:
            if exc.current is None:
                raise KeysNotCurrent(current_keys(keys)) from None
            raise
        except StaleDefinitions:
            definitions_forget(merchant.pk)  # rolled back; read them again and retry
            if attempt == 3:
                raise
        except (OperationalError, psycopg.errors.DeadlockDetected) as exc:
            # Django wraps its own cursors' errors; the raw psycopg cursor of store_postgres raises directly.
            sqlstate = getattr(exc, "sqlstate", None) or getattr(exc.__cause__, "sqlstate", None)
            if attempt == 3 or sqlstate != "40P01":
                raise
    raise AssertionError("unreachable")
