"""The aggregation engine: turn a metric's events into quantities, in SQL (SPEC §4).

``aggregate`` is the exact answer over the raw events, used by invoicing.
``metering.selectors.current_usage`` gives the same answers from the
pre-aggregated buckets (``metering.models.UsageBucket``); both paths share the
SQL built here, so they read properties, groups and times the same way.

Rules (docs/metering.md):

- An event feeds a metric when its code is one of ``event_codes`` and, for
  every ``filters`` property, its value (as text) is one of the allowed values.
- ``count`` counts those events. Every other aggregation uses only the events
  whose ``field`` has a usable value: a number, or a decimal string such as
  ``"12.50"``, read to 10 decimals (``unique_count``: any value, as text).
  ``events_count`` counts the events that fed the quantity.
- ``group_by`` keys are tuples of the properties' text values, ``""`` where an
  event lacks the property. Without ``group_by`` the answer always has the key
  ``()``, even with no events.
- Windows are half-open ``[start, end)`` in whole seconds (fractions round up).
  ``period`` picks the window: ``billing_period`` the one given, ``all_time``
  everything before ``end``, ``rolling`` the ``window_seconds`` before ``end``.
- ``weighted_sum``: the level entering the window is the sum of every earlier
  delta; the quantity is the level's time-weighted average over the window,
  each event counting from the start of its second, rounded half-up to 10
  decimals. It always averages over ``[start, end)`` (``all_time`` changes
  nothing: the level is cumulative already); the events behind it include the
  earlier deltas that set the entering level.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils.dateparse import parse_datetime

from catalog.models import Metric
from metering.models import STATE_DECIMALS, Event, UsageBucket

GROUP_SEPARATOR = "\x1f"
USER_PROPERTY = "user"  # the event property that names the team member behind an event
# A usable number: below 10**15 in magnitude (at most 15 integer digits), no exponent. Ingestion refuses
# JSON numbers beyond (metering.ingestion.validation.MAX_NUMBER), so sums never overflow the numeric(38, 10)
# state columns; a longer digit string is text (an identifier), not a quantity.
NUMBER_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]+)?$"
ROLLING_MINUTE_BUCKETS_UP_TO = 2 * 86400  # rolling windows up to 2 days use 1-minute buckets

ZERO = Decimal(0)
_QUANTUM = Decimal(1).scaleb(-STATE_DECIMALS)
_FLOAT = Context(prec=15)  # SQLite hands back REAL; 15 significant digits are exact
_DIVIDE = Context(prec=60)

EVENT_TABLE = Event._meta.db_table
BUCKET_TABLE = UsageBucket._meta.db_table


@dataclass(frozen=True)
class Usage:
    quantity: Decimal
    events_count: int


@dataclass(frozen=True)
class Window:
    """A metric's window in whole seconds: ``start`` None means since the beginning."""

    start: datetime | None
    end: datetime

    @property
    def start_epoch(self) -> int | None:
        return None if self.start is None else int(self.start.timestamp())

    @property
    def end_epoch(self) -> int:
        return int(self.end.timestamp())

    @property
    def empty(self) -> bool:
        return self.start is not None and self.start >= self.end


def _ceil_second(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware")
    if instant.microsecond:
        return instant.replace(microsecond=0) + timedelta(seconds=1)
    return instant


def window_for(metric: Metric, start: datetime | None, end: datetime) -> Window:
    """The window a metric's ``period`` makes of the caller's ``[start, end)``."""
    end = _ceil_second(end)
    if metric.period == Metric.Period.ROLLING:
        return Window(end - timedelta(seconds=metric.window_seconds or 0), end)
    if metric.period == Metric.Period.ALL_TIME and metric.aggregation != Metric.Aggregation.WEIGHTED_SUM:
        return Window(None, end)
    if start is None:
        raise ValueError("start is required for this metric")
    return Window(_ceil_second(start), end)


def bucket_seconds_for(metric: Metric) -> int:
    """Bucket width of a metric's state: minutes for short rolling windows, hours otherwise."""
    if metric.period == Metric.Period.ROLLING and (metric.window_seconds or 0) <= ROLLING_MINUTE_BUCKETS_UP_TO:
        return 60
    return 3600


def filter_text(value) -> str:
    """A filter or group value as the SQL text of a property reads it."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def normalized_filters(metric: Metric) -> dict[str, list[str]]:
    filters = metric.filters or {}
    out = {}
    for prop in sorted(filters):
        allowed = filters[prop]
        if not isinstance(allowed, list):
            allowed = [allowed]
        out[prop] = sorted({filter_text(value) for value in allowed})
    return out


def event_codes(metric: Metric) -> list[str]:
    return sorted({str(code) for code in (metric.event_codes or [])})


def group_by(metric: Metric) -> list[str]:
    return [str(name) for name in (metric.group_by or [])]


# --- SQL fragments, per database -------------------------------------------------------------------------------


class Dialect:
    """The few expressions PostgreSQL and SQLite spell differently. ``t`` is the events table reference."""

    def __init__(self, vendor: str | None = None):
        self.vendor = vendor or connection.vendor
        self.postgres = self.vendor == "postgresql"

    def text(self, t: str, key: str) -> tuple[str, list]:
        if self.postgres:
            return f"({t}.properties ->> %s)", [key]
        path = "$." + json.dumps(key)
        return (
            f"(CASE json_type({t}.properties, %s) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            f"ELSE CAST(json_extract({t}.properties, %s) AS TEXT) END)",
            [path, path],
        )

    def number(self, t: str, key: str) -> tuple[str, list]:
        if self.postgres:
            return (
                f"(CASE WHEN ({t}.properties ->> %s) ~ %s THEN CAST(({t}.properties ->> %s) AS numeric(38, 10)) END)",
                [key, NUMBER_PATTERN, key],
            )
        path = "$." + json.dumps(key)
        return (
            f"(CASE WHEN json_type({t}.properties, %s) = 'integer' THEN json_extract({t}.properties, %s) "
            f"WHEN json_type({t}.properties, %s) = 'real' OR (json_type({t}.properties, %s) = 'text' "
            f"AND json_extract({t}.properties, %s) REGEXP %s) "
            f"THEN ROUND(CAST(json_extract({t}.properties, %s) AS REAL), 10) END)",
            [path, path, path, path, path, NUMBER_PATTERN, path],
        )

    @property
    def null_number(self) -> str:
        return "CAST(NULL AS numeric)" if self.postgres else "NULL"

    def epoch(self, column: str) -> str:
        """Whole epoch seconds of a timestamp column (floored)."""
        if self.postgres:
            return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS bigint)"
        # Only the whole seconds: SQLite rounds a fraction such as .999999 up to the next second.
        return f"CAST(strftime('%%s', substr({column}, 1, 19)) AS INTEGER)"

    def bucket(self, column: str, width: int) -> str:
        return f"(({self.epoch(column)} / {int(width)}) * {int(width)})"

    def group_key(self, t: str, keys: Sequence[str]) -> tuple[str, list]:
        if not keys:
            return ("CAST('' AS text)" if self.postgres else "''"), []
        separator = " || chr(31) || " if self.postgres else " || char(31) || "
        parts, params = [], []
        for key in keys:
            sql, key_params = self.text(t, key)
            parts.append(f"COALESCE({sql}, '')")
            params += key_params
        return "(" + separator.join(parts) + ")", params

    def id_in(self, column: str, ids: Sequence[int]) -> tuple[str, list]:
        if self.postgres:
            return f"{column} = ANY(%s)", [list(ids)]
        return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)

    def datetime(self, value: datetime):
        return connection.ops.adapt_datetimefield_value(value)


def _in(column: str, values: Sequence) -> tuple[str, list]:
    if not values:
        return "1 = 0", []
    if len(values) == 1:
        return f"{column} = %s", [values[0]]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


@dataclass(frozen=True)
class Scope:
    """Which events of which customers: everything but the time window."""

    customer_ids: tuple[int, ...]
    subscription_external_id: str | None = None
    include_untagged: bool = True
    received_after: datetime | None = None
    received_before: datetime | None = None
    exclude_users: tuple[str, ...] = ()
    # One team member's events (their ``user`` property), and one bucket (group key, in group_by order).
    user: str | None = None
    group_key: str | None = None

    def tag_sql(self, column: str) -> tuple[str, list]:
        if self.subscription_external_id is None:
            return "", []
        if self.include_untagged and self.subscription_external_id != "":
            return f"{column} IN (%s, '')", [self.subscription_external_id]
        return f"{column} = %s", [self.subscription_external_id]


def user_key_sql(d: Dialect, metric: Metric, t: str) -> tuple[str, list]:
    """The bucket's ``user_key``: the event's ``user`` property (text, "" without one) for a metric a
    user-scoped feature counts (``Metric.user_buckets``), else ""."""
    if not metric.user_buckets:
        return ("CAST('' AS text)" if d.postgres else "''"), []
    text, params = d.text(t, USER_PROPERTY)
    return f"COALESCE({text}, '')", params


def value_sql(d: Dialect, metric: Metric, t: str) -> tuple[str, list]:
    """The metric's value expression: a number, text for unique_count, NULL for count."""
    if metric.aggregation == Metric.Aggregation.COUNT:
        return d.null_number, []
    if metric.aggregation == Metric.Aggregation.UNIQUE_COUNT:
        return d.text(t, metric.field)
    return d.number(t, metric.field)


def match_sql(d: Dialect, metric: Metric, scope: Scope | None, t: str = "e") -> tuple[str, list]:
    """WHERE conditions for the events that feed ``metric`` (without the time window)."""
    where, params = [f"{t}.merchant_id = %s"], [metric.merchant_id]
    sql, p = _in(f"{t}.code", event_codes(metric))
    where.append(sql)
    params += p
    if scope is not None:
        sql, p = _in(f"{t}.customer_id", list(scope.customer_ids))
        where.append(sql)
        params += p
        sql, p = scope.tag_sql(f"{t}.subscription_external_id")
        if sql:
            where.append(sql)
            params += p
        if scope.received_after is not None:
            where.append(f"{t}.received_at >= %s")
            params.append(d.datetime(scope.received_after))
        if scope.received_before is not None:
            where.append(f"{t}.received_at < %s")
            params.append(d.datetime(scope.received_before))
        if scope.exclude_users:
            user, p = d.text(t, "user")
            in_sql, in_p = _in(user, sorted(scope.exclude_users))
            where.append(f"({user} IS NULL OR NOT ({in_sql}))")
            params += p + p + in_p
        if scope.user is not None:
            user, p = d.text(t, USER_PROPERTY)
            where.append(f"{user} = %s")
            params += p + [scope.user]
        if scope.group_key is not None:
            gkey, p = d.group_key(t, group_by(metric))
            where.append(f"{gkey} = %s")
            params += p + [scope.group_key]
    for prop, allowed in normalized_filters(metric).items():
        text, p = d.text(t, prop)
        in_sql, in_p = _in(text, allowed)
        where.append(in_sql)
        params += p * in_sql.count(text) + in_p
    if metric.aggregation != Metric.Aggregation.COUNT:
        value, p = value_sql(d, metric, t)
        where.append(f"{value} IS NOT NULL")
        params += p
    return " AND ".join(where), params


def ranges_sql(d: Dialect, ranges: Iterable[tuple[datetime | None, datetime]], t: str = "e") -> tuple[str, list]:
    parts, params = [], []
    for low, high in ranges:
        if low is None:
            parts.append(f"{t}.timestamp < %s")
            params.append(d.datetime(high))
        else:
            parts.append(f"({t}.timestamp >= %s AND {t}.timestamp < %s)")
            params += [d.datetime(low), d.datetime(high)]
    if not parts:
        return "1 = 0", []
    return "(" + " OR ".join(parts) + ")", params


# --- partial aggregates, merged from raw events and buckets ----------------------------------------------------


def to_decimal(value) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    return _FLOAT.create_decimal_from_float(float(value))


def _to_datetime(value):
    if value is None or isinstance(value, datetime):
        return value
    return parse_datetime(value)


class Partial:
    """What any subset of a group's events contributes; partials merge associatively."""

    __slots__ = ("count", "total", "max", "min", "latest", "integral")

    def __init__(self):
        self.count = 0
        self.total: Decimal | None = None
        self.max: Decimal | None = None
        self.min: Decimal | None = None
        self.latest: tuple | None = None  # (timestamp, event id, value)
        self.integral: Decimal | None = None

    def add(self, count=0, total=None, maximum=None, minimum=None, latest=None, integral=None) -> None:
        self.count += int(count or 0)
        total, maximum, minimum, integral = map(to_decimal, (total, maximum, minimum, integral))
        if total is not None:
            self.total = total if self.total is None else self.total + total
        if maximum is not None and (self.max is None or maximum > self.max):
            self.max = maximum
        if minimum is not None and (self.min is None or minimum < self.min):
            self.min = minimum
        if latest is not None and latest[0] is not None:
            latest = (_to_datetime(latest[0]), int(latest[1]), to_decimal(latest[2]))
            if self.latest is None or latest[:2] > self.latest[:2]:
                self.latest = latest
        if integral is not None:
            self.integral = integral if self.integral is None else self.integral + integral


def tidy(quantity: Decimal) -> Decimal:
    """Quantities at 10 decimals at most, trailing zeros dropped, never in exponent form."""
    quantity = quantity.quantize(_QUANTUM, rounding=ROUND_HALF_UP)
    if quantity == quantity.to_integral_value():
        return quantity.quantize(Decimal(1))
    return quantity.normalize()


def finalize(
    metric: Metric, window: Window, partials: dict[tuple[int, str], Partial], distinct: dict | None = None
) -> dict[tuple[int, str], Usage]:
    """Turn merged partials into quantities; groups with nothing to show are dropped."""
    aggregation = metric.aggregation
    out: dict[tuple[int, str], Usage] = {}
    if aggregation == Metric.Aggregation.UNIQUE_COUNT:
        for key, (values, count) in (distinct or {}).items():
            if count:
                out[key] = Usage(Decimal(values), int(count))
        return out
    for key, partial in partials.items():
        if aggregation == Metric.Aggregation.WEIGHTED_SUM:
            integral = partial.integral or ZERO
            if not integral and not partial.count:
                continue
            seconds = window.end_epoch - window.start_epoch
            quantity = _DIVIDE.divide(integral, Decimal(seconds)) if seconds > 0 else ZERO
            out[key] = Usage(tidy(quantity), partial.count)
            continue
        if not partial.count:
            continue
        if aggregation == Metric.Aggregation.COUNT:
            quantity = Decimal(partial.count)
        elif aggregation == Metric.Aggregation.SUM:
            quantity = partial.total or ZERO
        elif aggregation == Metric.Aggregation.MAX:
            quantity = partial.max if partial.max is not None else ZERO
        elif aggregation == Metric.Aggregation.MIN:
            quantity = partial.min if partial.min is not None else ZERO
        elif aggregation == Metric.Aggregation.LATEST:
            quantity = partial.latest[2] if partial.latest is not None else ZERO
        else:
            raise ValueError(f"unknown aggregation {aggregation!r}")
        out[key] = Usage(tidy(quantity), partial.count)
    return out


def shape(metric: Metric, customer_ids: Iterable[int], usage: dict[tuple[int, str], Usage]) -> dict:
    """Per customer, group tuples in ``group_by`` order; ``()`` always present without group_by."""
    keys = group_by(metric)
    out: dict[int, dict[tuple[str, ...], Usage]] = {customer_id: {} for customer_id in customer_ids}
    for (customer_id, group_key), value in usage.items():
        group = tuple(group_key.split(GROUP_SEPARATOR)) if keys else ()
        out.setdefault(customer_id, {})[group] = value
    if not keys:
        for groups in out.values():
            groups.setdefault((), Usage(ZERO, 0))
    return out


def raw_partials(
    d: Dialect,
    metric: Metric,
    scope: Scope,
    window: Window,
    ranges: list[tuple[datetime | None, datetime]],
    *,
    by_tag: bool = False,
) -> dict[tuple, Partial]:
    """Partials of the raw events inside ``ranges`` (for weighted_sum: weighted over ``window``), keyed by
    ``(customer_id, group_key)``, or ``(customer_id, tag, group_key)`` with ``by_tag``."""
    partials: dict[tuple, Partial] = {}
    if not ranges:
        return partials
    owner = "e.customer_id, e.subscription_external_id" if by_tag else "e.customer_id"
    width = 2 if by_tag else 1
    where, params = match_sql(d, metric, scope)
    when, when_params = ranges_sql(d, ranges)
    gkey, gkey_params = d.group_key("e", group_by(metric))
    value, value_params = value_sql(d, metric, "e")
    aggregation = metric.aggregation
    if aggregation == Metric.Aggregation.LATEST:
        sql = (
            f"SELECT * FROM ("
            f"SELECT {owner}, {gkey} AS gkey, e.timestamp AS ts, e.id AS id, {value} AS num, "
            f"COUNT(*) OVER (PARTITION BY {owner}, {gkey}) AS cnt, "
            f"ROW_NUMBER() OVER (PARTITION BY {owner}, {gkey} ORDER BY e.timestamp DESC, e.id DESC) AS rn "
            f"FROM {EVENT_TABLE} e WHERE {where} AND {when}) s WHERE rn = 1"
        )
        all_params = gkey_params + value_params + gkey_params + gkey_params + params + when_params
        for row in fetch_rows(sql, all_params):
            key, (ts, event_id, number, count, _) = row[: width + 1], row[width + 1 :]
            partials.setdefault(tuple(key), Partial()).add(count=count, latest=(ts, event_id, number))
        return partials
    if aggregation == Metric.Aggregation.WEIGHTED_SUM:
        start = d.datetime(window.start)
        epoch = d.epoch("e.timestamp")
        select = (
            f"SUM(CASE WHEN e.timestamp >= %s THEN 1 ELSE 0 END), NULL, NULL, NULL, "
            f"SUM({value} * (%s - CASE WHEN e.timestamp >= %s THEN {epoch} ELSE %s END))"
        )
        select_params = [start, *value_params, window.end_epoch, start, window.start_epoch]
    else:
        select = f"COUNT(*), SUM({value}), MAX({value}), MIN({value}), NULL"
        select_params = value_params * 3
    sql = f"SELECT {owner}, {gkey}, {select} FROM {EVENT_TABLE} e WHERE {where} AND {when} GROUP BY {owner}, {gkey}"
    all_params = gkey_params + select_params + params + when_params + gkey_params
    for row in fetch_rows(sql, all_params):
        key, (count, total, maximum, minimum, integral) = row[: width + 1], row[width + 1 :]
        partials.setdefault(tuple(key), Partial()).add(count, total, maximum, minimum, None, integral)
    return partials


def raw_distinct(
    d: Dialect, metric: Metric, scope: Scope, ranges: list[tuple[datetime | None, datetime]]
) -> dict[tuple[int, str], tuple[int, int]]:
    where, params = match_sql(d, metric, scope)
    when, when_params = ranges_sql(d, ranges)
    gkey, gkey_params = d.group_key("e", group_by(metric))
    value, value_params = value_sql(d, metric, "e")
    sql = (
        f"SELECT e.customer_id, {gkey}, COUNT(DISTINCT {value}), COUNT(*) FROM {EVENT_TABLE} e "
        f"WHERE {where} AND {when} GROUP BY e.customer_id, {gkey}"
    )
    rows = fetch_rows(sql, gkey_params + value_params + params + when_params + gkey_params)
    return {(customer_id, key): (values, count) for customer_id, key, values, count in rows}


def fetch_rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _raw_usage(metric: Metric, scope: Scope, window: Window) -> dict[tuple[int, str], Usage]:
    d = Dialect()
    if window.empty:
        return {}
    if metric.aggregation == Metric.Aggregation.UNIQUE_COUNT:
        return finalize(metric, window, {}, raw_distinct(d, metric, scope, [(window.start, window.end)]))
    if metric.aggregation == Metric.Aggregation.WEIGHTED_SUM:
        ranges = [(None, window.end)]  # every earlier delta sets the level entering the window
    else:
        ranges = [(window.start, window.end)]
    return finalize(metric, window, raw_partials(d, metric, scope, window, ranges))


# --- the contracts ---------------------------------------------------------------------------------------------


def aggregate(
    *,
    metric: Metric,
    customer_id: int,
    start: datetime | None,
    end: datetime,
    subscription_external_id: str | None = None,
    include_untagged: bool = True,
    received_before: datetime | None = None,
    exclude_users: Iterable[str] | None = None,
) -> dict[tuple[str, ...], Usage]:
    """The exact quantity per group of ``metric`` for one customer, computed in SQL over the raw events.

    ``subscription_external_id`` counts the events tagged with it (and, with
    ``include_untagged``, the untagged ones); ``received_before`` ignores events
    received at or after it (late-event adjustments); ``exclude_users`` ignores
    events whose ``user`` property is in the set.
    """
    scope = Scope(
        customer_ids=(customer_id,),
        subscription_external_id=subscription_external_id,
        include_untagged=include_untagged,
        received_before=received_before,
        exclude_users=tuple(sorted(set(exclude_users or ()))),
    )
    window = window_for(metric, start, end)
    return shape(metric, [customer_id], _raw_usage(metric, scope, window))[customer_id]


def aggregate_customers(
    *,
    metric: Metric,
    customer_ids: Iterable[int],
    start: datetime | None,
    end: datetime,
    received_before: datetime | None = None,
) -> dict[int, dict[tuple[str, ...], Usage]]:
    """``aggregate`` for many customers in one query (all their events, tagged or not)."""
    customer_ids = sorted(set(customer_ids))
    if not customer_ids:
        return {}
    scope = Scope(customer_ids=tuple(customer_ids), received_before=received_before)
    window = window_for(metric, start, end)
    return shape(metric, customer_ids, _raw_usage(metric, scope, window))


def aggregate_subscriptions(
    *,
    metric: Metric,
    subscriptions: Iterable[tuple[int, str]],
    start: datetime | None,
    end: datetime,
    received_before: datetime | None = None,
) -> dict[tuple[int, str], dict[tuple[str, ...], Usage]]:
    """``aggregate(subscription_external_id=tag, include_untagged=True)`` for many ``(customer_id, tag)`` pairs
    in one query (the billing run's batch path): keyed by the pairs as given."""
    pairs = sorted(set(subscriptions))
    if not pairs:
        return {}
    window = window_for(metric, start, end)
    d = Dialect()
    scope = Scope(
        customer_ids=tuple(sorted({customer_id for customer_id, _ in pairs})), received_before=received_before
    )
    wanted: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for customer_id, tag in pairs:
        wanted.setdefault((customer_id, tag), []).append((customer_id, tag))
        if tag != "":
            wanted.setdefault((customer_id, ""), []).append((customer_id, tag))
    usage: dict[tuple[int, str], Usage] = {}
    answers: dict[tuple[int, str], dict] = {}
    if window.empty:
        rows: dict = {}
    elif metric.aggregation == Metric.Aggregation.UNIQUE_COUNT:
        rows = _distinct_values_by_tag(d, metric, scope, [(window.start, window.end)])
    else:
        ranges = [(None, window.end)] if metric.aggregation == Metric.Aggregation.WEIGHTED_SUM else None
        rows = raw_partials(d, metric, scope, window, ranges or [(window.start, window.end)], by_tag=True)
    merged: dict[tuple[int, str], dict[str, object]] = {pair: {} for pair in pairs}
    for (customer_id, tag, group_key), part in rows.items():
        for pair in wanted.get((customer_id, tag), ()):
            merged[pair].setdefault(group_key, []).append(part)
    for pair, groups in merged.items():
        if metric.aggregation == Metric.Aggregation.UNIQUE_COUNT:
            distinct = {}
            for group_key, parts in groups.items():
                values = set().union(*(values for values, _ in parts))
                distinct[(pair[0], group_key)] = (len(values), sum(count for _, count in parts))
            usage = finalize(metric, window, {}, distinct)
        else:
            partials = {}
            for group_key, parts in groups.items():
                total = partials[(pair[0], group_key)] = Partial()
                for part in parts:
                    total.add(part.count, part.total, part.max, part.min, part.latest, part.integral)
            usage = finalize(metric, window, partials)
        answers[pair] = shape(metric, [pair[0]], usage)[pair[0]]
    return answers


def _distinct_values_by_tag(d: Dialect, metric: Metric, scope: Scope, ranges) -> dict[tuple, tuple[set, int]]:
    where, params = match_sql(d, metric, scope)
    when, when_params = ranges_sql(d, ranges)
    gkey, gkey_params = d.group_key("e", group_by(metric))
    value, value_params = value_sql(d, metric, "e")
    sql = (
        f"SELECT e.customer_id, e.subscription_external_id, {gkey}, {value}, COUNT(*) FROM {EVENT_TABLE} e "
        f"WHERE {where} AND {when} GROUP BY e.customer_id, e.subscription_external_id, {gkey}, {value}"
    )
    out: dict[tuple, tuple[set, int]] = {}
    for customer_id, tag, group_key, found, count in fetch_rows(
        sql, gkey_params + value_params + params + when_params + gkey_params + value_params
    ):
        values, total = out.get((customer_id, tag, group_key), (set(), 0))
        values.add(found)
        out[(customer_id, tag, group_key)] = (values, total + count)
    return out


def events_for(
    *,
    metric: Metric,
    customer_id: int,
    start: datetime | None,
    end: datetime,
    group: Sequence[str] | dict | None = None,
    subscription_external_id: str | None = None,
    include_untagged: bool = True,
    received_after: datetime | None = None,
    received_before: datetime | None = None,
    exclude_users: Iterable[str] | None = None,
) -> QuerySet[Event]:
    """Exactly the events behind ``aggregate(...)`` for the same arguments (one group if ``group`` is given)."""
    d = Dialect()
    scope = Scope(
        customer_ids=(customer_id,),
        subscription_external_id=subscription_external_id,
        include_untagged=include_untagged,
        received_after=received_after,
        received_before=received_before,
        exclude_users=tuple(sorted(set(exclude_users or ()))),
    )
    window = window_for(metric, start, end)
    if window.empty:
        return Event.objects.none()
    where, params = match_sql(d, metric, scope)
    if metric.aggregation == Metric.Aggregation.WEIGHTED_SUM:
        when, when_params = ranges_sql(d, [(None, window.end)])
    else:
        when, when_params = ranges_sql(d, [(window.start, window.end)])
    where, params = f"{where} AND {when}", params + when_params
    keys = group_by(metric)
    if group is not None and keys:
        values = [group.get(key, "") for key in keys] if isinstance(group, dict) else list(group)
        if len(values) != len(keys):
            raise ValueError(f"group must have {len(keys)} value(s): {', '.join(keys)}")
        for key, value in zip(keys, values, strict=True):
            text, p = d.text("e", key)
            where += f" AND COALESCE({text}, '') = %s"
            params += p + [filter_text(value)]
    subquery = RawSQL(f"SELECT e.id FROM {EVENT_TABLE} e WHERE {where}", params)
    return Event.objects.filter(id__in=subquery)
