"""Invoices, their lines, their audit trail and the gap-free number series (SPEC §7)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone

from atlas.fields import money_field, quantity_field, rate_field
from atlas.models import Merchant
from billing.subscriptions.models import Subscription
from customers.models import Customer


class InvoiceCounter(models.Model):
    """A gap-free sequence of one merchant, series and year, locked with ``select_for_update`` to number.

    Invoices and credit notes are numbered from their own series (``{prefix}-2026-000001`` and
    ``{prefix}-CN-2026-000001``).
    """

    class Series(models.TextChoices):
        INVOICE = "invoice"
        CREDIT_NOTE = "credit_note"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="invoice_counters")
    series = models.CharField(max_length=12, choices=Series.choices, default=Series.INVOICE)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "series", "year"], name="invoice_counter_unique")]

    def __str__(self) -> str:
        return f"{self.merchant_id}/{self.series}/{self.year}: {self.last_number}"

    @classmethod
    def take(cls, *, merchant_id: int, year: int, count: int = 1, series: str = Series.INVOICE) -> int:
        """Advance the sequence by ``count`` inside the caller's transaction; the first number taken."""
        cls.objects.get_or_create(merchant_id=merchant_id, series=series, year=year)
        counter = cls.objects.select_for_update().get(merchant_id=merchant_id, series=series, year=year)
        counter.last_number += count
        counter.save(update_fields=["last_number"])
        return counter.last_number - count + 1


class Invoice(models.Model):
    """The bill of one subscription issued at one period boundary (SPEC §5, §7, docs/billing.md).

    ``issued_at`` is the boundary the invoice is issued at and, with the subscription, its deterministic key: the
    in-arrears lines cover the period that ended there, the in-advance lines the period that starts there.
    ``[period_start, period_end)`` is the service period the invoice bills (SPEC §11.1): the period that just ended
    when it has in-arrears lines (the January invoice of an in-arrears plan shows Jan 1 – Feb 1, issued Feb 1),
    else the period it bills ahead. A final invoice (termination) ends at the termination.
    """

    class Status(models.TextChoices):
        DRAFT = "draft"
        FINALIZED = "finalized"
        PAID = "paid"
        VOID = "void"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="invoices")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="invoices")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    number = models.CharField(max_length=40, blank=True, default="")
    currency = models.CharField(max_length=3)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    is_final = models.BooleanField(default=False, help_text="The subscription's last invoice (termination).")
    issued_at = models.DateTimeField()
    due_at = models.DateTimeField()
    grace_until = models.DateTimeField(help_text="Stays a draft, refreshed with late events, until then.")
    refreshed_at = models.DateTimeField(null=True, blank=True, help_text="Events received before this are billed.")
    finalized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    credit_grant = models.OneToOneField(
        "billing.CreditGrant", null=True, blank=True, on_delete=models.PROTECT, related_name="source_invoice",
        help_text="The customer credit a negative final invoice became (SPEC §11.1).",
    )

    subtotal = money_field(default=0)
    credits_applied = money_field(default=0)
    tax_rate = rate_field(default=0)
    tax = money_field(default=0)
    total = money_field(default=0)
    amount_paid = money_field(default=0)
    amount_due = money_field(default=0)
    credited = money_field(default=0, help_text="The total of the invoice's credit notes.")

    # Snapshots taken when the invoice is issued and again at finalization, never after.
    customer_name = models.CharField(max_length=255, blank=True)
    customer_email = models.CharField(max_length=255, blank=True)
    customer_address = models.TextField(blank=True)
    customer_external_id = models.CharField(max_length=255, blank=True)
    customer_tax_id = models.CharField(max_length=64, blank=True)
    merchant_details = models.JSONField(default=dict, blank=True)

    pdf = models.CharField(max_length=255, blank=True, help_text="Path of the rendered PDF under MEDIA_ROOT.")
    pdf_rendered_at = models.DateTimeField(null=True, blank=True)
    pdf_key = models.CharField(
        max_length=16, blank=True, help_text="The state the stored PDF shows (billing.invoices.pdf.invoice_pdf_key)."
    )
    pdf_queued_at = models.DateTimeField(null=True, blank=True, help_text="Claimed for rendering (retried if stale).")
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "issued_at"], name="invoice_subscription_issue"),
            models.UniqueConstraint(
                fields=["merchant", "number"], condition=~Q(number=""), name="invoice_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "void"]) | ~Q(number=""), name="invoice_issued_has_number"
            ),
            models.CheckConstraint(condition=Q(period_end__gte=models.F("period_start")), name="invoice_period_order"),
            models.CheckConstraint(condition=Q(credits_applied__gte=0), name="invoice_credits_non_negative"),
            models.CheckConstraint(condition=Q(tax_rate__gte=0, tax_rate__lte=1), name="invoice_tax_rate_fraction"),
            models.CheckConstraint(condition=Q(credited__gte=0), name="invoice_credited_non_negative"),
        ]
        indexes = [
            models.Index(fields=["merchant", "status"], name="invoice_merchant_status"),
            models.Index(fields=["customer", "issued_at"], name="invoice_customer_issue"),
        ]

    def __str__(self) -> str:
        return self.number or f"draft {self.pk}"

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT


class InvoiceLine(models.Model):
    """One line: what was billed, and everything needed to explain it (SPEC §2 traceability)."""

    class Type(models.TextChoices):
        BASE_FEE = "base_fee"
        USAGE = "usage"
        ONE_TIME = "one_time"
        MINIMUM = "minimum"
        ADJUSTMENT = "adjustment"

    CREDITABLE = (Type.USAGE, Type.MINIMUM, Type.ADJUSTMENT)

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="invoice_lines")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=0)
    type = models.CharField(max_length=12, choices=Type.choices)
    description = models.CharField(max_length=300)
    charge = models.ForeignKey(
        "catalog.Charge", null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_lines"
    )
    metric = models.ForeignKey(
        "catalog.Metric", null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_lines"
    )
    metric_code = models.CharField(max_length=100, blank=True)
    group = models.JSONField(null=True, blank=True)
    quantity = quantity_field(default=0)
    raw_quantity = quantity_field(null=True, blank=True)
    unit_amount = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    amount = money_field()
    breakdown = models.JSONField(default=list, blank=True)
    events_count = models.PositiveIntegerField(default=0)
    service_start = models.DateTimeField()
    service_end = models.DateTimeField()
    # Traceability: the price table used and the exact event window aggregated.
    price = models.JSONField(default=dict, blank=True, help_text="Snapshot: model, params, allowance, min, max.")
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    received_after = models.DateTimeField(null=True, blank=True, help_text="Adjustments: events received since.")
    received_before = models.DateTimeField(null=True, blank=True)
    adjusted_invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="adjusted_by"
    )

    class Meta:
        ordering = ["invoice", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(service_end__gte=models.F("service_start")), name="invoice_line_service_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type}: {self.description}"


class InvoiceEvent(models.Model):
    """Audit: every invoice state change, who or what made it, and when."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="invoice_audit")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="audit")
    from_state = models.CharField(max_length=10, blank=True)
    to_state = models.CharField(max_length=10)
    actor = models.CharField(max_length=255, help_text="'billing run', 'api key atlas_ab12…', a user name.")
    at = models.DateTimeField(default=dj_timezone.now)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["invoice", "at", "pk"]

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.from_state or '-'} → {self.to_state}"
