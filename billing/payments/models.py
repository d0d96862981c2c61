"""Payments received against invoices, refunds of them, and bank statement lines (SPEC §11.2, docs/payments.md).

The contract other rooms build on (receivables, statements, dunning, the journal):

``Payment`` — money received from a customer for one invoice, recorded by a person, an API key, ``mark_paid`` or
a bank statement import. Immutable once written (a correction is a ``Refund``).

- ``amount``: what the customer paid, positive, in ``currency`` (always the invoice's currency), with at most the
  currency's decimals.
- ``amount_applied``: the part that settled the invoice (at most its ``amount_due`` when recorded);
  ``amount_credited``: the excess of an overpayment, which became customer credit (``credit_grant``, a
  ``CreditGrant`` of that amount granted at ``paid_at``). Always ``amount = amount_applied + amount_credited``.
- ``amount_refunded``: the total of the payment's refunds (kept with the refunds, under the invoice's lock);
  never more than ``amount_applied``: the credited excess is customer credit and is spent or expires as credit.
- ``paid_at``: when the money arrived (the caller's date, default now; never in the future);
  ``recorded_at``: when Atlas recorded it.
- ``method``: ``bank_transfer``, ``card``, ``cash``, ``check``, ``other``; ``reference``: the payer's or bank's
  reference (free text, may be empty); ``source``: ``manual`` (API or cockpit), ``mark_paid``, ``bank_import``,
  ``migration`` (amounts paid before payments were records of their own).
- Who: ``actor_label`` always (kept if the key or user goes), and ``actor_api_key`` or ``actor_user`` when known.

``Invoice.amount_paid`` is the sum of its payments' ``amount_applied`` less their refunds; ``Invoice.amount_due`` is
``total − credit notes applied − amount_paid``.

``Refund`` — money given back against one payment: ``amount`` (positive, at most what the payment applied less
earlier refunds), ``refunded_at`` (when), ``reason``, who and when recorded. A refund re-opens what it gives back on
the invoice: a paid invoice becomes ``finalized`` again with that amount due.

``BankTransaction`` — one line of an imported bank statement, kept so that importing the same line again never pays
twice (``key``: date, amount, currency and reference, normalised; unique per merchant), with what became of it:
``matched`` (``payment`` set, ``matched_by`` ``number`` or ``amount``), ``unmatched`` (waiting for staff to assign it
to an invoice by hand, which records the payment and sets ``matched_by`` ``hand``) or ``dismissed``.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone as dj_timezone

from atlas.fields import money_field
from atlas.models import ApiKey, Merchant
from billing.credits.models import CreditGrant
from billing.invoices.models import Invoice
from customers.models import Customer


class Payment(models.Model):
    """Money received for one invoice (see the module docstring for every field's meaning)."""

    class Method(models.TextChoices):
        BANK_TRANSFER = "bank_transfer"
        CARD = "card"
        CASH = "cash"
        CHECK = "check"
        OTHER = "other"

    class Source(models.TextChoices):
        MANUAL = "manual"
        MARK_PAID = "mark_paid"
        BANK_IMPORT = "bank_import"
        MIGRATION = "migration"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="payments")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount = money_field()
    currency = models.CharField(max_length=3)
    amount_applied = money_field(help_text="The part that settled the invoice.")
    amount_credited = money_field(default=0, help_text="The excess of an overpayment, given as customer credit.")
    amount_refunded = money_field(default=0, help_text="The total of this payment's refunds.")
    credit_grant = models.OneToOneField(
        CreditGrant, null=True, blank=True, on_delete=models.PROTECT, related_name="payment",
        help_text="The customer credit the excess of an overpayment became.",
    )  # fmt: skip
    method = models.CharField(max_length=16, choices=Method.choices)
    reference = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.MANUAL)
    paid_at = models.DateTimeField(help_text="When the money arrived.")
    recorded_at = models.DateTimeField(default=dj_timezone.now)
    actor_label = models.CharField(max_length=255, help_text="Who recorded it, as text.")
    actor_api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-paid_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_applied__gte=0, amount_credited__gte=0), name="payment_parts_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(amount=F("amount_applied") + F("amount_credited")), name="payment_amount_distributed"
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0, amount_refunded__lte=F("amount_applied")),
                name="payment_refunds_within_applied",
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "paid_at"], name="payment_merchant_paid"),
            models.Index(fields=["customer", "paid_at"], name="payment_customer_paid"),
        ]

    def __str__(self) -> str:
        return f"payment {self.pk}: {self.amount} {self.currency}"

    @property
    def refundable(self):
        """What can still be refunded: what the payment applied to the invoice less earlier refunds."""
        return self.amount_applied - self.amount_refunded


class Refund(models.Model):
    """Money given back against one payment; it re-opens that amount on the payment's invoice."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="refunds")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = money_field()
    currency = models.CharField(max_length=3)
    refunded_at = models.DateTimeField(help_text="When the money went back.")
    reason = models.CharField(max_length=500, blank=True)
    recorded_at = models.DateTimeField(default=dj_timezone.now)
    actor_label = models.CharField(max_length=255)
    actor_api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["refunded_at", "pk"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]

    def __str__(self) -> str:
        return f"refund {self.pk}: {self.amount} {self.currency}"


class BankTransaction(models.Model):
    """One imported bank statement line and what became of it (module docstring)."""

    class Status(models.TextChoices):
        MATCHED = "matched"
        UNMATCHED = "unmatched"
        DISMISSED = "dismissed"

    class MatchedBy(models.TextChoices):
        NUMBER = "number"
        AMOUNT = "amount"
        HAND = "hand"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="bank_transactions")
    key = models.CharField(max_length=64, help_text="SHA-256 of date, amount, currency and reference (dedupe).")
    date = models.DateField()
    amount = money_field()
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    matched_by = models.CharField(max_length=8, choices=MatchedBy.choices, blank=True)
    note = models.CharField(max_length=300, blank=True, help_text="Why it was not matched.")
    payment = models.OneToOneField(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="bank_transaction"
    )
    file_name = models.CharField(max_length=255, blank=True)
    row = models.PositiveIntegerField(help_text="Its row in the imported file (the header is row 1).")
    imported_at = models.DateTimeField(default=dj_timezone.now)
    actor_label = models.CharField(max_length=255)

    class Meta:
        ordering = ["-date", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "key"], name="bank_transaction_key_unique"),
            models.CheckConstraint(
                condition=Q(status="matched", payment__isnull=False) | ~Q(status="matched"),
                name="bank_transaction_matched_has_payment",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "status"], name="bank_transaction_status")]

    def __str__(self) -> str:
        return f"{self.date} {self.amount} {self.currency} {self.reference}"
