"""Who buys: customers, the users provisioned to them (with history), and billing rules."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from atlas.fields import rate_field
from atlas.models import ApiKey, Merchant


class Customer(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="customers")
    external_id = models.CharField(max_length=255, help_text="The merchant's own id for this customer.")
    name = models.CharField(max_length=255)
    email = models.EmailField(blank=True)
    currency = models.CharField(max_length=3, default="USD")
    address_line1 = models.CharField(max_length=255, blank=True)
    address_line2 = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    tax_rate = rate_field(null=True, blank=True, help_text="Overrides the merchant's default tax rate.")
    tax_id = models.CharField(
        max_length=64, blank=True, help_text="VAT or tax number, printed on invoices (EU VAT numbers are checked)."
    )
    payment_terms_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Days from issue to due date; empty: the merchant's."
    )
    billing_starts_on = models.DateField(null=True, blank=True, help_text="Go-live date: not billed before.")
    billing_ends_on = models.DateField(null=True, blank=True, help_text="Departure: not billed from this date.")
    is_test = models.BooleanField(default=False, help_text="Test customers are metered but never billed.")
    metadata = models.JSONField(default=dict, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", help_text="Reseller"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "external_id"], name="customer_external_id_unique"),
            models.CheckConstraint(
                condition=Q(tax_rate__isnull=True) | Q(tax_rate__gte=0, tax_rate__lte=1), name="customer_tax_fraction"
            ),
            models.CheckConstraint(
                condition=Q(billing_starts_on__isnull=True)
                | Q(billing_ends_on__isnull=True)
                | Q(billing_ends_on__gt=models.F("billing_starts_on")),
                name="customer_billing_window_ordered",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "name"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


class CustomerUser(models.Model):
    """A person at a customer (a seat). Provisioned and deprovisioned over time."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="customer_users")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="users")
    external_id = models.CharField(max_length=255)
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=255, blank=True)
    provisioned_at = models.DateTimeField()
    deprovisioned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["customer", "provisioned_at", "pk"]
        constraints = [
            # A user id may come back after leaving, but is provisioned at most once at a time.
            models.UniqueConstraint(
                fields=["customer", "external_id"],
                condition=Q(deprovisioned_at__isnull=True),
                name="customer_user_active_unique",
            ),
            models.CheckConstraint(
                condition=Q(deprovisioned_at__isnull=True) | Q(deprovisioned_at__gte=models.F("provisioned_at")),
                name="customer_user_deprovisioned_after_provisioned",
            ),
        ]

    def __str__(self) -> str:
        return self.email or self.external_id


class ProvisioningChange(models.Model):
    """Append-only history of who was provisioned to which customer, when, and by whom."""

    class Action(models.TextChoices):
        PROVISIONED = "provisioned"
        DEPROVISIONED = "deprovisioned"
        UPDATED = "updated"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="provisioning_changes")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="provisioning_changes")
    user = models.ForeignKey(CustomerUser, on_delete=models.CASCADE, related_name="changes")
    action = models.CharField(max_length=14, choices=Action.choices)
    effective_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    # Who made the change: an API key, an Atlas user, or the system (CSV import, …).
    actor_api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=255, help_text="Who, as text, kept even if the actor is deleted.")
    snapshot = models.JSONField(default=dict, help_text="The user's name and email at the time.")

    class Meta:
        ordering = ["effective_at", "pk"]
        indexes = [models.Index(fields=["customer", "effective_at"])]

    def __str__(self) -> str:
        return f"{self.user} {self.action} at {self.effective_at:%Y-%m-%d %H:%M}"


class BillingRule(models.Model):
    """A merchant rule that keeps matching customers or users out of invoices (still metered).

    Patterns are shell-style globs, case-insensitive (``*-test``, ``admin@*``).
    """

    class Target(models.TextChoices):
        CUSTOMER = "customer", "Customer (name or external id)"
        USER = "user", "User (email, name or external id)"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="billing_rules")
    name = models.CharField(max_length=200)
    target = models.CharField(max_length=10, choices=Target.choices)
    pattern = models.CharField(max_length=255)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["target", "pattern"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True) | Q(ends_on__isnull=True) | Q(ends_on__gt=models.F("starts_on")),
                name="billing_rule_window_ordered",
            )
        ]

    def __str__(self) -> str:
        return f"exclude {self.target} {self.pattern}"

    def in_force_on(self, on) -> bool:
        """``starts_on <= on < ends_on`` (open ends allowed)."""
        return (self.starts_on is None or self.starts_on <= on) and (self.ends_on is None or on < self.ends_on)
