"""Credit notes: corrections to an issued invoice, which itself never changes (SPEC §2, docs/billing.md).

The rules, in one place:

- Only a finalized or paid invoice takes a credit note (a draft is still corrected by refreshing it, a void one
  owes nothing). An invoice with credit notes can no longer be voided: the notes are issued documents.
- A note gives back part or all of some invoice lines, before tax: each amount is positive, in the currency's
  minor unit, and at most what is left of its line (its amount less earlier notes). Lines that are themselves
  credits (a negative termination refund) cannot be credited.
- Tax is the invoice's rate on the note's subtotal, rounded once: ``total = subtotal + round(rate × subtotal)``.
  The note that empties every line of an invoice without prepaid credits takes exactly what is left of its total
  instead (at most a minor unit per note away), so crediting line by line settles it to the cent.
  All the invoice's notes together are at most its ``total`` (what the customer was charged, after prepaid
  credits and with tax); prepaid credits the invoice consumed stay consumed.
- Where the money goes: on a finalized (unpaid) invoice the whole total comes off ``amount_due`` (an invoice
  left owing nothing is marked paid, "settled by credit note"); on a paid invoice it is returned as customer
  credit (``method="credit"``, the default: a ``CreditGrant`` of the note's total, usable from the note's issue)
  or recorded as refunded outside Atlas (``method="refund"``).
- Numbers come from the merchant's own gap-free credit-note series, ``{invoice prefix}-CN-{year}-{seq:06d}``,
  taken in the issuing transaction (the year is the issue date's in the merchant's time zone).
- Every note writes an audit row on its invoice. Nothing is written unless every check passes.
"""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from atlas.money import quantum, round_line, to_str
from billing.credit_notes.models import CreditNote, CreditNoteLine
from billing.credit_notes.selectors import CREDITABLE_STATES, LineCredit, creditable_lines, creditable_total
from billing.credits.services import credit_grant_create
from billing.invoices.models import Invoice, InvoiceCounter
from billing.invoices.services import IllegalTransition, invoice_audit, invoice_lock, invoice_pdf_follow

ZERO = Decimal("0")


def note_tax(invoice: Invoice, subtotal: Decimal) -> Decimal:
    return round_line(invoice.tax_rate * subtotal, invoice.currency)


def _settles(invoice: Invoice, available: dict[int, LineCredit], lines: list[tuple[int, Decimal]],
             difference: Decimal) -> bool:  # fmt: skip
    """Whether a note empties every creditable line of an invoice that prepaid credits did not pay, and its total
    differs from what is left of the invoice's total only by tax rounding (a minor unit per note at most)."""
    if invoice.credits_applied:
        return False
    taken = dict(lines)
    for pk, credit in available.items():
        if credit.line.amount > 0 and credit.remaining != taken.get(pk, ZERO):
            return False
    notes = invoice.credit_notes.count() + 1
    return abs(difference) <= quantum(invoice.currency) * notes


def credit_note_issue(
    *,
    invoice: Invoice,
    lines: list[tuple[int, Decimal]],
    reason: str,
    memo: str = "",
    method: str | None = None,
    at: datetime | None = None,
    actor: str,
) -> CreditNote:
    """Issue a credit note for ``lines`` (invoice line id, amount before tax) of a finalized or paid invoice.

    Raises ``IllegalTransition`` (409) for an invoice in another state and ``ValidationError`` naming the field
    (``lines[1].amount``) for bad input; nothing is written then.
    """
    at = at or timezone.now()
    if reason not in CreditNote.Reason.values:
        raise ValidationError({"reason": f"must be one of {', '.join(CreditNote.Reason.values)}"})
    if method is not None and method not in CreditNote.Method.values:
        raise ValidationError({"method": f"must be one of {', '.join(CreditNote.Method.values)}"})
    if len(memo) > 500:
        raise ValidationError({"memo": "must be at most 500 characters"})
    if not lines:
        raise ValidationError({"lines": "must name at least one invoice line"})
    with transaction.atomic():
        locked = invoice_lock(invoice)
        if locked.status not in CREDITABLE_STATES:
            raise IllegalTransition(locked, "credit")
        currency = locked.currency
        if locked.status == Invoice.Status.FINALIZED and method is not None:
            raise ValidationError({"method": "applies to paid invoices only: on an unpaid invoice a credit note "
                                             "reduces the amount due"})  # fmt: skip
        available = {credit.line.pk: credit for credit in creditable_lines(locked)}
        seen: set[int] = set()
        for index, (line_id, amount) in enumerate(lines):
            credit = available.get(line_id)
            if credit is None:
                raise ValidationError({f"lines[{index}].line": f"invoice {locked.pk} has no line {line_id}"})
            if line_id in seen:
                raise ValidationError({f"lines[{index}].line": f"line {line_id} is named twice"})
            seen.add(line_id)
            if amount <= 0:
                raise ValidationError({f"lines[{index}].amount": "must be greater than 0"})
            if credit.line.amount <= 0:
                raise ValidationError({f"lines[{index}].line": "has nothing to credit: its amount is not positive"})
            if amount > credit.remaining:
                raise ValidationError({
                    f"lines[{index}].amount": f"is more than what is left of the line: "
                                              f"{to_str(credit.remaining, currency)} {currency}"
                })  # fmt: skip
            if round_line(amount, currency) != amount:  # after the bound: a huge number cannot be quantized
                raise ValidationError({f"lines[{index}].amount": f"has more decimals than {currency} allows"})
        subtotal = sum((amount for _, amount in lines), ZERO)
        tax = note_tax(locked, subtotal)
        total = subtotal + tax
        allowed = creditable_total(locked)
        if _settles(locked, available, lines, total - allowed):
            # The note that credits everything left: rounding the tax note by note must not leave a cent owed
            # (or refuse the last cent), so this one takes exactly what is left of the invoice's total.
            total, tax = allowed, allowed - subtotal
        if total > allowed:
            raise ValidationError({
                "lines": f"the credit notes of this invoice can total at most {to_str(allowed, currency)} {currency} "
                         f"(its total less earlier credit notes); this one is {to_str(total, currency)}"
            })  # fmt: skip

        note = CreditNote(
            merchant_id=locked.merchant_id, invoice=locked, customer_id=locked.customer_id, currency=currency,
            reason=reason, memo=memo, subtotal=subtotal, tax_rate=locked.tax_rate, tax=tax, total=total,
            issued_at=at, actor=actor[:255],
        )  # fmt: skip
        merchant = locked.merchant
        year = at.astimezone(ZoneInfo(merchant.timezone)).year
        sequence = InvoiceCounter.take(merchant_id=merchant.pk, year=year, series=InvoiceCounter.Series.CREDIT_NOTE)
        note.number = f"{merchant.invoice_prefix}-CN-{year}-{sequence:06d}"
        previous = locked.status
        if previous == Invoice.Status.FINALIZED:
            note.amount_applied = total
            locked.amount_due -= total
        elif (method or CreditNote.Method.CREDIT) == CreditNote.Method.CREDIT:
            note.amount_credited = total
            note.credit_grant = credit_grant_create(
                merchant=merchant, customer=locked.customer, amount=total, currency=currency, granted_at=at,
                reason=f"Credit note {note.number} on invoice {locked.number}",
            )  # fmt: skip
        else:
            note.amount_refunded = total
        note.save()
        CreditNoteLine.objects.bulk_create(
            CreditNoteLine(credit_note=note, invoice_line_id=line_id, description=available[line_id].line.description,
                           amount=amount)
            for line_id, amount in lines
        )  # fmt: skip
        locked.credited += total
        fields = ["credited", "amount_due"]
        if previous == Invoice.Status.FINALIZED and locked.amount_due <= 0:
            locked.status, locked.paid_at = Invoice.Status.PAID, at
            fields += ["status", "paid_at"]
        locked.save(update_fields=fields)
        settled = ", settled by credit note" if locked.status != previous else ""
        invoice_audit(locked, from_state=previous, to_state=locked.status, actor=actor, at=at,
                      note=f"credit note {note.number}: {to_str(total, currency)} {currency}{settled}")  # fmt: skip
        invoice_pdf_follow(locked)  # the invoice's PDF shows the note: rendered again after commit
    return note
