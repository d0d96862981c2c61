"""Reads for invoices and credits."""

from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet, Sum

from billing.credits import GrantState, grant_states
from billing.models import CreditLedgerEntry, InvoiceLine
from billing.usage import customer_usage_amounts
from customers.models import Customer
from metering.aggregation import events_for
from metering.models import Event

ZERO = Decimal("0")


def invoices_filter(queryset: QuerySet, *, customer: str = "", subscription: str = "", status: str = "") -> QuerySet:
    """Filter by the customer's or subscription's external id and by status."""
    if customer:
        queryset = queryset.filter(customer__external_id=customer)
    if subscription:
        queryset = queryset.filter(subscription__external_id=subscription)
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def invoice_line_events(*, line: InvoiceLine) -> QuerySet:
    """Exactly the events behind a line: its metric, its window, received before its cutoff (and, for an
    adjustment, after the previous one), the excluded users left out, and for a group line only that group."""
    if line.metric_id is None or line.window_start is None:
        return Event.objects.none()
    invoice = line.invoice
    excluded = (line.price or {}).get("excluded_users") or None
    events = events_for(
        metric=line.metric,
        customer_id=invoice.customer_id,
        start=line.window_start,
        end=line.window_end,
        subscription_external_id=invoice.subscription.external_id,
        include_untagged=True,
        group=line.group or None,
        received_after=line.received_after,
        received_before=line.received_before,
        exclude_users=excluded,
    )
    return events.order_by("-timestamp", "-id")


def usage_accrued(*, customer: Customer, at: datetime) -> dict[str, Decimal]:
    """The amount of usage accrued so far in the customer's open periods, per currency (billing/usage.py)."""
    return customer_usage_amounts(customer=customer, at=at)


def credit_summary(*, customer: Customer, at: datetime) -> dict:
    """Balance (the ledger's sum), what drafts hold, what open-period usage has drawn, and the available rest."""
    accrued = usage_accrued(customer=customer, at=at)
    states: list[GrantState] = grant_states(customer=customer, at=at, accrued=accrued)
    currencies = sorted({state.grant.currency for state in states}) or [customer.currency]
    ledger = CreditLedgerEntry.objects.filter(customer=customer)
    by_currency = {}
    for currency in currencies:
        mine = [s for s in states if s.grant.currency == currency]
        totals = {
            kind: ledger.filter(grant__currency=currency, kind=kind).aggregate(t=Sum("amount"))["t"] or ZERO
            for kind in CreditLedgerEntry.Kind.values
        }
        by_currency[currency] = {
            "balance": sum((s.remaining for s in mine), ZERO),
            "reserved": sum((s.reserved for s in mine), ZERO),
            "accrued_usage": sum((s.accrued for s in mine), ZERO),
            "available": sum((s.available for s in mine if not s.is_expired), ZERO),
            "granted": totals["grant"],
            "consumed": -totals["consumption"],
            "expired": -totals["expiry"],
            "restored": totals["restoration"],
        }
    return {"currencies": by_currency, "states": states}
