"""Issuing and finalizing invoices in bulk: the writes of the billing run.

Each invoice has a deterministic key (subscription, issue instant) with a unique constraint, so a re-run
finds the invoice it made and moves on; drafts are refreshed until they finalize after the grace period."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from billing.credits.models import CreditGrant
from billing.credits.services import credits_consume
from billing.invoices.builder import ZERO, Draft, InvoiceBuilder, lines_signature
from billing.invoices.models import Invoice, InvoiceCounter, InvoiceEvent, InvoiceLine
from billing.invoices.services import (
    due_date,
    invoice_amounts_set,
    invoice_audit,
    invoice_settle_negative,
    invoice_snapshot,
    invoice_totals,
)
from billing.invoices.tasks import queue_invoice_pdf
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import Calendar
from billing.subscriptions.selectors import calendar_for


def _save_lines(invoice: Invoice, draft: Draft) -> None:
    invoice.lines.all().delete()
    for line in draft.lines:
        line.invoice = invoice
        line.merchant_id = invoice.merchant_id
    InvoiceLine.objects.bulk_create(draft.lines)


def service_period(calendar: Calendar, instant: datetime, lines: list[InvoiceLine]) -> tuple[datetime, ...]:
    """The service period an invoice issued at ``instant`` bills (SPEC §11.1): the period that ended at ``instant``
    when any line bills time before it (usage and fees in arrears, late-event adjustments), else the period that
    starts there (fees in advance). A final invoice's period ends at the termination."""
    if any(line.service_start < instant and line.service_end <= instant for line in lines):
        closing = calendar.period_at(instant - timedelta(microseconds=1))
        start = closing.start if closing is not None else min(line.service_start for line in lines)
        return start, instant
    opening = calendar.period_at(instant)
    return instant, opening.end if opening is not None else instant


def _new_invoice(subscription: Subscription, instant: datetime, lines: list[InvoiceLine], *,
                 cutoff: datetime) -> Invoice:  # fmt: skip
    """The unsaved draft of ``subscription`` at ``instant``, with the customer and merchant snapshot."""
    merchant = subscription.merchant
    calendar = calendar_for(subscription)
    period_start, period_end = service_period(calendar, instant, lines)
    invoice = Invoice(
        merchant=merchant,
        customer=subscription.customer,
        subscription=subscription,
        currency=subscription.plan_version.currency,
        period_start=period_start,
        period_end=period_end,
        is_final=calendar.period_at(instant) is None,
        issued_at=instant,
        due_at=due_date(issued_at=instant, merchant=merchant, customer=subscription.customer),
        grace_until=instant + timedelta(hours=merchant.invoice_grace_hours),
        refreshed_at=cutoff,
    )
    invoice_snapshot(invoice)
    return invoice


def invoice_issue(
    *, subscription: Subscription, instant: datetime, builder: InvoiceBuilder | None = None,
    cutoff: datetime | None = None, actor: str = "billing run",
) -> Invoice | None:  # fmt: skip
    """Issue the draft invoice of ``subscription`` at ``instant``, exactly once.

    The (subscription, instant) key is unique: a second call, or a run racing this one, finds the invoice and
    returns it unchanged. Returns None when nothing is billable at that instant (no lines).
    """
    existing = Invoice.objects.filter(subscription=subscription, issued_at=instant).first()
    if existing is not None:
        return existing
    builder = builder or InvoiceBuilder()
    cutoff = cutoff or timezone.now()
    draft = builder.build(subscription, instant, cutoff=cutoff)
    if not draft.lines:
        return None
    invoice = _new_invoice(subscription, instant, draft.lines, cutoff=cutoff)
    try:
        with transaction.atomic():
            invoice.save()
            _save_lines(invoice, draft)
            invoice_totals(invoice)
            invoice_audit(invoice, from_state="", to_state=Invoice.Status.DRAFT, actor=actor, at=instant)
    except IntegrityError:
        # Another run issued it between our look-up and our insert: theirs stands.
        existing = Invoice.objects.filter(subscription=subscription, issued_at=instant).first()
        if existing is None:
            raise
        return existing
    return invoice


@dataclass
class Issued:
    """What ``invoices_issue`` did: the drafts it created, and how many subscriptions had nothing to bill or were
    already invoiced at the instant (by an earlier or a concurrent run)."""

    invoices: list[Invoice] = field(default_factory=list)
    nothing_to_bill: int = 0
    already_issued: int = 0


def invoices_issue(
    *, subscriptions: list[Subscription], instant: datetime, builder: InvoiceBuilder | None = None,
    cutoff: datetime | None = None, actor: str = "billing run",
) -> Issued:  # fmt: skip
    """Issue the drafts of many subscriptions (one merchant) at one ``instant``: the invoices ``invoice_issue``
    would issue one by one, with the usage read in bulk and the rows written in one short transaction.

    Exactly once, like ``invoice_issue``: the invoices are inserted with ON CONFLICT DO NOTHING on the unique
    (subscription, issued_at) key, stamped with this call's ``created_at``, and only the rows carrying the
    stamp get lines, totals and an audit row. Credits are reserved (in subscription order) only for customers
    that have grants; the others' totals are set before the insert (``services.invoice_amounts_set`` with no credits).
    """
    builder = builder or InvoiceBuilder()
    cutoff = cutoff or timezone.now()
    result = Issued()
    done = set(
        Invoice.objects.filter(subscription__in=subscriptions, issued_at=instant).values_list(
            "subscription_id", flat=True
        )
    )
    pending = [subscription for subscription in subscriptions if subscription.pk not in done]
    result.already_issued = len(subscriptions) - len(pending)
    builder.prefetch(pending, instant, cutoff=cutoff)
    drafts: dict[int, Draft] = {}
    for subscription in pending:
        draft = builder.build(subscription, instant, cutoff=cutoff)
        if draft.lines:
            drafts[subscription.pk] = draft
        else:
            result.nothing_to_bill += 1
    if not drafts:
        return result
    stamp = timezone.now()
    invoices = {}
    for subscription in pending:
        if subscription.pk in drafts:
            invoice = _new_invoice(subscription, instant, drafts[subscription.pk].lines, cutoff=cutoff)
            invoice.created_at = stamp
            invoices[subscription.pk] = invoice
    with_grants = _customers_with_grants({invoice.customer_id for invoice in invoices.values()})
    for subscription_id, invoice in invoices.items():
        if invoice.customer_id not in with_grants:
            subtotal = sum((line.amount for line in drafts[subscription_id].lines), ZERO)
            invoice_amounts_set(invoice, subtotal=subtotal, credits_applied=ZERO)
    with transaction.atomic():
        Invoice.objects.bulk_create(invoices.values(), ignore_conflicts=True)
        ours = Invoice.objects.filter(subscription_id__in=list(invoices), issued_at=instant, created_at=stamp)
        created = []
        for subscription_id, pk in ours.values_list("subscription_id", "pk"):
            invoice = invoices[subscription_id]
            invoice.pk, invoice._state.adding = pk, False
            created.append(invoice)
        created.sort(key=lambda invoice: invoice.subscription_id)
        lines = []
        for invoice in created:
            for line in drafts[invoice.subscription_id].lines:
                line.invoice, line.merchant_id = invoice, invoice.merchant_id
                lines.append(line)
        InvoiceLine.objects.bulk_create(lines)
        for invoice in created:
            if invoice.customer_id in with_grants:
                invoice_totals(invoice)  # reserves credits, in subscription order
        InvoiceEvent.objects.bulk_create(
            InvoiceEvent(merchant_id=invoice.merchant_id, invoice=invoice, from_state="",
                         to_state=Invoice.Status.DRAFT, actor=actor[:255], at=instant)  # fmt: skip
            for invoice in created
        )
    result.invoices = created
    result.already_issued += len(drafts) - len(created)
    return result


def invoices_finalize(*, invoices: list[Invoice], actor: str = "billing run") -> list[Invoice]:
    """``services.invoice_finalize`` for many drafts at once, each at its ``grace_until``, in one transaction.

    The same steps in the same order: lock the rows (pk order) and keep those still drafts, snapshot, totals
    (credits reserved again and consumed only for customers that have grants), numbers, status (paid when nothing
    is due), audit rows, and the PDFs claimed after commit. Numbers follow the order of ``invoices`` and come from
    one locked counter update per merchant and year, so the sequence stays gap-free. Returns the finalized ones.
    """
    order = {invoice.pk: n for n, invoice in enumerate(invoices)}
    with transaction.atomic():
        locked = list(
            Invoice.objects.select_for_update(of=("self",))
            .select_related("customer__merchant", "merchant")
            .filter(pk__in=list(order), status=Invoice.Status.DRAFT)
            .order_by("pk")
        )
        locked.sort(key=lambda invoice: order[invoice.pk])
        with_grants = _customers_with_grants({invoice.customer_id for invoice in locked})
        for invoice in locked:
            issued = _values(invoice, _SNAPSHOT_AND_TOTALS)
            invoice_snapshot(invoice)
            if invoice.customer_id in with_grants:
                invoice_totals(invoice)
                credits_consume(invoice=invoice, at=invoice.grace_until)
            else:
                # A draft's subtotal is always the sum of its lines (every write of lines recomputes it).
                invoice_amounts_set(invoice, subtotal=invoice.subtotal, credits_applied=ZERO)
                if _values(invoice, _SNAPSHOT_AND_TOTALS) != issued:  # the customer changed since the issue
                    invoice.save(update_fields=_SNAPSHOT_AND_TOTALS)
        _number(locked)
        for invoice in locked:
            at = invoice.grace_until
            invoice.status, invoice.finalized_at = Invoice.Status.FINALIZED, at
            if invoice.total < 0:  # rare: a final invoice refunding unused fees becomes customer credit
                invoice_settle_negative(invoice, at=at)
                invoice.save(update_fields=["amount_due", "credit_grant"])
            if invoice.amount_due <= 0:
                # Nothing to collect (credits covered it, or a refund): settled on issue.
                invoice.status, invoice.paid_at = Invoice.Status.PAID, at
        _save_finalization(locked)
        events = []
        for invoice in locked:
            events.append(_event(invoice, Invoice.Status.DRAFT, Invoice.Status.FINALIZED, actor))
            if invoice.status == Invoice.Status.PAID:
                events.append(_event(invoice, Invoice.Status.FINALIZED, Invoice.Status.PAID, actor, "nothing due"))
        InvoiceEvent.objects.bulk_create(events)
        ids = [invoice.pk for invoice in locked]
        transaction.on_commit(lambda: invoices_queue_pdfs(ids), robust=True)  # unqueued ones: the retry pass
    return locked


_SNAPSHOT_AND_TOTALS = [
    "customer_name", "customer_email", "customer_address", "customer_external_id", "tax_rate", "merchant_details",
    "subtotal", "credits_applied", "tax", "total", "amount_due",
]  # fmt: skip


def _values(invoice: Invoice, fields: list[str]) -> tuple:
    return tuple(getattr(invoice, name) for name in fields)


def _save_finalization(invoices: list[Invoice]) -> None:
    """Write number, status and dates of a batch in one statement: on PostgreSQL an UPDATE joined to the arrays
    of values (Django's ``bulk_update`` builds a CASE per row and field, slow at hundreds of rows); elsewhere
    ``bulk_update``."""
    fields = ["number", "status", "finalized_at", "paid_at"]
    if connection.vendor != "postgresql":
        Invoice.objects.bulk_update(invoices, fields)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Invoice._meta.db_table} AS i "
            "SET number = v.number, status = v.status, finalized_at = v.finalized_at, paid_at = v.paid_at "
            "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::timestamptz[], %s::timestamptz[]) "
            "AS v(id, number, status, finalized_at, paid_at) WHERE i.id = v.id",
            [[invoice.pk for invoice in invoices]] + [[getattr(i, name) for i in invoices] for name in fields],
        )


def _customers_with_grants(customer_ids: set[int]) -> set[int]:
    return set(CreditGrant.objects.filter(customer_id__in=customer_ids).values_list("customer_id", flat=True))


def _event(invoice: Invoice, from_state: str, to_state: str, actor: str, note: str = "") -> InvoiceEvent:
    return InvoiceEvent(
        merchant_id=invoice.merchant_id, invoice=invoice, from_state=from_state, to_state=to_state,
        actor=actor[:255], at=invoice.finalized_at or invoice.issued_at, note=note,
    )  # fmt: skip


def _number(invoices: list[Invoice]) -> None:
    """Give each invoice the next numbers of its merchant's sequence for its issue year (merchant time zone):
    one counter row per merchant and year, locked in (merchant, year) order, advanced once for all of them."""
    by_counter: dict[tuple[int, int], list[Invoice]] = defaultdict(list)
    for invoice in invoices:
        year = invoice.issued_at.astimezone(ZoneInfo(invoice.merchant.timezone)).year
        by_counter[(invoice.merchant_id, year)].append(invoice)
    for (merchant_id, year), group in sorted(by_counter.items(), key=lambda item: item[0]):
        first = InvoiceCounter.take(merchant_id=merchant_id, year=year, count=len(group))
        prefix = group[0].merchant.invoice_prefix
        for n, invoice in enumerate(group, start=first):
            invoice.number = f"{prefix}-{year}-{n:06d}"


def invoices_queue_pdfs(pending) -> int:
    """Claim the PDFs of the ``pending`` invoices (a queryset, or ids of just-finalized ones) and queue them.

    The claim is a compare-and-set in bulk: rows another claimer holds are skipped (SKIP LOCKED), the rest are
    stamped ``pdf_queued_at`` and queued (the invoices are finalized and committed already, so a worker finds
    them). Returns how many were queued.
    """
    if not isinstance(pending, QuerySet):
        pending = Invoice.objects.filter(pk__in=list(pending), pdf="", pdf_queued_at__isnull=True)
    with transaction.atomic():  # one commit for the claim and, with the ORM broker, every task
        claimed = list(pending.select_for_update(skip_locked=True).order_by("pk").values_list("pk", flat=True))
        Invoice.objects.filter(pk__in=claimed).update(pdf_queued_at=timezone.now())
        for pk in claimed:
            queue_invoice_pdf(pk)
    return len(claimed)


def invoice_refresh(*, invoice: Invoice, builder: InvoiceBuilder | None = None, cutoff: datetime | None = None) -> bool:
    """Rebuild a draft's lines with the events received so far (grace period). False if it is no longer a draft."""
    builder = builder or InvoiceBuilder()
    cutoff = cutoff or timezone.now()
    subscription = (
        Subscription.objects.select_related("customer__merchant", "plan_version__plan", "merchant")
        .get(pk=invoice.subscription_id)
    )
    draft = builder.build(subscription, invoice.issued_at, cutoff=cutoff)
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().select_related("customer__merchant", "merchant").get(pk=invoice.pk)
        if locked.status != Invoice.Status.DRAFT:
            return False
        if lines_signature(draft.lines) == lines_signature(locked.lines.all()):
            return False  # nothing new: leave the draft exactly as it is
        _save_lines(locked, draft)
        invoice_snapshot(locked)
        period = service_period(calendar_for(subscription), locked.issued_at, draft.lines)
        locked.period_start, locked.period_end = period
        locked.refreshed_at = cutoff
        invoice_totals(locked)
    return True
