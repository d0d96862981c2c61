"""Reads of invoices: list filters and the events behind a usage line (traceability)."""

from django.db.models import QuerySet

from billing.invoices.models import InvoiceLine
from metering.aggregation import events_for
from metering.models import Event


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
