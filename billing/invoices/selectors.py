"""Reads of invoices: list filters, the events behind a usage line (traceability), what settled an invoice."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import QuerySet

from billing.invoices.models import Invoice, InvoiceLine
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


@dataclass(frozen=True)
class SettlementRow:
    """One row between an invoice's total and its amount due: ``amount`` is signed as it acts on what is due."""

    kind: str  # "credit_note", "returned" (given back as credit or refunded), "payment", "refund", "void"
    label: str
    at: datetime | None
    amount: Decimal


METHOD_WORDS = {"bank_transfer": "bank transfer", "card": "card", "cash": "cash", "check": "check"}


def payment_label(payment) -> str:
    """``Paid``, ``Paid by bank transfer (INV-2026-000001)``: how a document names a payment."""
    label = "Paid"
    if payment.method in METHOD_WORDS:
        label += f" by {METHOD_WORDS[payment.method]}"
    if payment.reference:
        label += f" ({payment.reference})"
    return label


def invoice_settlement(invoice: Invoice) -> list[SettlementRow]:
    """What takes an invoice from its ``total`` to its ``amount_due``, in date order, so that
    total + the rows = amount due reads off the document (SPEC §11.1).

    A credit note on an unpaid invoice comes off what is due. One on a paid invoice credits what was paid: its total
    comes off, and the same amount is given back (customer credit or a refund), so nothing becomes due again.
    Payments: one row each at its ``paid_at`` (the whole amount received), the excess of an overpayment given back
    as customer credit, and each refund (due again). A void cancels what was left.
    """
    rows: list[tuple[datetime | None, int, SettlementRow]] = []
    for note in invoice.credit_notes.all():
        given_back = note.amount_credited + note.amount_refunded
        order = 2 if given_back else 0  # at one instant: notes before a payment come off what it paid
        rows.append((note.issued_at, order, SettlementRow("credit_note", f"Credit note {note.number}", note.issued_at,
                                                          -note.total)))  # fmt: skip
        if given_back:
            label = "Added to your credit balance" if note.amount_credited else "Refunded"
            rows.append((note.issued_at, 3, SettlementRow("returned", label, note.issued_at,
                                                          given_back)))  # fmt: skip
    recorded = Decimal(0)
    for payment in invoice.payments.all():  # billing.payments: read through the relation, models are one layer
        rows.append((payment.paid_at, 1, SettlementRow("payment", payment_label(payment), payment.paid_at,
                                                       -payment.amount)))  # fmt: skip
        recorded += payment.amount_applied
        if payment.amount_credited:  # an overpayment's excess became customer credit
            rows.append((payment.paid_at, 1, SettlementRow("returned", "Added to your credit balance",
                                                           payment.paid_at, payment.amount_credited)))  # fmt: skip
        for refund in payment.refunds.all():
            rows.append((refund.refunded_at, 1, SettlementRow("refund", "Refund", refund.refunded_at, refund.amount)))
            recorded -= refund.amount
    if invoice.amount_paid != recorded:  # paid before payments were records of their own
        rows.append((invoice.paid_at, 1, SettlementRow("payment", "Paid", invoice.paid_at,
                                                       -(invoice.amount_paid - recorded))))  # fmt: skip
    if invoice.credit_grant_id is not None:  # a negative total became customer credit (SPEC §11.1)
        granted = invoice.credit_grant.granted_at
        rows.append((granted, 1, SettlementRow("returned", "Added to your credit balance", granted,
                                               invoice.credit_grant.amount)))  # fmt: skip
    if invoice.status == Invoice.Status.VOID:
        left = invoice.total + sum((row.amount for _, _, row in rows), Decimal(0))
        rows.append((invoice.voided_at, 4, SettlementRow("void", "Void", invoice.voided_at, -left)))
    far = datetime.max.replace(tzinfo=UTC)
    return [row for _, _, row in sorted(rows, key=lambda item: (item[0] or far, item[1]))]
