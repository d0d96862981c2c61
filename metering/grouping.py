"""Group commit for single events: concurrent ``POST /events`` requests of one process share a transaction.

Each request validates its event in its own thread, then hands it to the
process's :data:`SINGLE_EVENTS` queue. The first thread to find nobody storing
becomes the leader: it takes every event queued so far, stores them per
merchant with one ``events_store`` (one statement, one commit, exactly the
batch semantics: the first of a transaction_id wins, later ones are
duplicates), and hands each waiting thread its own outcome. Events that arrive
meanwhile queue up for the next leader, the first of their threads to wake.
Nobody waits on a timer: a lone request is stored at once, as before; under
load, a group holds the events that arrived during the previous commit.

Every request is answered only after its event is committed. If storing a
group fails, each of its events is stored again alone, by its own thread on its
own connection, so one request's failure is never another's. A thread already
inside a transaction (a test case, an outer ``atomic``) stores alone: its
transaction must not carry other requests' events.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from django.db import connection

from atlas.models import ApiKey, Merchant
from metering.ingestion.keys import KeysNotCurrent
from metering.ingestion.store import EventResult, events_store
from metering.ingestion.validation import EventRow


@dataclass(eq=False)
class Pending:
    """One request's event waiting to be stored, and its outcome once it is."""

    merchant: Merchant
    key: ApiKey | None
    row: EventRow
    result: EventResult | None = None
    key_current: bool = True
    alone: bool = False  # the group failed: store it in the request's own thread
    done: bool = field(default=False, repr=False)


class GroupCommit:
    """The leader/follower queue; one per process (:data:`SINGLE_EVENTS`). ``groups`` counts the commits and
    ``grouped`` the events they held (their ratio is the mean group size)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._queue: list[Pending] = []
        self._storing = False
        self.groups = 0
        self.grouped = 0

    def submit(self, merchant: Merchant, row: EventRow, key: ApiKey | None = None) -> Pending:
        """Store one validated event and return its outcome; ``key``, if given, is confirmed current in the
        same transaction (else ``key_current`` is false and nothing of this event is stored)."""
        item = Pending(merchant, key, row)
        if connection.in_atomic_block:
            _store_group([item])
            return item
        with self._cond:
            self._queue.append(item)
            while not item.done:
                if not self._storing:
                    self._storing, group, self._queue = True, self._queue, []
                    break
                self._cond.wait()
            else:
                group = None
        if group is not None:
            try:
                _store_group(group)
            finally:
                with self._cond:
                    self.groups += 1
                    self.grouped += len(group)
                    for pending in group:
                        pending.done = True
                    self._storing = False
                    self._cond.notify_all()
        if item.alone:
            item.alone = False
            _store_group([item])
        return item


def _store_group(group: list[Pending]) -> None:
    """Store a group merchant by merchant; mark every item stored or to be stored alone (never unanswered)."""
    by_merchant: dict[int, list[Pending]] = {}
    for item in group:
        by_merchant.setdefault(item.merchant.pk, []).append(item)
    for items in by_merchant.values():
        try:
            _store_merchant(items)
        except Exception:
            if len(group) == 1:
                raise  # alone already: the request's own thread answers for it
            for item in items:
                if item.result is None:
                    item.alone = True


def _store_merchant(items: list[Pending]) -> None:
    while items:
        rows, results = [], []
        for index, item in enumerate(items):
            item.row.index = index
            rows.append(item.row)
            results.append(EventResult(index, "rejected"))
        keys = {item.key.pk for item in items if item.key is not None}
        try:
            events_store(merchant=items[0].merchant, rows=rows, results=results, keys=keys)
        except KeysNotCurrent as exc:  # nothing was stored: refuse those keys' events, store the others
            for item in items:
                if item.key is not None and item.key.pk not in exc.current:
                    item.key_current = False
            items = [item for item in items if item.key_current]
            continue
        for item, result in zip(items, results, strict=True):
            item.result = result
        return


SINGLE_EVENTS = GroupCommit()
