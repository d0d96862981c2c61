"""Builders shared by the billing tests: plans, customers, subscriptions and events written with the ORM."""

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

from django.utils import timezone

from billing.models import Invoice
from billing.subscriptions.services import subscription_create
from catalog.models import Charge, Metric, OneTimeFee, Plan, PlanVersion
from customers.models import Customer
from metering.models import Event

_ids = count(1)


def at(year, month, day, hour=0, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def D(value) -> Decimal:
    return Decimal(str(value))


def metric(merchant, code, aggregation="count", field="", group_by=None, event_codes=None) -> Metric:
    found = Metric.objects.filter(merchant=merchant, code=code).first()
    if found:
        return found
    return Metric.objects.create(
        merchant=merchant, code=code, name=code.replace("_", " ").title(), aggregation=aggregation, field=field,
        group_by=group_by or [], event_codes=event_codes or [code],
    )  # fmt: skip


def plan(merchant, code, *, base_fee="0", timing="in_advance", currency="USD", trial_days=0, charges=(),
         one_time_fees=(), interval="month") -> PlanVersion:  # fmt: skip
    """``charges``: dicts with metric (a Metric), model, params, and optional included_units, minimum_amount,
    maximum_amount, timing."""
    p = Plan.objects.create(merchant=merchant, code=code, name=code.title())
    version = PlanVersion.objects.create(
        merchant=merchant, plan=p, version=1, status="published", currency=currency, interval=interval,
        base_fee=D(base_fee), base_fee_timing=timing, trial_days=trial_days, published_at=timezone.now(),
    )  # fmt: skip
    for position, spec in enumerate(charges):
        Charge.objects.create(
            plan_version=version, position=position, metric=spec["metric"], model=spec["model"],
            properties=spec.get("params", {}), included_units=D(spec.get("included_units", 0)),
            minimum_amount=spec.get("minimum_amount"), maximum_amount=spec.get("maximum_amount"),
            timing=spec.get("timing", "in_arrears"),
        )  # fmt: skip
    for name, amount in one_time_fees:
        OneTimeFee.objects.create(plan_version=version, name=name, amount=D(amount))
    return version


def customer(merchant, external_id="acme", **fields) -> Customer:
    fields.setdefault("name", external_id.title() + " Inc.")
    fields.setdefault("currency", "USD")
    fields.setdefault("created_at", at(2025, 1, 1))
    return Customer.objects.create(merchant=merchant, external_id=external_id, **fields)


def subscribe(merchant, cust, version, start, *, external_id=None, anchor="calendar", trial_days=None):
    return subscription_create(
        merchant=merchant, external_id=external_id or f"sub-{next(_ids)}", customer=cust.external_id,
        plan=version.plan.code, start_date=start, billing_anchor=anchor, trial_days=trial_days,
    )  # fmt: skip


def event(cust, code, timestamp, received_at=None, subscription="", **properties) -> Event:
    return Event.objects.create(
        merchant_id=cust.merchant_id, customer=cust, transaction_id=f"tx-{next(_ids)}", code=code,
        timestamp=timestamp, properties=properties, subscription_external_id=subscription,
        received_at=received_at or timezone.now(),
    )  # fmt: skip


def lines_of(invoice: Invoice) -> list[tuple]:
    """(type, description, quantity, amount) of every line, in order."""
    return [
        (line.type, line.description, line.quantity.normalize(), line.amount)
        for line in invoice.lines.order_by("position", "pk")
    ]


def amounts(invoice: Invoice) -> list[tuple[str, Decimal]]:
    return [(line.type, line.amount) for line in invoice.lines.order_by("position", "pk")]
