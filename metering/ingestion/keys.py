"""API keys confirmed inside the ingest transaction.

The two ingestion endpoints authenticate from a per-process key cache; the ingest
transaction confirms the keys are still current (not revoked, not deleted), so a
key revoked a moment ago stores nothing (docs/metering.md, "The single-event path").
"""

from __future__ import annotations

from collections.abc import Sequence

from atlas import db
from atlas.models import ApiKey
from metering.aggregation import Dialect

CURRENT_KEYS_SQL = f"SELECT id FROM {ApiKey._meta.db_table} WHERE {{ids}} AND revoked_at IS NULL"


class KeysNotCurrent(Exception):
    """Some API keys the ingestion was asked to confirm are revoked or deleted: nothing was stored.

    ``current`` holds the ids of those still current (None: not read yet).
    """

    def __init__(self, current: set[int] | None):
        super().__init__(current)
        self.current = current


def current_keys(keys: Sequence[int]) -> set[int]:
    """The ids among ``keys`` of API keys still current (not revoked, not deleted)."""
    where, params = Dialect().id_in("id", keys)
    return {pk for (pk,) in db.rows(CURRENT_KEYS_SQL.format(ids=where), params)}
