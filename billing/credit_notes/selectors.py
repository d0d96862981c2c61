"""Reads of credit notes: what an invoice can still give back, line by line and in all."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from billing.credit_notes.models import CreditNoteLine
from billing.invoices.models import Invoice, InvoiceLine

ZERO = Decimal("0")

CREDITABLE_STATES = (Invoice.Status.FINALIZED, Invoice.Status.PAID)


@dataclass(frozen=True)
class LineCredit:
    """What one invoice line can still give back."""

    line: InvoiceLine
    credited: Decimal

    @property
    def remaining(self) -> Decimal:
        return max(ZERO, self.line.amount - self.credited)


def creditable_lines(invoice: Invoice) -> list[LineCredit]:
    """Every line of the invoice with what earlier credit notes took from it (no query for them when none has)."""
    if not invoice.credited:
        return [LineCredit(line, ZERO) for line in invoice.lines.all()]
    credited = dict(
        CreditNoteLine.objects.filter(invoice_line__invoice=invoice)
        .values("invoice_line")
        .annotate(total=Sum("amount"))
        .values_list("invoice_line", "total")
    )
    return [LineCredit(line, credited.get(line.pk, ZERO)) for line in invoice.lines.all()]


def creditable_total(invoice: Invoice) -> Decimal:
    """What all further credit notes on the invoice can total, tax included."""
    if invoice.status not in CREDITABLE_STATES:
        return ZERO
    return max(ZERO, invoice.total - invoice.credited)
