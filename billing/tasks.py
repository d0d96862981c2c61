"""django-q2 tasks: thin wrappers that fetch by id and call a service.

The nightly schedule (``billing.tasks.billing_run_nightly``, daily at ``ATLAS_NIGHTLY_BILLING_HOUR_UTC``) is
created by migration 0003 through ``ensure_nightly_schedule``.
"""

import logging
from datetime import datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)

NIGHTLY_SCHEDULE = "atlas-nightly-billing-run"


def invoice_render_pdf(invoice_id: int) -> str:
    from billing.models import Invoice
    from billing.pdf import invoice_pdf_store

    invoice = Invoice.objects.select_related("merchant").get(pk=invoice_id)
    path = invoice_pdf_store(invoice=invoice)
    return str(path) if path else ""


def queue_invoice_pdf(invoice_id: int) -> None:
    """Queue the PDF of an invoice (call after commit: the worker must see the finalized row)."""
    from django_q.tasks import async_task

    async_task("billing.tasks.invoice_render_pdf", invoice_id, task_name=f"invoice-pdf-{invoice_id}", group="pdf")


def billing_run_nightly(as_of: str | None = None) -> dict:
    from billing.engine import billing_run

    instant = datetime.fromisoformat(as_of) if as_of else timezone.now()
    return billing_run(as_of=instant, trigger="nightly schedule").stats


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
            "func": "billing.tasks.billing_run_nightly",
            "schedule_type": "D",
            "repeats": -1,
        },
        create_defaults={
            "func": "billing.tasks.billing_run_nightly",
            "schedule_type": "D",
            "repeats": -1,
            "next_run": next_nightly_run(),
        },
    )
