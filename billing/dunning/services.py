"""Dunning: plan the reminders due at a run instant, then e-mail them, each step of each invoice at most once.

The rules (docs/receivables.md, "Dunning"):

- An invoice is dunned while it is ``finalized`` with something due. Days past due are counted in local calendar
  days of the merchant (due Mar 3, run Mar 10: 7 days).
- The step due is the largest of the merchant's ``dunning_days`` not after the days past due. A run that catches up
  (nothing sent at day 3, the run comes at day 8) plans only that latest step (7); an earlier step still pending
  is superseded. A step is planned once: the (invoice, step) row is unique, so a re-run or an overlapping run finds
  it instead of adding one.
- Sending happens after the planning transaction commits, one reminder at a time, never inside a transaction: a
  sender claims a pending row with compare-and-set on ``claimed_at`` (a claim older than an hour is taken over),
  attaches the invoice PDF, hands the message to Django's e-mail backend (SMTP from ``EMAIL_HOST``) and marks it
  ``sent`` only when that succeeded. A failure puts it back to pending for the next run.
- To the customer's current ``email``; a customer without one is skipped, reported and noted on the invoice.
  The merchant's ``company_email`` is the sender and the reply-to address (else ``DEFAULT_FROM_EMAIL``).
"""

import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import formataddr
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from atlas.models import Merchant
from billing.display import date_text, money_text
from billing.dunning.models import DunningReminder
from billing.invoices.models import Invoice, InvoiceEvent
from billing.invoices.pdf import invoice_pdf_bytes, invoice_pdf_store

ACTOR = "dunning"
STALE_CLAIM = timedelta(hours=1)


@dataclass
class DunningResult:
    planned: int = 0
    sent: list[str] = field(default_factory=list)  # "INV-2026-000001 day 7"
    failed: list[str] = field(default_factory=list)
    skipped_no_email: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"planned": self.planned, "sent": self.sent, "failed": self.failed,
                "skipped_no_email": self.skipped_no_email}  # fmt: skip


def days_past_due(*, due_at: datetime, at: datetime, timezone_name: str) -> int:
    """Local calendar days from the due date to the day of ``at`` (0 on the due date, negative before)."""
    tz = ZoneInfo(timezone_name)
    return (at.astimezone(tz).date() - due_at.astimezone(tz).date()).days


def step_due(*, days: int, steps: list[int]) -> int | None:
    """The latest step reached after ``days`` past due: only it is sent when a run catches up."""
    reached = [step for step in steps if step <= days]
    return max(reached) if reached else None


def _local_midnight(day, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=tz)


def dunning_plan(*, as_of: datetime, merchant: Merchant | None = None) -> int:
    """Record the reminder step due at ``as_of`` for every unpaid invoice (one transaction per merchant); the
    number of reminders added."""
    merchants = [merchant] if merchant is not None else list(Merchant.objects.all())
    added = 0
    for one in merchants:
        steps = list(one.dunning_days or [])
        if not steps:
            continue
        tz = ZoneInfo(one.timezone)
        today = as_of.astimezone(tz).date()
        latest_due = _local_midnight(today - timedelta(days=min(steps) - 1), tz)  # due on or before today − min
        invoices = list(
            Invoice.objects.filter(merchant=one, status=Invoice.Status.FINALIZED, amount_due__gt=0,
                                   due_at__lt=latest_due).values_list("pk", "due_at")  # fmt: skip
        )
        if not invoices:
            continue
        with transaction.atomic():
            known: dict[int, dict[int, str]] = {}
            rows = DunningReminder.objects.filter(invoice_id__in=[pk for pk, _ in invoices])
            for invoice_id, step, status in rows.values_list("invoice_id", "step", "status"):
                known.setdefault(invoice_id, {})[step] = status
            new, superseded = [], []
            for pk, due_at in invoices:
                step = step_due(days=days_past_due(due_at=due_at, at=as_of, timezone_name=one.timezone), steps=steps)
                existing = known.get(pk, {})
                if step is None or any(earlier >= step for earlier in existing):
                    continue
                new.append(DunningReminder(merchant=one, invoice_id=pk, step=step, planned_at=as_of))
                superseded += [(pk, s) for s, status in existing.items() if status == DunningReminder.Status.PENDING]
            DunningReminder.objects.bulk_create(new, ignore_conflicts=True)
            for pk, step in superseded:
                DunningReminder.objects.filter(invoice_id=pk, step=step, status=DunningReminder.Status.PENDING,
                                               claimed_at__isnull=True).update(
                    status=DunningReminder.Status.SUPERSEDED, last_error="a later step became due first")  # fmt: skip
        added += len(new)
    return added


def reminder_message(*, invoice: Invoice, step: int) -> tuple[str, str]:
    """The reminder's subject and plain-text body (also the cockpit's preview)."""
    merchant, currency, tz = invoice.merchant, invoice.currency, invoice.merchant.timezone
    days = "1 day" if step == 1 else f"{step} days"
    subject = f"Reminder: invoice {invoice.number} is {days} past due"
    body = render_to_string("billing/dunning_email.txt", {
        "invoice": invoice, "customer_name": invoice.customer.name or invoice.customer_name, "days": days,
        "amount_due": f"{money_text(invoice.amount_due, currency)} {currency}",
        "total": f"{money_text(invoice.total, currency)} {currency}",
        "issued": date_text(invoice.issued_at, tz), "due": date_text(invoice.due_at, tz),
        "merchant_name": merchant.company_name or merchant.name, "merchant_email": merchant.company_email,
        "payment_instructions": merchant.payment_instructions,
    })  # fmt: skip
    return subject, body


def _sender(merchant: Merchant) -> tuple[str, list[str]]:
    if merchant.company_email:
        return formataddr((merchant.company_name or merchant.name, merchant.company_email)), [merchant.company_email]
    return settings.DEFAULT_FROM_EMAIL, []


def _audit(invoice: Invoice, note: str) -> None:
    InvoiceEvent.objects.create(merchant_id=invoice.merchant_id, invoice=invoice, from_state=invoice.status,
                                to_state=invoice.status, actor=ACTOR, at=timezone.now(), note=note[:300])  # fmt: skip


def _pdf(invoice: Invoice) -> bytes:
    path = invoice_pdf_store(invoice=invoice)
    return path.read_bytes() if path is not None else invoice_pdf_bytes(invoice)


def dunning_send(*, reminder_id: int, result: DunningResult) -> None:
    """Claim one pending reminder, e-mail it and mark it sent; on failure release it for the next run."""
    now = timezone.now()
    claimed = DunningReminder.objects.filter(
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - STALE_CLAIM), pk=reminder_id,
        status=DunningReminder.Status.PENDING,
    ).update(claimed_at=now)  # fmt: skip
    if claimed != 1:
        return  # sent, skipped, or held by another run
    reminder = DunningReminder.objects.select_related("invoice__merchant", "invoice__customer").get(pk=reminder_id)
    mine = DunningReminder.objects.filter(pk=reminder_id, claimed_at=now)
    invoice = reminder.invoice
    label = f"{invoice.number} day {reminder.step}"
    if invoice.status != Invoice.Status.FINALIZED or invoice.amount_due <= 0:
        mine.update(status=DunningReminder.Status.SUPERSEDED, claimed_at=None, last_error="nothing due any more")
        return
    recipient = invoice.customer.email
    if not recipient:
        with transaction.atomic():
            mine.update(status=DunningReminder.Status.SKIPPED, claimed_at=None,
                        last_error="the customer has no e-mail address")  # fmt: skip
            _audit(invoice, f"Reminder ({reminder.step} days past due) not sent: the customer has no e-mail address")
        result.skipped_no_email.append(label)
        return
    subject, body = reminder_message(invoice=invoice, step=reminder.step)
    sender, reply_to = _sender(invoice.merchant)
    message = EmailMessage(subject=subject, body=body, from_email=sender, to=[recipient], reply_to=reply_to)
    message.attach(f"{invoice.number}.pdf", _pdf(invoice), "application/pdf")
    try:
        message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        mine.update(claimed_at=None, attempts=reminder.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:500])
        result.failed.append(label)
        return
    with transaction.atomic():
        mine.update(status=DunningReminder.Status.SENT, sent_at=timezone.now(), claimed_at=None, recipient=recipient,
                    subject=subject[:300], attempts=reminder.attempts + 1, last_error="")  # fmt: skip
        _audit(invoice, f"Reminder ({reminder.step} days past due) sent to {recipient}")
    result.sent.append(label)


def dunning_run(*, as_of: datetime, merchant: Merchant | None = None) -> DunningResult:
    """Plan the steps due at ``as_of`` (committed first), then send every pending reminder, oldest first."""
    result = DunningResult(planned=dunning_plan(as_of=as_of, merchant=merchant))
    pending = DunningReminder.objects.filter(status=DunningReminder.Status.PENDING)
    if merchant is not None:
        pending = pending.filter(merchant=merchant)
    for reminder_id in pending.order_by("pk").values_list("pk", flat=True):
        dunning_send(reminder_id=reminder_id, result=result)
    return result
