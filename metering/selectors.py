"""Reads of the metering app: usage from the pre-aggregated buckets, and event listings.

``current_usage`` answers exactly what ``metering.aggregation.aggregate`` answers
(without the invoicing-only options), at a cost that does not grow with the
number of events: whole buckets inside the window are summed from
``UsageBucket``; only the partial buckets at the window's edges (a period that
starts at local midnight in a half-hour time zone, a rolling window) are read
from the raw events, through the ``(customer, code, timestamp)`` index.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.db.models import QuerySet

from atlas import db
from catalog.models import Metric
from customers.models import Customer
from metering.aggregation import (
    BUCKET_TABLE,
    EVENT_TABLE,
    GROUP_SEPARATOR,
    Dialect,
    Partial,
    Scope,
    Usage,
    Window,
    finalize,
    group_by,
    match_sql,
    ranges_sql,
    raw_partials,
    shape,
    value_sql,
    window_for,
)
from metering.models import Event
from metering.services import metric_state_ensure


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class _Plan:
    """How a window splits into whole buckets and raw edges, for a bucket width."""

    def __init__(self, window: Window, width: int):
        end = window.end_epoch
        self.last = end // width * width  # buckets start before this
        start = window.start_epoch
        if start is None:
            self.first = None  # no lower bound
            self.floor_start = None
            self.raw = [(_at(self.last), window.end)] if self.last < end else []
            return
        self.first = -(-start // width) * width  # ceil
        self.floor_start = start // width * width
        if self.first < self.last:
            self.raw = []
            if start < self.first:
                self.raw.append((window.start, _at(self.first)))
            if self.last < end:
                self.raw.append((_at(self.last), window.end))
        else:
            self.first = self.last = None  # the window fits in at most two partial buckets: all raw
            self.raw = [(window.start, window.end)]

    @property
    def has_buckets(self) -> bool:
        return self.last is not None


def _bucket_where(metric: Metric, scope: Scope) -> tuple[str, list]:
    customers = ", ".join(["%s"] * len(scope.customer_ids))
    where, params = ["b.metric_id = %s", f"b.customer_id IN ({customers})"], [metric.pk, *scope.customer_ids]
    tag, tag_params = scope.tag_sql("b.subscription_external_id")
    if tag:
        where.append(tag)
        params += tag_params
    if scope.user is not None:
        if not metric.user_buckets:
            raise ValueError(f"metric {metric.code!r} keeps no per-user buckets (no user-scoped feature counts it)")
        where.append("b.user_key = %s")
        params.append(scope.user)
    if scope.group_key is not None:
        where.append("b.group_key = %s")
        params.append(scope.group_key)
    return " AND ".join(where), params


def _bucket_partials(metric: Metric, scope: Scope, window: Window, plan: _Plan) -> dict[tuple[int, str], Partial]:
    partials: dict[tuple[int, str], Partial] = {}
    where, params = _bucket_where(metric, scope)
    aggregation = metric.aggregation
    if aggregation == Metric.Aggregation.WEIGHTED_SUM:
        # Buckets before the window's first partial bucket only carry their deltas into the level.
        before, before_params = "b.bucket < %s", [plan.floor_start]
        if plan.has_buckets:
            before = f"({before} OR (b.bucket >= %s AND b.bucket < %s))"
            before_params += [plan.first, plan.last]
        sql = (
            f"SELECT b.customer_id, b.group_key, SUM(CASE WHEN b.bucket >= %s THEN b.events_count ELSE 0 END), "
            f"NULL, NULL, NULL, SUM(CASE WHEN b.bucket >= %s THEN b.total * (%s - b.bucket) - b.weighted "
            f"ELSE b.total * %s END) FROM {BUCKET_TABLE} b WHERE {where} AND {before} "
            f"GROUP BY b.customer_id, b.group_key"
        )
        span = window.end_epoch - window.start_epoch
        select_params = [plan.floor_start, plan.floor_start, window.end_epoch, span]
        rows = db.rows(sql, select_params + params + before_params)
    elif not plan.has_buckets:
        return partials
    else:
        bounds, bound_params = "b.bucket < %s", [plan.last]
        if plan.first is not None:
            bounds, bound_params = "b.bucket >= %s AND b.bucket < %s", [plan.first, plan.last]
        if aggregation == Metric.Aggregation.LATEST:
            sql = (
                f"SELECT customer_id, group_key, latest_at, latest_id, latest_value, cnt FROM ("
                f"SELECT b.customer_id, b.group_key, b.latest_at, b.latest_id, b.latest_value, "
                f"ROW_NUMBER() OVER (PARTITION BY b.customer_id, b.group_key "
                f"ORDER BY b.latest_at DESC, b.latest_id DESC) AS rn, "
                f"SUM(b.events_count) OVER (PARTITION BY b.customer_id, b.group_key) AS cnt "
                f"FROM {BUCKET_TABLE} b WHERE {where} AND {bounds}) s WHERE rn = 1"
            )
            for customer_id, key, at, event_id, value, count in db.rows(sql, params + bound_params):
                partials.setdefault((customer_id, key), Partial()).add(count=count, latest=(at, event_id, value))
            return partials
        sql = (
            f"SELECT b.customer_id, b.group_key, SUM(b.events_count), SUM(b.total), MAX(b.max_value), "
            f"MIN(b.min_value), NULL FROM {BUCKET_TABLE} b WHERE {where} AND {bounds} "
            f"GROUP BY b.customer_id, b.group_key"
        )
        rows = db.rows(sql, params + bound_params)
    for customer_id, key, count, total, maximum, minimum, integral in rows:
        partials.setdefault((customer_id, key), Partial()).add(count, total, maximum, minimum, None, integral)
    return partials


def _distinct(metric: Metric, scope: Scope, plan: _Plan) -> dict[tuple[int, str], tuple[int, int]]:
    """unique_count: distinct values of whole buckets and raw edges together, in one query."""
    d = Dialect()
    parts, params = [], []
    if plan.has_buckets:
        where, where_params = _bucket_where(metric, scope)
        bounds, bound_params = "b.bucket < %s", [plan.last]
        if plan.first is not None:
            bounds, bound_params = "b.bucket >= %s AND b.bucket < %s", [plan.first, plan.last]
        parts.append(
            f"SELECT b.customer_id AS customer_id, b.group_key AS gkey, b.value AS val, b.events_count AS cnt "
            f"FROM {BUCKET_TABLE} b WHERE {where} AND {bounds}"
        )
        params += where_params + bound_params
    if plan.raw:
        where, where_params = match_sql(d, metric, scope)
        when, when_params = ranges_sql(d, plan.raw)
        gkey, gkey_params = d.group_key("e", group_by(metric))
        value, value_params = value_sql(d, metric, "e")
        parts.append(
            f"SELECT e.customer_id AS customer_id, {gkey} AS gkey, {value} AS val, 1 AS cnt "
            f"FROM {EVENT_TABLE} e WHERE {where} AND {when}"
        )
        params += gkey_params + value_params + where_params + when_params
    if not parts:
        return {}
    sql = (
        f"SELECT customer_id, gkey, COUNT(DISTINCT val), SUM(cnt) FROM ({' UNION ALL '.join(parts)}) u "
        f"GROUP BY customer_id, gkey"
    )
    return {(customer_id, key): (values, count) for customer_id, key, values, count in db.rows(sql, params)}


def _usage(metric: Metric, scope: Scope, window: Window, width: int) -> dict[tuple[int, str], Usage]:
    if window.empty:
        return {}
    plan = _Plan(window, width)
    if metric.aggregation == Metric.Aggregation.UNIQUE_COUNT:
        return finalize(metric, window, {}, _distinct(metric, scope, plan))
    partials = _bucket_partials(metric, scope, window, plan)
    raw = plan.raw
    if metric.aggregation == Metric.Aggregation.WEIGHTED_SUM and plan.floor_start < window.start_epoch:
        # Events between the start of the first partial bucket and the window start set the entering level.
        low = _at(plan.floor_start)
        raw = [(low, raw[0][1])] + raw[1:] if raw and raw[0][0] == window.start else [(low, window.start)] + raw
    for key, partial in raw_partials(Dialect(), metric, scope, window, raw).items():
        merged = partials.setdefault(key, Partial())
        merged.add(
            partial.count,
            partial.total,
            partial.max,
            partial.min,
            partial.latest,
            partial.integral,
        )
    return finalize(metric, window, partials)


def current_usage(
    *,
    metric: Metric,
    customer_id: int,
    start: datetime | None,
    end: datetime,
    subscription_external_id: str | None = None,
    include_untagged: bool = True,
    stored_signature: str | None = None,
    user: str | None = None,
    group: tuple[str, ...] | None = None,
) -> dict[tuple[str, ...], Usage]:
    """``aggregate(...)`` from the pre-aggregated state: same keys, same quantities, cost independent of volume.

    ``stored_signature`` is the metric state's signature if the caller already read it (saves a query).
    ``user`` keeps only the events whose ``user`` property is that user (the metric must keep per-user
    buckets: ``Metric.user_buckets``); ``group`` only the events of that group (values in ``group_by``
    order): the answer then holds that group alone.
    """
    width = metric_state_ensure(metric=metric, stored_signature=stored_signature)
    scope = Scope(
        customer_ids=(customer_id,),
        subscription_external_id=subscription_external_id,
        include_untagged=include_untagged,
        user=user,
        group_key=None if group is None else GROUP_SEPARATOR.join(group),
    )
    window = window_for(metric, start, end)
    return shape(metric, [customer_id], _usage(metric, scope, window, width))[customer_id]


def current_usage_customers(
    *, metric: Metric, customer_ids: Iterable[int], start: datetime | None, end: datetime
) -> dict[int, dict[tuple[str, ...], Usage]]:
    """``current_usage`` for many customers at once (all their events, tagged or not)."""
    customer_ids = sorted(set(customer_ids))
    if not customer_ids:
        return {}
    width = metric_state_ensure(metric=metric)
    scope = Scope(customer_ids=tuple(customer_ids))
    return shape(metric, customer_ids, _usage(metric, scope, window_for(metric, start, end), width))


def events_list(
    *,
    merchant,
    customer: str | None = None,
    code: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    events: QuerySet[Event] | None = None,
) -> QuerySet[Event]:
    """A merchant's events (``events`` narrows a queryset the caller already scoped), filtered by customer
    external id, code and ``[start, end)``."""
    if events is None:
        events = Event.objects.all()
    events = events.filter(merchant=merchant).select_related("customer")
    if customer is not None:
        customer_id = Customer.objects.filter(merchant=merchant, external_id=customer).values_list("id", flat=True)
        events = events.filter(customer_id__in=customer_id)
    if code is not None:
        events = events.filter(code=code)
    if start is not None:
        events = events.filter(timestamp__gte=start)
    if end is not None:
        events = events.filter(timestamp__lt=end)
    return events
