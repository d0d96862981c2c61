"""A customer's statement of account: what they owed at the start of a span, every document in it, what they owe
at its end (SPEC §11.2; docs/receivables.md, "Statements").

The account is the customer's receivable in one currency. Each row is signed as it acts on what the customer owes:

- an issued invoice adds its ``total`` on its issue date (after prepaid credits, with tax; a negative final invoice
  takes off);
- a payment takes off what was received (all of it: an overpayment's excess is then moved to the credit balance,
  below); a refund of a payment adds it back;
- a credit note takes off its ``total``; when it credits a paid invoice the same amount is given back (customer
  credit or a refund), a row that adds it again, so nothing becomes owed twice;
- money moved to the customer's credit balance (a negative final invoice, an overpayment) adds it back: the
  customer no longer holds it against invoices but as prepaid credit;
- a void takes off what was left on the invoice.

``closing = opening + invoices − payments − credit notes + refunds + credit given back``, to the cent, and the
running balance of the last row is the closing balance.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from billing.credit_notes.models import CreditNote
from billing.invoices.models import Invoice
from billing.invoices.selectors import payment_label
from billing.payments.models import Payment, Refund
from billing.reports.params import day_start
from customers.models import Customer

ZERO = Decimal("0")


@dataclass(frozen=True)
class StatementRow:
    at: datetime
    kind: str  # invoice, payment, refund, credit_note, credit_balance, void
    reference: str  # the document's number
    description: str
    amount: Decimal  # signed: + owed more, − owed less
    invoice_id: int | None = None
    balance: Decimal = ZERO


# At one instant: the invoice first, then what settles it, then what is given back.
_ORDER = {"invoice": 0, "credit_note": 1, "payment": 2, "void": 3, "refund": 4, "credit_balance": 5}


def account_rows(*, customer: Customer, currency: str, before: datetime) -> list[StatementRow]:
    """Every row of the customer's account in ``currency`` dated before ``before``, oldest first."""
    rows: list[StatementRow] = []
    invoices = (
        Invoice.objects.filter(customer=customer, currency=currency, finalized_at__isnull=False, issued_at__lt=before)
        .select_related("credit_grant")
        .order_by()
    )
    for invoice in invoices:
        rows.append(StatementRow(invoice.issued_at, "invoice", invoice.number, "Invoice", invoice.total, invoice.pk))
        grant = invoice.credit_grant
        if grant is not None and grant.granted_at < before:
            rows.append(StatementRow(grant.granted_at, "credit_balance", invoice.number,
                                     "Added to your credit balance", grant.amount, invoice.pk))  # fmt: skip
        if invoice.voided_at is not None and invoice.voided_at < before:  # only an unpaid invoice is voided
            rows.append(StatementRow(invoice.voided_at, "void", invoice.number, f"Void of {invoice.number}",
                                     -invoice.total, invoice.pk))  # fmt: skip
    payments = Payment.objects.filter(customer=customer, currency=currency, paid_at__lt=before).select_related(
        "invoice")
    for payment in payments.order_by():
        number = payment.invoice.number
        rows.append(StatementRow(payment.paid_at, "payment", number, payment_label(payment), -payment.amount,
                                 payment.invoice_id))  # fmt: skip
        if payment.amount_credited:  # an overpayment's excess: now the customer's credit balance
            rows.append(StatementRow(payment.paid_at, "credit_balance", number, "Overpayment added to your credit "
                                     "balance", payment.amount_credited, payment.invoice_id))  # fmt: skip
    refunds = Refund.objects.filter(payment__customer=customer, currency=currency, refunded_at__lt=before)
    for refund in refunds.select_related("payment__invoice").order_by():
        rows.append(StatementRow(refund.refunded_at, "refund", refund.payment.invoice.number,
                                 f"Refund of a payment for {refund.payment.invoice.number}", refund.amount,
                                 refund.payment.invoice_id))  # fmt: skip
    notes = CreditNote.objects.filter(customer=customer, currency=currency, issued_at__lt=before).select_related(
        "invoice"
    )
    for note in notes.order_by():
        rows.append(StatementRow(note.issued_at, "credit_note", note.number, f"Credit note on {note.invoice.number}",
                                 -note.total, note.invoice_id))  # fmt: skip
        if note.amount_credited:
            rows.append(StatementRow(note.issued_at, "credit_balance", note.number, "Added to your credit balance",
                                     note.amount_credited, note.invoice_id))  # fmt: skip
        if note.amount_refunded:
            rows.append(StatementRow(note.issued_at, "refund", note.number, f"Refund of credit note {note.number}",
                                     note.amount_refunded, note.invoice_id))  # fmt: skip
    rows.sort(key=lambda row: (row.at, row.invoice_id or 0, _ORDER[row.kind], row.reference))
    return rows


@dataclass(frozen=True)
class Statement:
    customer: Customer
    currency: str
    start: date
    end: date  # inclusive
    opening: Decimal
    rows: list[StatementRow]
    closing: Decimal
    totals: dict[str, Decimal]  # by kind, over the span


def customer_statement(*, customer: Customer, currency: str, start: date, end: date) -> Statement:
    """The statement for local dates ``[start, end]`` (both inclusive) in the merchant's time zone."""
    tz = customer.merchant.timezone
    low, high = day_start(start, tz), day_start(end + timedelta(days=1), tz)
    opening, rows, totals = ZERO, [], dict.fromkeys(_ORDER, ZERO)
    balance = ZERO
    for row in account_rows(customer=customer, currency=currency, before=high):
        if row.at < low:
            opening += row.amount
            balance = opening
            continue
        balance += row.amount
        totals[row.kind] += row.amount
        rows.append(StatementRow(row.at, row.kind, row.reference, row.description, row.amount, row.invoice_id,
                                 balance))  # fmt: skip
    return Statement(customer, currency, start, end, opening, rows, opening + sum(totals.values(), ZERO), totals)
