"""Current usage of a customer: per active subscription, per charge (and group), quantity and amount so far.

Answers come from the pre-aggregated state (``metering.selectors.current_usage``),
so they cost the same at a million events as at ten. The rules (docs/metering.md):

- One entry per subscription active at ``at``, for its current period.
  Quantities count the period's events tagged to the subscription or untagged.
- Amounts price the usage at the plan version's charges with the subscription's
  charge overrides on top (the same terms as invoicing), each group rated as
  invoicing rates it. Nothing is charged before the trial ends: during a trial
  the amount is 0, and a period the trial ends in is priced from the trial end.
- ``amount`` is what the usage costs so far: the minimum commitment true-up is
  only known at the period's end and is not included.
- Usage is reported as metered; billing exclusions (test customers, excluded
  users, go-live dates) apply on invoices, not here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache

from django.utils import timezone

from atlas import db
from billing.subscriptions.models import Subscription
from billing.subscriptions.selectors import ACTIVE_AT_SQL, subscription_period_at
from catalog.models import Charge, Metric, Plan, PlanVersion
from catalog.rating import PricedCharge, Rating
from customers.models import Customer
from metering.aggregation import Usage
from metering.models import MetricState
from metering.selectors import current_usage

ZERO = Decimal(0)


_TERM_FIELDS = ("included_units", "minimum_amount", "maximum_amount")


@dataclass
class GroupUsage:
    group: dict[str, str]
    quantity: Decimal
    events_count: int
    amount: Decimal | None


@dataclass
class ChargeUsage:
    charge: Charge
    quantity: Decimal
    events_count: int
    amount: Decimal
    groups: list[GroupUsage] = field(default_factory=list)


@dataclass
class SubscriptionUsage:
    subscription: Subscription
    period_start: datetime
    period_end: datetime
    billable_from: datetime
    currency: str
    amount: Decimal
    charges: list[ChargeUsage] = field(default_factory=list)


def charge_terms(subscription: Subscription, charge: Charge) -> dict:
    """The price table in force: the charge's, with the subscription's overrides for its metric on top."""
    override = dict(((subscription.overrides or {}).get("charges") or {}).get(charge.metric.code) or {})
    return {
        "model": charge.model,
        "params": {**charge.properties, **{k: v for k, v in override.items() if k not in _TERM_FIELDS}},
        **{name: override.get(name, getattr(charge, name)) for name in _TERM_FIELDS},
    }


def _decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def priced_charge(subscription: Subscription, charge: Charge) -> PricedCharge:
    terms = charge_terms(subscription, charge)
    return PricedCharge(
        model=terms["model"],
        params=terms["params"],
        currency=subscription.plan_version.currency,
        included_units=_decimal(terms["included_units"]) or ZERO,
        minimum_amount=_decimal(terms["minimum_amount"]),
        maximum_amount=_decimal(terms["maximum_amount"]),
    )


GroupAmounts = dict[tuple, Decimal] | None


def _rate(priced: PricedCharge, charge: Charge, usage: dict[tuple, Usage]) -> tuple[Decimal, GroupAmounts]:
    """Total amount and each group's amount keyed like ``usage`` (None when groups are priced on other dimensions)."""
    group_by = list(charge.metric.group_by or [])
    if charge.model == Charge.Model.MATRIX:
        dimensions = list(priced.params["dimensions"])
        groups: dict[tuple, Decimal] = defaultdict(Decimal)
        events = 0
        for key, value in usage.items():
            by_name = dict(zip(group_by, key, strict=False))
            groups[tuple(str(by_name.get(name, "")) for name in dimensions)] += value.quantity
            events += value.events_count
        rating: Rating = priced.rate(groups=dict(groups), events_count=events)
        if dimensions != group_by:
            return rating.amount, None
        return rating.amount, {tuple(g.group[name] for name in dimensions): g.amount for g in rating.groups}
    if group_by and usage:
        per_group = {key: priced.amount(use.quantity, events_count=use.events_count) for key, use in usage.items()}
        return sum(per_group.values(), ZERO), per_group
    value = usage.get((), Usage(ZERO, 0))
    return priced.amount(value.quantity, events_count=value.events_count), {}


def _billable_from(subscription: Subscription) -> datetime:
    trial_end = subscription.trial_ends_at
    return max(subscription.started_at, trial_end) if trial_end else subscription.started_at


def subscription_usage(
    *, subscription: Subscription, at: datetime, charges: list[Charge], signatures: dict[int, str | None],
    until: datetime | None = None,
) -> SubscriptionUsage | None:
    """Usage and amount so far of one subscription's period holding ``at`` (None outside the subscription).

    ``charges`` are its plan version's, with their metrics; ``signatures`` the stored state signature of each
    metric as loaded with them. ``until``: count only events before it (an instant the caller named; for now the
    period's events as stored are counted, whole buckets, events being at most 5 minutes ahead of now).
    """
    period = subscription_period_at(subscription, at)
    if period is None:
        return None
    version = subscription.plan_version
    billable_from = max(_billable_from(subscription), period.start)
    result = SubscriptionUsage(
        subscription=subscription,
        period_start=period.start,
        period_end=period.end,
        billable_from=billable_from,
        currency=version.currency,
        amount=ZERO,
    )
    for charge in charges:
        metric = charge.metric
        window = {
            "subscription_external_id": subscription.external_id,
            "include_untagged": True,
            "stored_signature": signatures.get(metric.pk),
        }
        end = until or period.end
        usage = current_usage(
            metric=metric, customer_id=subscription.customer_id, start=period.start, end=end, **window
        )
        if billable_from > at or billable_from >= period.end:
            amount, per_group = ZERO, dict.fromkeys(usage, ZERO)  # still in the trial: nothing is charged
        else:
            billable = usage
            if billable_from > period.start:
                billable = current_usage(
                    metric=metric, customer_id=subscription.customer_id, start=billable_from, end=end, **window
                )
            amount, per_group = _rate(priced_charge(subscription, charge), charge, billable)
        group_by = list(metric.group_by or [])
        groups = [
            GroupUsage(
                group=dict(zip(group_by, key, strict=True)),
                quantity=value.quantity,
                events_count=value.events_count,
                amount=None if per_group is None else per_group.get(key, ZERO),
            )
            for key, value in sorted(usage.items())
        ] if group_by else []  # fmt: skip
        result.charges.append(
            ChargeUsage(
                charge=charge,
                quantity=sum((value.quantity for value in usage.values()), ZERO),
                events_count=sum(value.events_count for value in usage.values()),
                amount=amount,
                groups=groups,
            )
        )
        result.amount += amount
    return result


_LOAD = db.Select(
    ("c", Customer, ["external_id"]),
    ("s", Subscription, None),
    ("v", PlanVersion, None),
    ("p", Plan, ["code"]),
    ("ch", Charge, None),
    ("m", Metric, None),
    ("st", MetricState, ["signature"]),
)


@cache
def _load_sql() -> str:
    """A customer's subscriptions active at an instant, with plan version, plan code, charges, their metrics
    and the metrics' stored state signatures: one statement, one row per (subscription, charge)."""
    t = {model: model._meta.db_table for model in (Customer, Subscription, PlanVersion, Plan, Charge, Metric,
                                                   MetricState)}  # fmt: skip
    return (
        f"SELECT {_LOAD.columns()} FROM {t[Customer]} c "
        f"LEFT JOIN {t[Subscription]} s ON s.customer_id = c.id AND {ACTIVE_AT_SQL} "
        f"LEFT JOIN {t[PlanVersion]} v ON v.id = s.plan_version_id "
        f"LEFT JOIN {t[Plan]} p ON p.id = v.plan_id "
        f"LEFT JOIN {t[Charge]} ch ON ch.plan_version_id = v.id "
        f"LEFT JOIN {t[Metric]} m ON m.id = ch.metric_id "
        f"LEFT JOIN {t[MetricState]} st ON st.metric_id = m.id "
        f"WHERE c.merchant_id = %s AND c.external_id = %s "
        f"ORDER BY s.started_at, s.id, ch.position, ch.id"
    )


def usage_check(*, merchant_id: int, customer_external_id: str, at: datetime | None = None) -> list[SubscriptionUsage]:
    """Per subscription active at ``at`` (default now), the current period's usage and amount so far.

    Everything but the usage itself comes in one prepared query; ``Customer.DoesNotExist`` for an unknown
    external id.
    """
    until, at = at, at or timezone.now()
    found = db.rows(_load_sql(), [at, at, merchant_id, customer_external_id])
    if not found:
        raise Customer.DoesNotExist(f"No customer {customer_external_id!r}")
    subscriptions: dict[int, tuple[Subscription, list[Charge]]] = {}
    signatures: dict[int, str | None] = {}
    for values in found:
        _, subscription, version, plan, charge, metric, state = _LOAD.instances(values)
        if subscription is None:
            continue
        if subscription.pk not in subscriptions:
            version.plan = plan
            subscription.plan_version = version
            subscriptions[subscription.pk] = (subscription, [])
        if charge is not None:
            charge.metric = metric
            signatures[metric.pk] = state.signature if state is not None else None
            subscriptions[subscription.pk][1].append(charge)
    out = []
    for subscription, charges in subscriptions.values():
        usage = subscription_usage(subscription=subscription, at=at, charges=charges, signatures=signatures,
                                   until=until)  # fmt: skip
        if usage is not None:
            out.append(usage)
    return out


def customer_usage(*, customer: Customer, at: datetime | None = None) -> list[SubscriptionUsage]:
    """Per subscription active at ``at`` (default now), the current period's usage and amount so far."""
    return usage_check(merchant_id=customer.merchant_id, customer_external_id=customer.external_id, at=at)


def customer_usage_amounts(*, customer: Customer, at: datetime) -> dict[str, Decimal]:
    """The amount of usage accrued so far in the customer's open periods, per currency (drawn against credits)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for usage in customer_usage(customer=customer, at=at):
        totals[usage.currency] += usage.amount
    return dict(totals)
