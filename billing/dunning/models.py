"""Dunning: the reminders an unpaid invoice is e-mailed as it passes the merchant's ``dunning_days``."""

from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone

from atlas.models import Merchant
from billing.invoices.models import Invoice


class DunningReminder(models.Model):
    """One reminder step (days past due) of one invoice: planned once, sent at most once.

    The unique (invoice, step) key makes a repeated or overlapping run find the row instead of adding one; the
    sender claims it with compare-and-set on ``claimed_at`` and marks it ``sent`` only once the SMTP server took the
    message. A failed send goes back to ``pending`` and is tried again by the next run.
    """

    class Status(models.TextChoices):
        PENDING = "pending"  # planned; sent by this run or, after a failure, the next
        SENT = "sent"
        SKIPPED = "skipped"  # the customer has no e-mail address
        SUPERSEDED = "superseded"  # a later step became due before this one went out

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="dunning_reminders")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="dunning_reminders")
    step = models.PositiveSmallIntegerField(help_text="Days past due this reminder is for.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    recipient = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    planned_at = models.DateTimeField(default=dj_timezone.now, help_text="The run instant that found it due.")
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="A sender holds it (stale after an hour).")
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["invoice", "step"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "step"], name="dunning_reminder_once_per_step"),
            models.CheckConstraint(
                condition=Q(status="sent", sent_at__isnull=False) | ~Q(status="sent"), name="dunning_sent_has_time"
            ),
        ]
        indexes = [models.Index(fields=["merchant", "status"], name="dunning_merchant_status")]

    def __str__(self) -> str:
        return f"{self.invoice_id}: day {self.step} ({self.status})"
