"""Who is nearest their limit: per-team-member usage and the fullest usage buckets, for the customer page.

``scoped_usage(customer=, at=)`` reads, for every limit the customer has:

- a user-scoped feature (``scope: user``): each team member's own usage against the limit (the members
  with usage in the window, and the active provisioned ones), fullest first;
- a feature whose metric groups by properties: the buckets nearest their limit (the limit applies to each
  bucket), fullest first, at most ``BUCKETS_SHOWN``.

Every figure is the entitlement answer for that member or bucket (``billing.usage.entitlements``), read
from the pre-aggregated state; the page shows it with ``{% scoped_usage customer %}``
(``billing/templatetags/scoped_usage.py``, ``templates/billing/_scoped_usage.html``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from billing.usage.entitlements import Bucket, _generous, _grants, _load, _usage, _window
from catalog.models import Feature, PlanFeature
from customers.models import Customer, CustomerUser
from metering.models import UsageBucket
from metering.selectors import current_usage
from metering.services import metric_state_ensure

MEMBERS_SHOWN = 50
BUCKETS_SHOWN = 5
ZERO = Decimal(0)


@dataclass(frozen=True)
class Row:
    """One member or bucket: its usage against the limit, how full (0-100) and how worried to look."""

    label: str
    usage: Decimal
    limit: int
    remaining: Decimal | None
    allowed: bool
    percent: int
    tone: str  # "", "warn" (80 % and more), "bad" (at or over the limit)


@dataclass
class ScopedLimit:
    key: str
    name: str
    limit: int
    enforcement: str
    kind: str  # "members" or "buckets"
    rows: list[Row] = field(default_factory=list)
    more: int = 0  # rows left out


def _row(label: str, usage: Decimal, limit: int, enforcement: str) -> Row:
    if limit == Feature.UNLIMITED:
        return Row(label, usage, limit, None, True, 0, "")
    ratio = usage / Decimal(limit)
    allowed = enforcement == PlanFeature.Enforcement.SOFT or usage < limit
    tone = "bad" if ratio >= 1 else "warn" if ratio >= Decimal("0.8") else ""
    return Row(label, usage, limit, max(Decimal(limit) - usage, ZERO), allowed, int(min(ratio, 1) * 100), tone)


def _members(feature: Feature, grant, context, at: datetime, limit: int) -> list[Row]:
    metric = feature.metric
    start, end, _ = _window(metric, grant, context, at)
    width = metric_state_ensure(metric=metric, stored_signature=context.signatures.get(metric.pk))
    buckets = UsageBucket.objects.filter(metric=metric, customer_id=context.customer.pk).exclude(user_key="")
    if start is not None:
        buckets = buckets.filter(bucket__gte=int(start.timestamp()) // width * width)
    buckets = buckets.filter(bucket__lt=int(end.timestamp()))
    users = set(buckets.values_list("user_key", flat=True).distinct()[: MEMBERS_SHOWN * 2])
    active = CustomerUser.objects.filter(customer_id=context.customer.pk, provisioned_at__lte=at).filter(
        Q(deprovisioned_at__isnull=True) | Q(deprovisioned_at__gt=at)
    )
    users |= set(active.values_list("external_id", flat=True)[: MEMBERS_SHOWN * 2])
    rows = [
        _row(user, _usage(metric, grant, context, at, Bucket(user=user)), limit, grant.enforcement)
        for user in sorted(users)
    ]
    return sorted(rows, key=lambda row: (-row.usage, row.label))


def _buckets(feature: Feature, grant, context, at: datetime, limit: int) -> list[Row]:
    metric = feature.metric
    start, end, subscription = _window(metric, grant, context, at)
    scope = {}
    if subscription is not None and grant.subscription is not None:
        scope = {"subscription_external_id": subscription.external_id, "include_untagged": True}
    groups = current_usage(metric=metric, customer_id=context.customer.pk, start=start, end=end,
                           stored_signature=context.signatures.get(metric.pk), **scope)  # fmt: skip
    rows = []
    for group, usage in groups.items():
        label = ", ".join(f"{name}={value}" for name, value in zip(metric.group_by, group, strict=True))
        rows.append(_row(label, usage.quantity, limit, grant.enforcement))
    return sorted(rows, key=lambda row: (-row.usage, row.label))


def scoped_usage(*, customer: Customer, at: datetime | None = None) -> list[ScopedLimit]:
    """Per-member usage of every user-scoped limit and the fullest buckets of every per-bucket limit."""
    instant = at or timezone.now()
    context = _load(customer.merchant_id, customer.external_id, None, instant)
    context.until = at
    out = []
    for feature in context.features:
        if feature.kind != Feature.Kind.LIMIT or feature.metric is None:
            continue
        per_member = feature.scope == Feature.Scope.USER
        if not per_member and not feature.metric.group_by:
            continue
        grant = _generous(feature, _grants(feature, context.subscriptions, context.plan_features))
        limit = grant.limit if grant.limit is not None else Feature.NO_ACCESS
        if limit == Feature.NO_ACCESS:
            continue
        if per_member and not feature.metric.user_buckets:
            continue  # no member has counted yet: the first entitlement check turns per-user buckets on
        rows = (_members if per_member else _buckets)(feature, grant, context, instant, limit)
        shown = MEMBERS_SHOWN if per_member else BUCKETS_SHOWN
        out.append(ScopedLimit(
            key=feature.key, name=feature.name, limit=limit, enforcement=grant.enforcement,
            kind="members" if per_member else "buckets", rows=rows[:shown], more=max(len(rows) - shown, 0),
        ))  # fmt: skip
    return out
