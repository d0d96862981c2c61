"""Tenancy: merchants, their staff, and their API keys.

Every other record in Atlas belongs to exactly one merchant.
"""

import hashlib
import secrets
import zoneinfo
from decimal import Decimal

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone

from atlas.locales import DEFAULT_LOCALE, LOCALE_CHOICES


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone")


DUNNING_MAX_STEPS = 10


def validate_dunning_days(value) -> None:
    """Reminder steps: whole days past due, 1 to 365, increasing, at most ten (docs/receivables.md)."""
    if not isinstance(value, list) or not all(isinstance(day, int) and not isinstance(day, bool) for day in value):
        raise ValidationError("must be a list of whole days, such as [3, 7, 14]")
    if len(value) > DUNNING_MAX_STEPS:
        raise ValidationError(f"at most {DUNNING_MAX_STEPS} steps")
    if any(not 1 <= day <= 365 for day in value):
        raise ValidationError("each step must be from 1 to 365 days past due")
    if any(later <= earlier for earlier, later in zip(value, value[1:], strict=False)):
        raise ValidationError("steps must increase, each day once: [3, 7, 14]")


class Merchant(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    created_at = models.DateTimeField(default=dj_timezone.now)

    # Billing settings (SPEC §8 /merchant).
    billing_day = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(28)],
        help_text="Day of the month periods start on (1-28); a merchant closing on the 25th sets 26.",
    )
    invoice_grace_hours = models.PositiveIntegerField(
        default=0, help_text="Hours an issued invoice stays in draft, refreshed with late events."
    )
    invoice_prefix = models.CharField(
        max_length=20,
        default="INV",
        validators=[RegexValidator(r"^[A-Z0-9][A-Z0-9_-]*$", "Use capital letters, digits, '-' and '_'.")],
    )
    default_tax_rate = models.DecimalField(
        max_digits=7,
        decimal_places=6,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text="A fraction: 0.2 is 20%.",
    )
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    locale = models.CharField(
        max_length=16,
        choices=LOCALE_CHOICES,
        default=DEFAULT_LOCALE,
        help_text="How pages and documents write money, quantities and dates (1,234.56 or 1.234,56; Jan 5, 2026).",
    )
    payment_terms_days = models.PositiveSmallIntegerField(default=30)
    dunning_days = models.JSONField(
        default=list, blank=True, validators=[validate_dunning_days],
        help_text="Days past due on which unpaid invoices are e-mailed a reminder, e.g. [3, 7, 14].",
    )  # fmt: skip

    # Company details printed on invoices.
    company_name = models.CharField(max_length=200, blank=True)
    company_address = models.TextField(blank=True)
    company_email = models.EmailField(blank=True)
    company_tax_id = models.CharField(max_length=64, blank=True)
    payment_instructions = models.TextField(
        blank=True, max_length=2000, help_text="How to pay (bank details), printed on invoices."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(billing_day__gte=1, billing_day__lte=28), name="merchant_billing_day_1_28"
            ),
            models.CheckConstraint(
                condition=Q(default_tax_rate__gte=0, default_tax_rate__lte=1), name="merchant_tax_rate_fraction"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """An Atlas user's seat in one merchant."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        VIEWER = "viewer", "Viewer"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.ADMIN)
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["merchant", "user"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant} ({self.role})"

    @property
    def can_edit(self) -> bool:
        return self.role == self.Role.ADMIN


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A bearer token of one merchant.

    The secret is shown once at creation and stored only as a SHA-256 digest: the
    secret is 32 random bytes, so a fast hash is as strong as a slow one here and
    keeps authentication to a single indexed lookup.
    """

    PREFIX = "atlas_"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters of the key, shown to identify it.")
    hashed_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=dj_timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def generate(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


def own_field_changes(model, changes: dict) -> dict:
    """django-auditlog also diffs reverse relations (a merchant's ``memberships`` shows as
    ``atlas.Membership.None``); only the model's own fields are changes of the object."""
    own = {field.name for field in model._meta.concrete_fields} | {
        field.name for field in model._meta.many_to_many
    }
    return {name: value for name, value in changes.items() if name in own}


class AuditEntryManager(LogEntryManager):
    def log_create(self, instance, force_log: bool = False, **kwargs):
        """django-auditlog's entry, stamped with the merchant it belongs to and who made the change.

        The actor comes from :mod:`atlas.audit.context`: the logged-in staff user of a cockpit request, the
        API key of an API request, or the system (a command, the nightly run).
        """
        from atlas.audit.context import current_actor, merchant_id_of

        actor = current_actor()
        if isinstance(kwargs.get("changes"), dict):
            kwargs["changes"] = own_field_changes(type(instance), kwargs["changes"])
        kwargs.setdefault("merchant_id", merchant_id_of(instance))
        kwargs.setdefault("actor", actor.user)
        kwargs.setdefault("actor_api_key", actor.api_key)
        kwargs.setdefault("actor_label", actor.label[:255])
        if actor.user is not None:
            kwargs.setdefault("actor_email", getattr(actor.user, "email", "") or None)
        if actor.remote_addr:
            kwargs.setdefault("remote_addr", actor.remote_addr)
        return super().log_create(instance, force_log=force_log, **kwargs)


class AuditEntry(AbstractLogEntry):
    """One change to one object: who (staff user or API key, with a label kept when the actor is deleted),
    when, which object, and the old and new value of each changed field (``changes``).

    Entries are written by django-auditlog's signals and by :mod:`atlas.audit.records` for writes that
    bypass signals (bulk imports, queryset updates); they are never edited or deleted.
    """

    merchant = models.ForeignKey(
        Merchant, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_entries"
    )
    actor_api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=255, default="system", help_text="Who, as text, kept when deleted.")

    objects = AuditEntryManager()

    class Meta(AbstractLogEntry.Meta):
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["merchant", "-timestamp"], name="audit_merchant_time"),
            models.Index(fields=["merchant", "content_type", "object_pk"], name="audit_merchant_object"),
        ]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Audit entries are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit entries are immutable.")
