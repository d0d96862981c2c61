"""Plain SQL on the hot paths: prepared statements on PostgreSQL, the same code on SQLite.

The API's busiest requests (authentication, event ingestion, entitlement and
usage checks) run a handful of fixed-shape statements many times a second.
Building them with the ORM costs more Python time than PostgreSQL spends
answering them, and planning each one again costs PostgreSQL more than
executing it. ``rows`` and ``row`` run plain SQL through Django's cursor wrapper
(execute wrappers see them) on a server-binding psycopg cursor that prepares
the statement: PostgreSQL plans it once per connection. Statements are
identified by their text, so callers keep the text stable (placeholders, never
inlined values). While queries are logged (``DEBUG``, ``assertNumQueries``) the
statements go through Django's own cursor instead, which records their exact SQL.

``DATABASE_PREPARED_STATEMENTS=0`` turns preparation off, for PgBouncer in
transaction mode before 1.21 (which cannot route prepared statements).
``Select`` builds model instances from the selected columns of joined models
the way the ORM does (``Model.from_db``), without the ORM's query compilation.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from django.conf import settings
from django.db import connection
from django.db.models import Model


class _PreparedCursor(psycopg.Cursor):
    """Server-side binding, and every statement prepared (psycopg keeps the most recent 100 per connection)."""

    def execute(self, query, params=None, **kwargs):
        return super().execute(query, params, prepare=True)


def cursor():
    """A cursor on the default connection: a preparing one on PostgreSQL, Django's usual one elsewhere."""
    if connection.vendor != "postgresql" or not settings.DATABASE_PREPARED_STATEMENTS or connection.queries_logged:
        # Logging queries (DEBUG, assertNumQueries) wants the exact SQL, which Django's own cursor records.
        return connection.cursor()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    return connection.make_cursor(_PreparedCursor(connection.connection))


def rows(sql: str, params: Sequence = ()) -> list[tuple]:
    with cursor() as c:
        c.execute(sql, params)
        return c.fetchall()


def row(sql: str, params: Sequence = ()) -> tuple | None:
    with cursor() as c:
        c.execute(sql, params)
        return c.fetchone()


class Select:
    """The columns of several models joined in one statement, and their instances back from each row.

    ``Select(("c", Customer, ["created_at"]), ("f", Feature, None))``: ``columns()`` is the select list
    (``None`` selects every concrete field; the primary key is always selected), ``instances(row)`` gives one
    instance per model (fields not selected are deferred, as with ``only()``; values are converted as the ORM
    converts them), or None where an outer join found nothing.
    """

    def __init__(self, *parts: tuple[str, type[Model], Sequence[str] | None]):
        self.parts = []
        for alias, model, names in parts:
            fields = _fields(model, names)
            self.parts.append((alias, model, fields, fields.index(model._meta.pk)))
        self._converters: list | None = None

    def columns(self) -> str:
        q = connection.ops.quote_name
        return ", ".join(f"{alias}.{q(field.column)}" for alias, _, fields, _ in self.parts for field in fields)

    def instances(self, values: Sequence) -> list[Model | None]:
        if self._converters is None:  # the backend's converters, once the database is known
            self._converters = [
                [_converters(field) for field in fields] for _, _, fields, _ in self.parts
            ]  # fmt: skip
        out, offset = [], 0
        for (_, model, fields, pk_index), converters in zip(self.parts, self._converters, strict=True):
            chunk = list(values[offset : offset + len(fields)])
            offset += len(fields)
            if chunk[pk_index] is None:
                out.append(None)
                continue
            for index, field_converters in enumerate(converters):
                for converter in field_converters:
                    chunk[index] = converter(chunk[index], fields[index].cached_col, connection)
            out.append(model.from_db(connection.alias, [field.attname for field in fields], chunk))
        return out


def _fields(model: type[Model], names: Sequence[str] | None) -> list:
    """The model's concrete fields (only ``names`` and the primary key if given), in the model's order
    (the order ``Model.from_db`` expects)."""
    if names is None:
        return list(model._meta.concrete_fields)
    wanted = {model._meta.get_field(name).attname for name in names} | {model._meta.pk.attname}
    return [field for field in model._meta.concrete_fields if field.attname in wanted]


def _converters(field) -> list:
    col = field.cached_col
    return connection.ops.get_db_converters(col) + col.get_db_converters(connection)
