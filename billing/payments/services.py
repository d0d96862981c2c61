"""Writes of payments: record one, refund one, mark an invoice paid (SPEC §11.2, docs/payments.md).

The rules, in one place:

- Only a ``finalized`` invoice takes a payment. A draft is not issued yet (nothing is owed), a void one owes
  nothing, and a paid one has nothing due: each is a 409 (``IllegalTransition``). Money received for a paid
  invoice is recorded as customer credit (a grant), not as a payment.
- The payment is in the invoice's currency (another is a 400 on ``currency``), greater than 0, with at most 15
  digits before the point and the currency's decimals (400 on ``amount``); ``paid_at`` is when the money arrived,
  default now, never in the future (400 on ``paid_at``).
- The invoice row is locked first, so two payments of one invoice queue: the second sees what the first left due.
  What is due comes off (``amount_applied``); a payment above what is due pays the invoice and its excess becomes
  customer credit (``amount_credited``, a ``CreditGrant`` granted at ``paid_at``, no expiry, priority 100). Two
  parallel payments of the full amount: the first pays the invoice, the second finds it paid and is refused (409),
  so a retried request never turns into credit by accident.
- An invoice left owing nothing becomes ``paid`` (``paid_at`` = the payment's ``paid_at``) with its audit row; every
  payment writes an audit row and the stored PDF is rendered again after commit (``invoice_pdf_follow``).
- ``invoice_mark_paid`` records a payment of exactly what is due (method ``other``, source ``mark_paid``).
- A refund gives back at most what a payment applied less earlier refunds (the credited excess of an overpayment is
  customer credit and stays in the credit ledger). It comes off ``amount_paid`` and is due again: a paid invoice
  re-opens as ``finalized``.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from atlas.money import round_line, to_str
from billing.credits.services import credit_grant_create
from billing.invoices.models import Invoice
from billing.invoices.services import (
    SYSTEM_ACTOR,
    IllegalTransition,
    invoice_audit,
    invoice_lock,
    invoice_pdf_follow,
)
from billing.payments.models import Payment, Refund
from metering.provisioning import Actor

ZERO = Decimal("0")
MAX_AMOUNT_DIGITS = 15
FUTURE_TOLERANCE = timedelta(minutes=5)


def as_actor(actor: Actor | str) -> Actor:
    """Services take an ``Actor``; a plain label (the billing run, a test, the demo) is the system acting."""
    return actor if isinstance(actor, Actor) else Actor(label=str(actor))


def amount_check(amount, currency: str, field: str = "amount") -> Decimal:
    """A positive amount with at most 15 digits before the point and the currency's decimals, or a 400 on
    ``field``. Checked before any arithmetic on it, so ``1e400`` is refused, not a 500."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValidationError({field: "must be a decimal amount such as \"12.50\""})
    if amount <= 0:
        raise ValidationError({field: "must be greater than 0"})
    if amount.adjusted() >= MAX_AMOUNT_DIGITS:
        raise ValidationError({field: f"is too large (at most {MAX_AMOUNT_DIGITS} digits before the point)"})
    if round_line(amount, currency) != amount:
        raise ValidationError({field: f"has more decimals than {currency} allows"})
    return amount


def instant_check(value: datetime | None, field: str, *, now: datetime) -> datetime:
    if value is None:
        return now
    if value > now + FUTURE_TOLERANCE:
        raise ValidationError({field: "must not be in the future"})
    return value


def _actor_fields(actor: Actor) -> dict:
    return {"actor_label": actor.label[:255], "actor_api_key": actor.api_key, "actor_user": actor.user}


def _apply(locked: Invoice, *, amount: Decimal, method: str, paid_at: datetime, reference: str, source: str,
           actor: Actor, recorded_at: datetime) -> Payment:  # fmt: skip
    """Record a payment on the locked, finalized invoice, inside the caller's transaction."""
    currency = locked.currency
    applied = min(amount, max(locked.amount_due, ZERO))
    credited = amount - applied
    payment = Payment(
        merchant_id=locked.merchant_id, customer_id=locked.customer_id, invoice=locked, amount=amount,
        currency=currency, amount_applied=applied, amount_credited=credited, method=method, reference=reference,
        source=source, paid_at=paid_at, recorded_at=recorded_at, **_actor_fields(actor),
    )  # fmt: skip
    if credited > 0:
        payment.credit_grant = credit_grant_create(
            merchant=locked.merchant, customer=locked.customer, amount=credited, currency=currency,
            granted_at=paid_at, reason=f"Overpayment of invoice {locked.number}",
        )  # fmt: skip
    payment.save()
    locked.amount_paid += applied
    locked.amount_due -= applied
    fields = ["amount_paid", "amount_due"]
    if locked.amount_due <= 0:
        locked.status, locked.paid_at = Invoice.Status.PAID, paid_at
        fields += ["status", "paid_at"]
    locked.save(update_fields=fields)
    note = f"payment {payment.pk}: {to_str(amount, currency)} {currency} by {method}"
    if credited:
        note += f", {to_str(credited, currency)} {currency} to customer credit"
    invoice_audit(locked, from_state=Invoice.Status.FINALIZED, to_state=locked.status, actor=actor.label,
                  at=recorded_at, note=note)  # fmt: skip
    invoice_pdf_follow(locked)
    return payment


def payment_record(
    *,
    invoice: Invoice,
    amount: Decimal,
    method: str,
    actor: Actor | str,
    paid_at: datetime | None = None,
    reference: str = "",
    currency: str | None = None,
    source: str = Payment.Source.MANUAL,
) -> Payment:
    """Record money received for a finalized invoice (module docstring: the rules). Nothing is written unless every
    check passes; raises ``ValidationError`` naming the field, or ``IllegalTransition`` (409) for the state."""
    actor = as_actor(actor)
    now = timezone.now()
    if method not in Payment.Method.values:
        raise ValidationError({"method": f"must be one of {', '.join(Payment.Method.values)}"})
    if currency is not None and currency != invoice.currency:
        raise ValidationError({"currency": f"must be the invoice's currency, {invoice.currency}"})
    amount_check(amount, invoice.currency)
    paid_at = instant_check(paid_at, "paid_at", now=now)
    if len(reference) > 255:
        raise ValidationError({"reference": "must be at most 255 characters"})
    with transaction.atomic():
        locked = invoice_lock(invoice)
        if locked.status != Invoice.Status.FINALIZED:
            raise IllegalTransition(locked, "record a payment on", because=_why_not(locked))
        return _apply(locked, amount=amount, method=method, paid_at=paid_at, reference=reference, source=source,
                      actor=actor, recorded_at=now)  # fmt: skip


def _why_not(invoice: Invoice) -> str:
    return {
        Invoice.Status.DRAFT: "a draft (it is not issued yet)",
        Invoice.Status.VOID: "void",
        Invoice.Status.PAID: "paid (nothing is due)",
    }.get(invoice.status, invoice.status)


def invoice_mark_paid(*, invoice: Invoice, at: datetime | None = None, actor: Actor | str = SYSTEM_ACTOR) -> Invoice:
    """Record a payment of exactly what a finalized invoice still asks for (SPEC §11.2), paid at ``at``."""
    actor = as_actor(actor)
    at = at or timezone.now()
    with transaction.atomic():
        locked = invoice_lock(invoice)
        if locked.status != Invoice.Status.FINALIZED:
            raise IllegalTransition(locked, "mark paid")
        if locked.amount_due > 0:
            _apply(locked, amount=locked.amount_due, method=Payment.Method.OTHER, paid_at=at, reference="",
                   source=Payment.Source.MARK_PAID, actor=actor, recorded_at=at)  # fmt: skip
        else:  # nothing left to collect: settled without money changing hands
            locked.status, locked.paid_at = Invoice.Status.PAID, at
            locked.save(update_fields=["status", "paid_at"])
            invoice_audit(locked, from_state=Invoice.Status.FINALIZED, to_state=Invoice.Status.PAID,
                          actor=actor.label, at=at, note="nothing due")  # fmt: skip
            invoice_pdf_follow(locked)
    return locked


def payment_refund(
    *,
    payment: Payment,
    amount: Decimal,
    actor: Actor | str,
    refunded_at: datetime | None = None,
    reason: str = "",
) -> Refund:
    """Record money given back against a payment: at most what it applied to its invoice less earlier refunds
    (400 on ``amount``). The amount is due again on the invoice; a paid invoice re-opens as ``finalized``.

    Locks the invoice, then the payment (the order every payment write takes)."""
    actor = as_actor(actor)
    now = timezone.now()
    amount_check(amount, payment.currency)
    refunded_at = instant_check(refunded_at, "refunded_at", now=now)
    if len(reason) > 500:
        raise ValidationError({"reason": "must be at most 500 characters"})
    with transaction.atomic():
        invoice = invoice_lock(payment.invoice)
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        if amount > locked.refundable:
            left = f"{to_str(locked.refundable, locked.currency)} {locked.currency}"
            raise ValidationError({"amount": f"is more than can be refunded: {left} (what the payment paid on the "
                                             f"invoice less earlier refunds)"})  # fmt: skip
        refund = Refund.objects.create(
            merchant_id=locked.merchant_id, payment=locked, amount=amount, currency=locked.currency,
            refunded_at=refunded_at, reason=reason, recorded_at=now, **_actor_fields(actor),
        )  # fmt: skip
        locked.amount_refunded += amount
        locked.save(update_fields=["amount_refunded"])
        previous = invoice.status
        invoice.amount_paid -= amount
        invoice.amount_due += amount
        fields = ["amount_paid", "amount_due"]
        if previous == Invoice.Status.PAID and invoice.amount_due > 0:
            invoice.status, invoice.paid_at = Invoice.Status.FINALIZED, None
            fields += ["status", "paid_at"]
        invoice.save(update_fields=fields)
        invoice_audit(invoice, from_state=previous, to_state=invoice.status, actor=actor.label, at=now,
                      note=f"refund {refund.pk} of payment {locked.pk}: {to_str(amount, locked.currency)} "
                           f"{locked.currency}")  # fmt: skip
        invoice_pdf_follow(invoice)
    return refund
