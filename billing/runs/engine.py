"""The jobs engine: ``billing_run(*, as_of)`` closes due periods and issues invoices, exactly once (SPEC §7).

One pass, in time order, so credits are drawn in the order invoices are issued:

1. every issue instant at or before ``as_of`` that has no invoice yet (subscription start with in-advance lines,
   trial end, period ends, termination) is issued as a draft — expiring the credit grants and finalizing the
   drafts whose grace ended before that instant first;
2. grants expired by ``as_of`` are expired, drafts whose grace ended by ``as_of`` are refreshed and finalized,
   the drafts still in grace are refreshed with late events;
3. finalized invoices without a PDF are claimed (compare-and-set on ``pdf_queued_at``) and queued for rendering;
   a claim older than ``PDF_RETRY_AFTER`` is taken again, so failed renders are retried.

Throughput: the subscriptions due at one instant are issued in batches of ``BATCH_SIZE`` per merchant
(``invoices_issue``: usage read in bulk, one query per metric and window, rows bulk-inserted), and drafts are
finalized in batches (``invoices_finalize``: one locked counter update per merchant and year). The lines come from
the same ``InvoiceBuilder.build`` as a single invoice; a batch that fails is retried one invoice at a time, so one
bad invoice still cannot stop the night.

Idempotent and resumable: each batch is a short transaction under the unique (subscription, issued_at) key
(inserted with ON CONFLICT DO NOTHING; only the rows this pass inserted get lines), finalization locks the rows
and checks they are still drafts, and a re-run finds what exists and moves on. Killed midway, the next run
completes the rest without billing anything twice.
"""

import logging
from collections import Counter
from datetime import datetime, timedelta
from itertools import groupby

from auditlog.context import disable_auditlog
from django.db.models import Q
from django.utils import timezone

from atlas.models import Merchant
from billing.credits.services import credits_expire_due
from billing.invoices.builder import InvoiceBuilder, issue_instants
from billing.invoices.issuing import (
    invoice_issue,
    invoice_refresh,
    invoices_finalize,
    invoices_issue,
    invoices_queue_pdfs,
)
from billing.invoices.models import Invoice
from billing.invoices.services import IllegalTransition, invoice_finalize
from billing.runs.models import BillingRun
from billing.subscriptions.models import Subscription
from billing.subscriptions.periods import FIRST_YEAR

logger = logging.getLogger(__name__)


PDF_RETRY_AFTER = timedelta(hours=1)


BATCH_SIZE = 500  # subscriptions issued, or drafts finalized, per transaction


class _Pass:
    def __init__(self, *, as_of: datetime, merchant: Merchant | None):
        self.as_of = as_of
        self.merchant = merchant
        self.builder = InvoiceBuilder()
        self.stats: Counter = Counter()

    def scoped(self, queryset):
        return queryset if self.merchant is None else queryset.filter(merchant=self.merchant)

    def due(self) -> list[tuple[datetime, int, Subscription]]:
        subscriptions = (
            self.scoped(Subscription.objects.filter(started_at__lte=self.as_of))
            .select_related("customer__merchant", "merchant", "plan_version__plan")
            .prefetch_related("plan_version__charges__metric", "plan_version__one_time_fees")
            .order_by("pk")
        )
        issued = set(
            self.scoped(Invoice.objects.filter(issued_at__lte=self.as_of)).values_list("subscription_id", "issued_at")
        )
        due = []
        for subscription in subscriptions:
            for instant in issue_instants(subscription, until=self.as_of):
                if (subscription.pk, instant) not in issued:
                    due.append((instant, subscription.pk, subscription))
        due.sort(key=lambda item: (item[0], item[1]))
        return due

    def expire(self, upto: datetime) -> None:
        self.stats["credits_expired"] += credits_expire_due(as_of=upto, merchant=self.merchant)

    def finalize_due(self, upto: datetime) -> None:
        """Finalize the drafts whose grace ended by ``upto``, in (grace end, issue) order so numbers follow it.

        Drafts issued without grace are finalized in batches; one with a grace period is first refreshed with the
        events received until now, then finalized on its own.
        """
        drafts = (
            self.scoped(Invoice.objects.filter(status=Invoice.Status.DRAFT, grace_until__lte=upto))
            .order_by("grace_until", "pk")
            .only("grace_until", "issued_at", "subscription_id")
        )
        batch: list[Invoice] = []
        for invoice in drafts:
            if invoice.grace_until > invoice.issued_at:
                self._finalize_batch(batch)
                batch = []
                self.refresh(invoice)
                self.stats["invoices_finalized"] += self._finalize(invoice)
                continue
            batch.append(invoice)
            if len(batch) >= BATCH_SIZE:
                self._finalize_batch(batch)
                batch = []
        self._finalize_batch(batch)

    def _finalize_batch(self, invoices: list[Invoice]) -> None:
        if not invoices:
            return
        try:
            self.stats["invoices_finalized"] += len(invoices_finalize(invoices=invoices, actor="billing run"))
        except Exception:
            logger.exception("finalizing a batch of %s invoices failed; finalizing them one by one", len(invoices))
            for invoice in invoices:
                self.stats["invoices_finalized"] += self._finalize(Invoice.objects.get(pk=invoice.pk))

    def _finalize(self, invoice: Invoice) -> bool:
        try:
            invoice_finalize(invoice=invoice, at=invoice.grace_until, actor="billing run")
        except IllegalTransition:
            return False  # finalized by someone else meanwhile
        except Exception:  # one bad invoice must not stop the night; it stays a draft for the next run
            logger.exception("finalizing invoice %s failed", invoice.pk)
            self.stats["errors"] += 1
            return False
        return True

    def refresh(self, invoice: Invoice) -> None:
        if invoice_refresh(invoice=invoice, builder=self.builder):
            self.stats["invoices_refreshed"] += 1

    def issue_all(self, subscriptions: list[Subscription], instant: datetime) -> None:
        """One merchant's subscriptions due at ``instant``: their usage read at once (one pass over the events per
        metric and window), then issued ``BATCH_SIZE`` at a time, each batch its own transaction."""
        cutoff = timezone.now()
        try:
            self.builder.prefetch(subscriptions, instant, cutoff=cutoff)
        except Exception:  # each batch reads what is missing itself
            logger.exception("reading the usage of %s subscriptions at %s failed", len(subscriptions), instant)
        for n in range(0, len(subscriptions), BATCH_SIZE):
            self.issue_batch(subscriptions[n : n + BATCH_SIZE], instant, cutoff=cutoff)

    def issue_batch(self, subscriptions: list[Subscription], instant: datetime, *, cutoff: datetime) -> None:
        try:
            issued = invoices_issue(subscriptions=subscriptions, instant=instant, builder=self.builder, cutoff=cutoff)
        except Exception:
            logger.exception("issuing a batch of %s invoices at %s failed; issuing them one by one",
                             len(subscriptions), instant)  # fmt: skip
            for subscription in subscriptions:
                self.issue(subscription, instant)
            return
        self.stats["invoices_issued"] += len(issued.invoices)
        self.stats["nothing_to_bill"] += issued.nothing_to_bill
        if issued.already_issued:
            self.stats["already_issued"] += issued.already_issued

    def issue(self, subscription: Subscription, instant: datetime) -> None:
        try:
            invoice = invoice_issue(subscription=subscription, instant=instant, builder=self.builder)
        except Exception:
            logger.exception("issuing the invoice of subscription %s at %s failed", subscription.pk, instant)
            self.stats["errors"] += 1
            return
        self.stats["invoices_issued" if invoice is not None else "nothing_to_bill"] += 1

    def queue_pdfs(self) -> None:
        """Finalized invoices without a PDF and unclaimed (or claimed too long ago: the render failed) are claimed
        and queued."""
        stale = timezone.now() - PDF_RETRY_AFTER
        pending = self.scoped(
            Invoice.objects.filter(status__in=[Invoice.Status.FINALIZED, Invoice.Status.PAID], pdf="")
        ).filter(Q(pdf_queued_at__isnull=True) | Q(pdf_queued_at__lt=stale))
        self.stats["pdfs_queued"] += invoices_queue_pdfs(pending)

    def run(self) -> None:
        for instant, due in groupby(self.due(), key=lambda item: item[0]):
            self.expire(instant)
            self.finalize_due(instant)
            by_merchant = sorted((s for _, _, s in due), key=lambda s: (s.merchant_id, s.pk))
            for _, subscriptions in groupby(by_merchant, key=lambda s: s.merchant_id):
                self.issue_all(list(subscriptions), instant)
        self.expire(self.as_of)
        self.finalize_due(self.as_of)
        in_grace = self.scoped(Invoice.objects.filter(status=Invoice.Status.DRAFT, grace_until__gt=self.as_of))
        for invoice in in_grace.filter(issued_at__lte=self.as_of).order_by("pk"):
            self.refresh(invoice)
        self.queue_pdfs()


def as_of_check(as_of: datetime, *, now: datetime) -> None:
    """The instants a merchant may run billing for: from 2000 up to now (``ValueError`` otherwise).

    A run later than now would close periods that have not ended, finalize and number their invoices, and those
    never change again; one before 2000 is outside the period calendar. The API and ``run_billing`` check this;
    ``billing_run`` itself takes any instant, so tests and benchmarks can walk time.
    """
    if as_of > now:
        raise ValueError(f"must not be later than now ({now.isoformat(timespec='seconds')})")
    if as_of.year < FIRST_YEAR:
        raise ValueError(f"must not be before the year {FIRST_YEAR}")


def billing_run(*, as_of: datetime, merchant: Merchant | None = None, trigger: str = "manual") -> BillingRun:
    """Run the jobs engine for the instant ``as_of`` (every merchant, or one). Safe to repeat and to resume."""
    if timezone.is_naive(as_of):
        raise ValueError("as_of: must be timezone-aware")
    run = BillingRun.objects.create(merchant=merchant, as_of=as_of, trigger=trigger[:100])
    work = _Pass(as_of=as_of, merchant=merchant)
    try:
        # Not in the audit log (docs/audit.md): each invoice's state changes are in its own trail (InvoiceEvent,
        # actor "billing run"), and the run itself is this BillingRun row; no audit write per invoice.
        with disable_auditlog():
            work.run()
    except Exception as exc:
        BillingRun.objects.filter(pk=run.pk).update(
            status=BillingRun.Status.FAILED, finished_at=timezone.now(), stats=dict(work.stats), error=repr(exc)
        )
        raise
    run.status = BillingRun.Status.DONE
    run.finished_at = timezone.now()
    run.stats = dict(work.stats)
    run.save(update_fields=["status", "finished_at", "stats"])
    return run
