"""Prepaid credit: grants, the append-only ledger, and what each invoice reserved (SPEC §6)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone

from atlas.fields import money_field
from atlas.models import Merchant
from billing.invoices.models import Invoice
from customers.models import Customer


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
