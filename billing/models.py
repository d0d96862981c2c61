"""What is owed: subscriptions (and, with the billing issue, invoices and credits)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone

from atlas.fields import money_field, quantity_field, rate_field
from atlas.models import Merchant
from catalog.models import PlanVersion
from customers.models import Customer


class Subscription(models.Model):
    """A customer on a plan version, with billing periods (SPEC §5).

    A subscription is active on ``[started_at, ends_at)``. Periods come from
    ``billing.periods.Calendar`` built from the plan version's interval, the
    anchor and the billing day and time zone captured here at creation, so a
    later change of the merchant's settings never moves existing periods.
    """

    class Anchor(models.TextChoices):
        CALENDAR = "calendar"
        ANNIVERSARY = "anniversary"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="subscriptions")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    external_id = models.CharField(max_length=255)
    plan_version = models.ForeignKey(PlanVersion, on_delete=models.PROTECT, related_name="subscriptions")
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Exclusive; set by a cancel or plan change.")
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    billing_anchor = models.CharField(max_length=12, choices=Anchor.choices, default=Anchor.CALENDAR)
    billing_day = models.PositiveSmallIntegerField(default=1)
    timezone = models.CharField(max_length=64, default="UTC")
    overrides = models.JSONField(
        default=dict, blank=True, help_text='{"charges": {metric_code: {...params}}, "features": {key: limit}}'
    )
    previous = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next", help_text="Plan change chain"
    )
    canceled_at = models.DateTimeField(null=True, blank=True, help_text="When the cancel was requested.")
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["-started_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "external_id"], name="subscription_external_id_unique"),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gte=models.F("started_at")),
                name="subscription_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["customer", "started_at"])]

    def __str__(self) -> str:
        return self.external_id

    def is_active_at(self, instant) -> bool:
        return self.started_at <= instant and (self.ends_at is None or instant < self.ends_at)


# --- Invoices ---------------------------------------------------------------------------------------------------
#
# Money fields use ``atlas.fields.money_field``; every stored amount is already rounded to the currency's minor
# unit (lines once each, tax once per invoice), so the four decimals only ever hold trailing zeros.


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

    ``period_start`` is the boundary the invoice is issued at and, with the subscription, its deterministic key:
    the in-arrears lines cover the period that ended there, the in-advance lines the period that starts there,
    ``[period_start, period_end)``. A final invoice (termination) has ``period_end == period_start``.
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
    merchant_details = models.JSONField(default=dict, blank=True)

    pdf = models.CharField(max_length=255, blank=True, help_text="Path of the rendered PDF under MEDIA_ROOT.")
    pdf_rendered_at = models.DateTimeField(null=True, blank=True)
    pdf_queued_at = models.DateTimeField(null=True, blank=True, help_text="Claimed for rendering (retried if stale).")
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["-period_start", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "period_start"], name="invoice_subscription_period"),
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
            models.Index(fields=["customer", "period_start"], name="invoice_customer_period"),
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


# --- Credits ----------------------------------------------------------------------------------------------------


class CreditGrant(models.Model):
    """Prepaid money for a customer (SPEC §6). The amount never changes; the ledger says what is left."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="credit_grants")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_grants")
    amount = money_field()
    currency = models.CharField(max_length=3)
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower is consumed first.")
    granted_at = models.DateTimeField(default=dj_timezone.now, help_text="Usable by invoices issued from then.")
    expires_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True, help_text="When the expiry was recorded.")
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["priority", "expires_at", "granted_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_grant_amount_positive"),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=models.F("granted_at")),
                name="credit_grant_expires_after_grant",
            ),
        ]
        indexes = [models.Index(fields=["customer", "currency"], name="credit_grant_customer")]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} for {self.customer_id}"


class CreditLedgerEntry(models.Model):
    """Append-only: a grant (+), a consumption by an invoice (−), an expiry (−), a restoration on void (+)."""

    class Kind(models.TextChoices):
        GRANT = "grant"
        CONSUMPTION = "consumption"
        EXPIRY = "expiry"
        RESTORATION = "restoration"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="credit_ledger")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_ledger")
    grant = models.ForeignKey(CreditGrant, on_delete=models.PROTECT, related_name="ledger")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount = money_field(help_text="Signed: what this entry adds to the balance.")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name_plural = "credit ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["grant"], condition=Q(kind="grant"), name="credit_ledger_one_grant"),
            models.UniqueConstraint(
                fields=["grant", "invoice", "kind"],
                condition=Q(kind__in=["consumption", "restoration"]),
                name="credit_ledger_once_per_invoice",
            ),
            models.CheckConstraint(
                condition=(Q(kind__in=["grant", "restoration"]) & Q(amount__gt=0))
                | (Q(kind__in=["consumption", "expiry"]) & Q(amount__lt=0)),
                name="credit_ledger_sign",
            ),
        ]
        indexes = [models.Index(fields=["customer", "at"], name="credit_ledger_customer_at")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount}"


class CreditApplication(models.Model):
    """Credits an invoice draws from one grant: a reservation while draft, consumed (ledger) at finalization."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="credit_applications")
    grant = models.ForeignKey(CreditGrant, on_delete=models.PROTECT, related_name="applications")
    amount = money_field()

    class Meta:
        ordering = ["invoice", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "grant"], name="credit_application_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_application_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} from grant {self.grant_id}"


# --- Credit notes -----------------------------------------------------------------------------------------------


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


# --- The jobs engine --------------------------------------------------------------------------------------------


class BillingRun(models.Model):
    """One pass of the jobs engine for an instant; counts what it did. Re-running the same as_of is safe."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    merchant = models.ForeignKey(
        Merchant, null=True, blank=True, on_delete=models.CASCADE, related_name="billing_runs",
        help_text="Empty: every merchant.",
    )
    as_of = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(default=dj_timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"run as of {self.as_of:%Y-%m-%d %H:%M} ({self.status})"
