"""Entitlements: may this customer use a feature, and how much is left (SPEC §8, docs/metering.md).

Each answer is ``{key, kind, allowed, limit, usage, remaining, value}``. The rules:

- The feature's value comes from the ``PlanFeature`` rows of the plan versions
  of the customer's subscriptions active at ``at``, with a subscription's
  ``overrides["features"][key]`` on top; a feature no active plan mentions falls
  back to the feature's defaults. When several subscriptions grant the same
  feature the most generous wins (unlimited, then the highest limit; enabled if
  any enables it; a value from the most recently started subscription).
- ``boolean``: ``allowed`` is whether it is enabled.
- ``value``: ``value`` is the string; ``allowed`` is whether there is one.
- ``limit``: ``limit`` 0 is no access (``allowed`` false), -1 unlimited
  (``remaining`` null). ``usage`` is the feature metric's current quantity
  (all groups together) over the metric's window: the billing period of the
  granting subscription (the customer's first active one, or the merchant's
  calendar month, for a default limit), the rolling window ending at ``at``,
  or all time. ``remaining = max(limit - usage, 0)``. A ``hard`` limit is no
  longer allowed once usage reaches it; a ``soft`` one stays allowed and
  reports usage over the limit.
- Usage comes from the pre-aggregated state, so a check costs the same at any volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from billing.models import Subscription
from billing.periods import Calendar
from billing.subscriptions import subscription_period_at
from catalog.models import Feature, Metric, PlanFeature, PlanVersion
from customers.models import Customer
from metering.selectors import current_usage

ZERO = Decimal(0)


@dataclass(frozen=True)
class Entitlement:
    key: str
    kind: str
    allowed: bool
    limit: int | None
    usage: Decimal | None
    remaining: Decimal | None
    value: str | None
    enforcement: str | None = None
    subscription: str | None = None


@dataclass
class _Grant:
    subscription: Subscription | None
    limit: int | None = None
    enabled: bool | None = None
    value: str | None = None
    enforcement: str = PlanFeature.Enforcement.HARD


def _grants(feature: Feature, subscriptions: list[Subscription], plan_features: dict) -> list[_Grant]:
    grants = []
    for subscription in subscriptions:
        row = plan_features.get((subscription.plan_version_id, feature.pk))
        if row is None:
            continue
        grant = _Grant(subscription, row.limit, row.enabled, row.value or None, row.enforcement)
        overrides = (subscription.overrides or {}).get("features") or {}
        if feature.key in overrides:
            override = overrides[feature.key]
            if feature.kind == Feature.Kind.LIMIT:
                grant.limit = override
            elif feature.kind == Feature.Kind.BOOLEAN:
                grant.enabled = override
            else:
                grant.value = override or None
        grants.append(grant)
    return grants


def _generous(feature: Feature, grants: list[_Grant]) -> _Grant:
    if not grants:
        return _Grant(
            None,
            limit=feature.default_limit if feature.default_limit is not None else Feature.NO_ACCESS,
            enabled=feature.default_enabled,
            value=feature.default_value or None,
        )
    if feature.kind == Feature.Kind.LIMIT:

        def rank(grant: _Grant):
            limit = grant.limit if grant.limit is not None else Feature.NO_ACCESS
            return (limit == Feature.UNLIMITED, limit, grant.enforcement == PlanFeature.Enforcement.SOFT)

        return max(grants, key=rank)
    if feature.kind == Feature.Kind.BOOLEAN:
        return next((grant for grant in grants if grant.enabled), grants[0])
    return max(grants, key=lambda grant: (grant.value is not None, grant.subscription.started_at))


def _window(metric: Metric, grant: _Grant, subscriptions: list[Subscription], customer: Customer, at: datetime):
    if metric.period != Metric.Period.BILLING_PERIOD:
        return None, at, None
    subscription = grant.subscription or (subscriptions[0] if subscriptions else None)
    period = subscription_period_at(subscription, at) if subscription is not None else None
    if period is None:
        merchant = customer.merchant
        calendar = Calendar(
            start=min(customer.created_at, at),
            interval="month",
            anchor="calendar",
            billing_day=merchant.billing_day,
            timezone=merchant.timezone,
        )
        period = calendar.period_at(at)
        return period.start, period.end, None
    return period.start, period.end, subscription


def _usage(metric: Metric, grant: _Grant, subscriptions, customer: Customer, at: datetime) -> Decimal:
    start, end, subscription = _window(metric, grant, subscriptions, customer, at)
    scope = {}
    if subscription is not None and grant.subscription is not None:
        scope = {"subscription_external_id": subscription.external_id, "include_untagged": True}
    usage = current_usage(metric=metric, customer_id=customer.pk, start=start, end=end, **scope)
    return sum((value.quantity for value in usage.values()), ZERO)


def _answer(feature: Feature, grant: _Grant, subscriptions, customer: Customer, at: datetime) -> Entitlement:
    base = {"key": feature.key, "kind": feature.kind, "enforcement": None}
    base["subscription"] = grant.subscription.external_id if grant.subscription is not None else None
    if feature.kind == Feature.Kind.BOOLEAN:
        return Entitlement(**base, allowed=bool(grant.enabled), limit=None, usage=None, remaining=None, value=None)
    if feature.kind == Feature.Kind.VALUE:
        return Entitlement(**base, allowed=grant.value is not None, limit=None, usage=None, remaining=None,
                           value=grant.value)  # fmt: skip
    limit = grant.limit if grant.limit is not None else Feature.NO_ACCESS
    base["enforcement"] = grant.enforcement
    if limit == Feature.NO_ACCESS:
        return Entitlement(**base, allowed=False, limit=0, usage=None, remaining=ZERO, value=None)
    usage = _usage(feature.metric, grant, subscriptions, customer, at)
    if limit == Feature.UNLIMITED:
        return Entitlement(**base, allowed=True, limit=-1, usage=usage, remaining=None, value=None)
    remaining = max(Decimal(limit) - usage, ZERO)
    allowed = grant.enforcement == PlanFeature.Enforcement.SOFT or usage < limit
    return Entitlement(**base, allowed=allowed, limit=limit, usage=usage, remaining=remaining, value=None)


def _context(customer: Customer, at: datetime, features: list[Feature]):
    """The customer's subscriptions active at ``at`` and their plan versions' rows for ``features``.

    One raw query (an entitlement check runs it on every call): subscriptions with their plan version's
    calendar fields and, joined, the ``PlanFeature`` rows of the requested features.
    """
    q = connection.ops.quote_name
    feature_ids = [feature.pk for feature in features] or [0]
    sql = (
        f"SELECT s.*, v.{q('interval')} AS v_interval, v.interval_count AS v_interval_count, "
        f"v.currency AS v_currency, pf.id AS pf_id, pf.feature_id AS pf_feature_id, pf.{q('limit')} AS pf_limit, "
        f"pf.enabled AS pf_enabled, pf.value AS pf_value, pf.enforcement AS pf_enforcement "
        f"FROM {Subscription._meta.db_table} s "
        f"JOIN {PlanVersion._meta.db_table} v ON v.id = s.plan_version_id "
        f"LEFT JOIN {PlanFeature._meta.db_table} pf ON pf.plan_version_id = s.plan_version_id "
        f"AND pf.feature_id IN ({', '.join(['%s'] * len(feature_ids))}) "
        f"WHERE s.customer_id = %s AND s.started_at <= %s AND (s.ends_at IS NULL OR s.ends_at > %s) "
        f"ORDER BY s.started_at, s.id"
    )
    instant = connection.ops.adapt_datetimefield_value(at)
    subscriptions: dict[int, Subscription] = {}
    plan_features = {}
    for row in Subscription.objects.raw(sql, [*feature_ids, customer.pk, instant, instant]):
        subscription = subscriptions.setdefault(row.pk, row)
        if subscription is row:
            row.plan_version = PlanVersion(
                id=row.plan_version_id, interval=row.v_interval, interval_count=row.v_interval_count,
                currency=row.v_currency,
            )  # fmt: skip
        if row.pf_id is not None:
            plan_features[(row.plan_version_id, row.pf_feature_id)] = PlanFeature(
                id=row.pf_id, plan_version_id=row.plan_version_id, feature_id=row.pf_feature_id, limit=row.pf_limit,
                enabled=row.pf_enabled, value=row.pf_value, enforcement=row.pf_enforcement,
            )  # fmt: skip
    return list(subscriptions.values()), plan_features


def customer_entitlements(*, customer: Customer, at: datetime | None = None) -> list[Entitlement]:
    """Every feature of the merchant as the customer is entitled to it at ``at`` (default now), by key."""
    at = at or timezone.now()
    features = list(Feature.objects.filter(merchant_id=customer.merchant_id).select_related("metric").order_by("key"))
    subscriptions, plan_features = _context(customer, at, features)
    answers = []
    for feature in features:
        grant = _generous(feature, _grants(feature, subscriptions, plan_features))
        answers.append(_answer(feature, grant, subscriptions, customer, at))
    return answers


def customer_entitlement(*, customer: Customer, key: str, at: datetime | None = None) -> Entitlement:
    """One feature's entitlement; ``Feature.DoesNotExist`` for a key the merchant does not have."""
    at = at or timezone.now()
    feature = Feature.objects.select_related("metric").get(merchant_id=customer.merchant_id, key=key)
    subscriptions, plan_features = _context(customer, at, [feature])
    grant = _generous(feature, _grants(feature, subscriptions, plan_features))
    return _answer(feature, grant, subscriptions, customer, at)
