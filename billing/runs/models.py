"""A record of each pass of the jobs engine."""

from django.db import models
from django.utils import timezone as dj_timezone

from atlas.models import Merchant


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
