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

Scopes (SPEC §11.7): a ``user``-scoped feature answers for one team member's events (``user``, their
``user`` property); ``group`` answers for one usage bucket of a metric that groups by properties (the
limit applies to each bucket); a ``day`` metric counts the calendar day in the merchant's time zone; a
seat limit (``counts: users``) counts the customer's active provisioned users. ``allowed`` keeps its
meaning everywhere; ``scope`` and ``bucket`` say what was counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

from atlas import db
from atlas.models import Merchant
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import Calendar
from billing.subscriptions.selectors import ACTIVE_AT_SQL, subscription_period_at
from catalog.models import Feature, Metric, PlanFeature, PlanVersion
from catalog.services import metric_user_buckets_enable
from customers.models import Customer, CustomerUser
from metering.aggregation import GROUP_SEPARATOR
from metering.models import MetricState
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
    scope: str = Feature.Scope.CUSTOMER
    bucket: dict[str, str] | None = None  # what was counted: {"user": ..., <group property>: ...}


class EntitlementQueryError(ValueError):
    """A ``user`` or ``group.<property>`` that does not fit the feature asked about: a 400 on ``field``."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True)
class Bucket:
    """Which events an answer counts: one team member's (``user``) and/or one usage bucket (``group``:
    ``{property: value}`` for every property the metric groups by)."""

    user: str | None = None
    group: dict[str, str] | None = None


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


def local_day(instant: datetime, zone: str) -> tuple[datetime, datetime]:
    """The calendar day containing ``instant`` in time zone ``zone``, as a UTC ``[start, end)``: from local
    midnight to the next local midnight (23 or 25 hours on the days clocks change)."""
    tz = ZoneInfo(zone)
    day = instant.astimezone(tz).date()
    start = datetime.combine(day, time(), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _window(metric: Metric, grant: _Grant, context: _Context, at: datetime):
    if metric.period == Metric.Period.DAY:
        start, end = local_day(at, _merchant(context).timezone)
        return start, context.until or end, None
    if metric.period != Metric.Period.BILLING_PERIOD:
        return None, at, None
    subscriptions = context.subscriptions
    subscription = grant.subscription or (subscriptions[0] if subscriptions else None)
    period = subscription_period_at(subscription, at) if subscription is not None else None
    if period is None:
        customer, merchant = context.customer, _merchant(context)
        calendar = Calendar(
            start=min(customer.created_at, at),
            interval="month",
            anchor="calendar",
            billing_day=merchant.billing_day,
            timezone=merchant.timezone,
        )
        period = calendar.period_at(at)
        return period.start, context.until or period.end, None
    return period.start, context.until or period.end, subscription


def _merchant(context: _Context) -> Merchant:
    return context.customer.merchant  # loaded by _load when the caller had it, else read once here


def _usage(metric: Metric, grant: _Grant, context: _Context, at: datetime, bucket: Bucket | None) -> Decimal:
    start, end, subscription = _window(metric, grant, context, at)
    scope = {}
    if subscription is not None and grant.subscription is not None:
        scope = {"subscription_external_id": subscription.external_id, "include_untagged": True}
    if bucket is not None:
        scope["user"] = bucket.user
        if bucket.group is not None:
            scope["group"] = tuple(bucket.group[name] for name in metric.group_by)
    usage = current_usage(metric=metric, customer_id=context.customer.pk, start=start, end=end,
                          stored_signature=context.signatures[metric.pk], **scope)  # fmt: skip
    return sum((value.quantity for value in usage.values()), ZERO)


def active_users(*, customer_id: int, at: datetime) -> int:
    """The customer's users provisioned at ``at`` (``provisioned_at <= at < deprovisioned_at``)."""
    found = db.row(_ACTIVE_USERS_SQL, [customer_id, at, at])
    return int(found[0])


_ACTIVE_USERS_SQL = (
    f"SELECT COUNT(*) FROM {CustomerUser._meta.db_table} WHERE customer_id = %s AND provisioned_at <= %s "
    f"AND (deprovisioned_at IS NULL OR deprovisioned_at > %s)"
)


def _bucket_for(feature: Feature, context: _Context) -> Bucket | None:
    """What this feature's answer counts, from the caller's ``user`` and ``group`` (checked by _checked)."""
    user = context.user if feature.scope == Feature.Scope.USER else None
    if user is None and context.group is None:
        return None
    return Bucket(user=user, group=context.group)


def _answer(feature: Feature, grant: _Grant, context: _Context, at: datetime) -> Entitlement:
    base = {"key": feature.key, "kind": feature.kind, "enforcement": None, "scope": feature.scope}
    base["subscription"] = grant.subscription.external_id if grant.subscription is not None else None
    bucket = _bucket_for(feature, context)
    if bucket is not None:
        base["bucket"] = {**({"user": bucket.user} if bucket.user is not None else {}), **(bucket.group or {})}
    if feature.kind == Feature.Kind.BOOLEAN:
        return Entitlement(**base, allowed=bool(grant.enabled), limit=None, usage=None, remaining=None, value=None)
    if feature.kind == Feature.Kind.VALUE:
        return Entitlement(**base, allowed=grant.value is not None, limit=None, usage=None, remaining=None,
                           value=grant.value)  # fmt: skip
    limit = grant.limit if grant.limit is not None else Feature.NO_ACCESS
    base["enforcement"] = grant.enforcement
    if limit == Feature.NO_ACCESS:
        return Entitlement(**base, allowed=False, limit=0, usage=None, remaining=ZERO, value=None)
    if feature.counts == Feature.Counts.USERS:
        usage = Decimal(active_users(customer_id=context.customer.pk, at=context.until or at))
    elif feature.scope == Feature.Scope.USER and (bucket is None or bucket.user is None):
        # A limit per team member, listed without ?user=: the limit, but no one's usage.
        return Entitlement(**base, allowed=True, limit=limit, usage=None, remaining=None, value=None)
    else:
        if feature.scope == Feature.Scope.USER and not feature.metric.user_buckets:
            metric_user_buckets_enable(metric=feature.metric)  # a feature made outside the catalog services
        usage = _usage(feature.metric, grant, context, at, bucket)
    if limit == Feature.UNLIMITED:
        return Entitlement(**base, allowed=True, limit=-1, usage=usage, remaining=None, value=None)
    remaining = max(Decimal(limit) - usage, ZERO)
    allowed = grant.enforcement == PlanFeature.Enforcement.SOFT or usage < limit
    return Entitlement(**base, allowed=allowed, limit=limit, usage=usage, remaining=remaining, value=None)


_LOAD = db.Select(
    ("c", Customer, ["created_at"]),
    ("f", Feature, None),
    ("m", Metric, None),
    ("st", MetricState, ["signature"]),
    ("s", Subscription, ["merchant", "customer", "external_id", "plan_version", "started_at", "ends_at",
                         "trial_ends_at", "billing_anchor", "billing_day", "timezone", "overrides"]),
    ("v", PlanVersion, ["interval", "interval_count", "currency"]),
    ("pf", PlanFeature, ["plan_version", "feature", "limit", "enabled", "value", "enforcement"]),
)  # fmt: skip


@cache
def _load_sql(one_feature: bool) -> str:
    """Customer, features (with metric and its state's signature) and active subscriptions with their plan
    versions' rows for those features: one statement, one row per (feature, subscription)."""
    t = {model: model._meta.db_table for model in (Customer, Feature, Metric, MetricState, Subscription,
                                                   PlanVersion, PlanFeature)}  # fmt: skip
    feature_key = "AND f.key = %s" if one_feature else ""
    return (
        f"SELECT {_LOAD.columns()} FROM {t[Customer]} c "
        f"LEFT JOIN {t[Feature]} f ON f.merchant_id = c.merchant_id {feature_key} "
        f"LEFT JOIN {t[Metric]} m ON m.id = f.metric_id "
        f"LEFT JOIN {t[MetricState]} st ON st.metric_id = m.id "
        f"LEFT JOIN {t[Subscription]} s ON s.customer_id = c.id AND {ACTIVE_AT_SQL} "
        f"LEFT JOIN {t[PlanVersion]} v ON v.id = s.plan_version_id "
        f"LEFT JOIN {t[PlanFeature]} pf ON pf.plan_version_id = s.plan_version_id AND pf.feature_id = f.id "
        f"WHERE c.merchant_id = %s AND c.external_id = %s "
        f"ORDER BY f.{connection.ops.quote_name('key')}, s.started_at, s.id"
    )


@dataclass
class _Context:
    customer: Customer
    features: list[Feature]
    signatures: dict[int, str | None]  # metric id -> its state's stored signature
    subscriptions: list[Subscription]
    plan_features: dict[tuple[int, int], PlanFeature]
    # An answer for an instant a caller named counts the period's events before it; the answer for now counts
    # the period's events as stored (whole buckets: the hot path; events are at most 5 minutes ahead of now).
    until: datetime | None = None
    user: str | None = None  # ?user=: user-scoped features answer for this team member
    group: dict[str, str] | None = None  # ?group.<property>=: one usage bucket (one feature only)


def _load(
    merchant_id: int, external_id: str, key: str | None, at: datetime, merchant: Merchant | None = None
) -> _Context:
    """Everything an entitlement answer needs but the usage, in one prepared query.

    ``merchant``, if the caller has it loaded, saves reading it for a default limit's calendar.
    ``Customer.DoesNotExist`` for an unknown external id, ``Feature.DoesNotExist`` for an unknown ``key``.
    """
    params = [key] if key is not None else []
    found = db.rows(_load_sql(key is not None), [*params, at, at, merchant_id, external_id])
    if not found:
        raise Customer.DoesNotExist(f"No customer {external_id!r}")
    features: dict[int, Feature] = {}
    signatures: dict[int, str | None] = {}
    subscriptions: dict[int, Subscription] = {}
    plan_features: dict[tuple[int, int], PlanFeature] = {}
    customer = None
    for values in found:
        row_customer, feature, metric, state, subscription, version, plan_feature = _LOAD.instances(values)
        if customer is None:
            customer = row_customer
            customer.merchant_id, customer.external_id = merchant_id, external_id
            if merchant is not None:
                customer.merchant = merchant
        if feature is None:
            if key is not None:
                raise Feature.DoesNotExist(f"No feature {key!r}")
            continue
        if feature.pk not in features:
            features[feature.pk] = feature
            feature.metric = metric
            if metric is not None:
                signatures[metric.pk] = state.signature if state is not None else None
        if subscription is not None and subscription.pk not in subscriptions:
            subscription.plan_version = version
            subscriptions[subscription.pk] = subscription
        if plan_feature is not None:
            plan_features[(plan_feature.plan_version_id, plan_feature.feature_id)] = plan_feature
    ordered = sorted(subscriptions.values(), key=lambda item: (item.started_at, item.pk))
    return _Context(customer, list(features.values()), signatures, ordered, plan_features)


def _answers(context: _Context, at: datetime) -> list[Entitlement]:
    answers = []
    for feature in context.features:
        grant = _generous(feature, _grants(feature, context.subscriptions, context.plan_features))
        answers.append(_answer(feature, grant, context, at))
    return answers


def _checked(context: _Context, key: str | None, bucket: Bucket | None) -> None:
    """Whether ``user`` and ``group`` fit what is asked (``EntitlementQueryError`` names the parameter).

    One feature: a user-scoped one needs ``user`` and only it takes one; ``group`` names every property the
    feature metric groups by and nothing else. The list takes ``user`` (for its user-scoped features) but no
    ``group`` (a bucket belongs to one feature's metric).
    """
    user = bucket.user if bucket is not None else None
    group = bucket.group if bucket is not None else None
    if user is not None and (not user or GROUP_SEPARATOR in user):
        raise EntitlementQueryError("user", "must be a user id (not blank, without U+001F)")
    if key is None:
        if group:
            raise EntitlementQueryError(f"group.{next(iter(group))}", "applies to one feature: ask /entitlements/{key}")
        context.user = user
        return
    (feature,) = context.features
    seats = feature.kind == Feature.Kind.LIMIT and feature.counts == Feature.Counts.USERS
    if feature.scope == Feature.Scope.USER and user is None:
        raise EntitlementQueryError("user", f"is required: {feature.key!r} is limited per team member (?user=)")
    if user is not None and feature.scope != Feature.Scope.USER:
        raise EntitlementQueryError("user", f"applies only to a user-scoped feature; {feature.key!r} is per customer")
    if group:
        grouped = [] if seats or feature.metric is None else list(feature.metric.group_by or [])
        for name, value in group.items():
            if name not in grouped:
                by = f"groups by {', '.join(grouped)}" if grouped else "has no usage buckets"
                raise EntitlementQueryError(f"group.{name}", f"is not a bucket property: {feature.key!r} {by}")
            if GROUP_SEPARATOR in value:
                raise EntitlementQueryError(f"group.{name}", "must not contain U+001F")
        missing = [name for name in grouped if name not in group]
        if missing:
            raise EntitlementQueryError(
                f"group.{missing[0]}", f"is required: a bucket of {feature.key!r} names {', '.join(grouped)}"
            )
        context.group = dict(group)
    context.user = user


def _answers_at(
    merchant_id: int,
    external_id: str,
    key: str | None,
    at: datetime | None,
    merchant: Merchant | None = None,
    bucket: Bucket | None = None,
) -> list[Entitlement]:
    """The answers at ``at``, or now when ``at`` is None (see ``_Context.until``)."""
    instant = at or timezone.now()
    context = _load(merchant_id, external_id, key, instant, merchant)
    context.until = at
    _checked(context, key, bucket)
    return _answers(context, instant)


def customer_entitlements(
    *, customer: Customer, at: datetime | None = None, user: str | None = None
) -> list[Entitlement]:
    """Every feature of the merchant as the customer is entitled to it at ``at`` (default now), by key;
    user-scoped features for team member ``user`` (without one: their limits, no usage)."""
    return _answers_at(customer.merchant_id, customer.external_id, None, at, bucket=Bucket(user=user))


def entitlements_check(
    *,
    merchant: Merchant,
    customer_external_id: str,
    key: str | None = None,
    at: datetime | None = None,
    user: str | None = None,
    group: dict[str, str] | None = None,
) -> list[Entitlement]:
    """The API's check: one feature (``key``) or all of them, for a customer known by external id, for one
    team member (``user``) and one usage bucket (``group``) where asked.

    ``Customer.DoesNotExist`` / ``Feature.DoesNotExist`` when either is unknown to the merchant,
    ``EntitlementQueryError`` when ``user`` or ``group`` does not fit the feature.
    """
    return _answers_at(merchant.pk, customer_external_id, key, at, merchant, Bucket(user=user, group=group or None))


def customer_entitlement(
    *,
    customer: Customer,
    key: str,
    at: datetime | None = None,
    user: str | None = None,
    group: dict[str, str] | None = None,
) -> Entitlement:
    """One feature's entitlement; ``Feature.DoesNotExist`` for a key the merchant does not have,
    ``EntitlementQueryError`` when ``user`` or ``group`` does not fit it."""
    bucket = Bucket(user=user, group=group or None)
    return _answers_at(customer.merchant_id, customer.external_id, key, at, bucket=bucket)[0]
