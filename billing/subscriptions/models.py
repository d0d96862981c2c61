"""A customer on a plan version, with billing periods (SPEC §5)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone

from atlas.models import Merchant
from catalog.models import PlanVersion
from customers.models import Customer


class Subscription(models.Model):
    """A customer on a plan version, with billing periods (SPEC §5).

    A subscription is active on ``[started_at, ends_at)``. Periods come from
    ``billing.subscriptions.periods.Calendar`` built from the plan version's interval, the
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
