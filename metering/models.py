"""What was used: events posted by the merchant's systems."""

from django.db import models
from django.utils import timezone

from atlas.models import Merchant
from customers.models import Customer


class Event(models.Model):
    """One usage event. ``transaction_id`` is unique per merchant for as long as the event is kept."""

    id = models.BigAutoField(primary_key=True)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="events")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    transaction_id = models.CharField(max_length=255)
    code = models.CharField(max_length=255)
    timestamp = models.DateTimeField()
    properties = models.JSONField(default=dict)
    subscription_external_id = models.CharField(max_length=255, blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "transaction_id"], name="event_transaction_unique"),
        ]
        indexes = [
            models.Index(fields=["customer", "code", "timestamp"], name="event_customer_code_ts"),
            models.Index(fields=["merchant", "timestamp", "id"], name="event_merchant_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.transaction_id}"
