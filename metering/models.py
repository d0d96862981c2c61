"""What was used: events posted by the merchant's systems, and the pre-aggregated state behind fast reads.

Events are the source of truth; everything else here can be rebuilt from them.
``UsageBucket`` rows hold, per metric, customer, subscription tag, group and time
bucket, the partial aggregates of that bucket's events (count, sum, max, min,
time-weighted sum, latest value). They are written in the same transaction as the
events they summarise, so a read that sums buckets sees exactly what a read over
the raw events would (docs/metering.md).
"""

from django.db import models
from django.utils import timezone

from atlas.models import Merchant
from catalog.models import Metric
from customers.models import Customer

# Stored quantities keep 10 decimals (atlas.fields.quantity_field); numeric properties are read at that scale.
STATE_DIGITS = 38
STATE_DECIMALS = 10


def _state_number(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=STATE_DIGITS, decimal_places=STATE_DECIMALS, **kwargs)


class Event(models.Model):
    """One usage event. ``transaction_id`` is unique per merchant for as long as the event is kept."""

    id = models.BigAutoField(primary_key=True)
    # No single-column indexes on the foreign keys: the composite indexes below lead with them, and every
    # index is one more write per ingested event.
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="events", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events", db_index=False)
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


class MetricState(models.Model):
    """Marks a metric's buckets as complete for one definition of the metric.

    ``signature`` digests everything the buckets depend on (event codes, field,
    filters, group_by, aggregation, bucket width). Ingestion only maintains
    buckets whose signature matches the metric as it is now; a read that finds
    no state or a stale one rebuilds it from the raw events first.
    """

    metric = models.OneToOneField(Metric, on_delete=models.CASCADE, primary_key=True, related_name="usage_state")
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="+")
    signature = models.CharField(max_length=64)
    bucket_seconds = models.PositiveIntegerField()
    built_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"state of {self.metric_id} ({self.bucket_seconds}s buckets)"


class UsageBucket(models.Model):
    """The partial aggregates of one metric's events in one time bucket.

    ``bucket`` is the bucket's start in epoch seconds (UTC). ``group_key`` joins
    the group_by values with U+001F; ``value`` is the distinct value for
    ``unique_count`` metrics (one row per value) and empty otherwise.
    ``weighted`` is Σ value × (event second − bucket start), from which the
    time-weighted integral over any window that contains the whole bucket follows.
    """

    id = models.BigAutoField(primary_key=True)
    metric = models.ForeignKey(Metric, on_delete=models.CASCADE, related_name="+", db_index=False)  # leads the key
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    bucket = models.BigIntegerField()
    subscription_external_id = models.CharField(max_length=255, blank=True, default="")
    group_key = models.TextField(blank=True, default="")
    # The events' ``user`` property, for metrics a user-scoped feature counts (``Metric.user_buckets``); else "".
    user_key = models.TextField(blank=True, default="")
    value = models.TextField(blank=True, default="")
    events_count = models.BigIntegerField(default=0)
    total = _state_number(null=True, blank=True)
    max_value = _state_number(null=True, blank=True)
    min_value = _state_number(null=True, blank=True)
    weighted = _state_number(null=True, blank=True)
    latest_at = models.DateTimeField(null=True, blank=True)
    latest_id = models.BigIntegerField(null=True, blank=True)
    latest_value = _state_number(null=True, blank=True)

    class Meta:
        constraints = [
            # Column order serves both the upsert and the range read (metric, customer, bucket range).
            models.UniqueConstraint(
                fields=["metric", "customer", "bucket", "subscription_external_id", "group_key", "user_key", "value"],
                name="usage_bucket_user_key",
            ),
        ]

    def __str__(self) -> str:
        return f"metric {self.metric_id} customer {self.customer_id} @ {self.bucket}"


class EventCount(models.Model):
    """Events per merchant and quarter hour of their timestamp, kept by ingestion in the insert's transaction.

    The dashboard's events-per-day chart reads at most 96 rows a day instead of counting raw events. Quarter
    hours make local days exact in every time zone: every UTC offset in use is a multiple of 15 minutes.
    """

    SECONDS = 900

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="event_counts")
    bucket = models.DateTimeField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "bucket"], name="event_count_bucket_unique")]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%d %H:%M} {self.count}"
