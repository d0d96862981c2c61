"""django-q2 tasks of the jobs engine: the nightly billing run and its schedule.

The nightly schedule (``billing.runs.tasks.billing_run_nightly``, daily at ``ATLAS_NIGHTLY_BILLING_HOUR_UTC``)
is created by migration 0003 through ``ensure_nightly_schedule`` (migration 0005 moved its dotted path here).
"""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from billing.dunning.services import dunning_run
from billing.runs.engine import billing_run

NIGHTLY_SCHEDULE = "atlas-nightly-billing-run"


def billing_run_nightly(as_of: str | None = None) -> dict:
    instant = datetime.fromisoformat(as_of) if as_of else timezone.now()
    stats = billing_run(as_of=instant, trigger="nightly schedule").stats
    return {**stats, "dunning": dunning_run(as_of=instant).as_dict()}  # reminders after the run's invoices commit


def next_nightly_run(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    hour = settings.ATLAS_NIGHTLY_BILLING_HOUR_UTC
    candidate = datetime.combine(now.date(), time(hour), tzinfo=timezone.get_current_timezone())
    return candidate if candidate > now else candidate + timedelta(days=1)


def ensure_nightly_schedule(schedule_model=None) -> None:
    """Create (or keep) the one nightly schedule of the billing run."""
    if schedule_model is None:
        from django_q.models import Schedule as schedule_model
    schedule_model.objects.update_or_create(
        name=NIGHTLY_SCHEDULE,
        defaults={
            "func": "billing.runs.tasks.billing_run_nightly",
            "schedule_type": "D",
            "repeats": -1,
        },
        create_defaults={
            "func": "billing.runs.tasks.billing_run_nightly",
            "schedule_type": "D",
            "repeats": -1,
            "next_run": next_nightly_run(),
        },
    )
