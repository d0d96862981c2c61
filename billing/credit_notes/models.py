"""Credit notes: corrections to issued invoices, with their own gap-free series."""

from django.db import models
from django.db.models import Q

from atlas.fields import money_field, rate_field
from atlas.models import Merchant
from billing.credits.models import CreditGrant
from billing.invoices.models import Invoice, InvoiceLine
from customers.models import Customer


class CreditNote(models.Model):
    """A correction to an issued invoice, which itself never changes (SPEC §2): money given back on its lines.

    On an unpaid (finalized) invoice the whole total reduces what is due (``amount_applied``). On a paid one it is
    returned as customer credit (``amount_credited``, a ``CreditGrant``) or recorded as refunded outside Atlas
    (``amount_refunded``). Issued credit notes are immutable; docs/billing.md, "Credit notes".
    """

    class Reason(models.TextChoices):
        DUPLICATE = "duplicate"
        FRAUDULENT = "fraudulent"
        ORDER_CHANGE = "order_change"
        PRODUCT_UNSATISFACTORY = "product_unsatisfactory"
        BILLING_ERROR = "billing_error"
        OTHER = "other"

    class Method(models.TextChoices):
        CREDIT = "credit"
        REFUND = "refund"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="credit_notes")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_notes")
    number = models.CharField(max_length=40)
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=24, choices=Reason.choices)
    memo = models.CharField(max_length=500, blank=True)
    subtotal = money_field()
    tax_rate = rate_field(default=0)
    tax = money_field(default=0)
    total = money_field()
    amount_applied = money_field(default=0, help_text="Taken off the invoice's amount due.")
    amount_credited = money_field(default=0, help_text="Given back as customer credit (credit_grant).")
    amount_refunded = money_field(default=0, help_text="Recorded as refunded outside Atlas.")
    credit_grant = models.OneToOneField(
        CreditGrant, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_note"
    )
    issued_at = models.DateTimeField()
    actor = models.CharField(max_length=255)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "number"], name="credit_note_number_unique"),
            models.CheckConstraint(condition=Q(subtotal__gt=0), name="credit_note_subtotal_positive"),
            models.CheckConstraint(
                condition=Q(
                    total=models.F("amount_applied") + models.F("amount_credited") + models.F("amount_refunded")
                ),
                name="credit_note_total_distributed",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "issued_at"], name="credit_note_merchant_issued")]

    def __str__(self) -> str:
        return self.number


class CreditNoteLine(models.Model):
    """How much of one invoice line a credit note gives back (before tax)."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    invoice_line = models.ForeignKey(InvoiceLine, on_delete=models.PROTECT, related_name="credit_note_lines")
    description = models.CharField(max_length=300)
    amount = money_field()

    class Meta:
        ordering = ["credit_note", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["credit_note", "invoice_line"], name="credit_note_line_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_note_line_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"
