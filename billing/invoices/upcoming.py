"""What a customer will be billed next: the invoices the next billing run would issue, computed without writing.

For each open subscription of the customer the upcoming invoice is the first one the billing run has not issued
yet: an issue instant already past that the run has not reached (a subscription that started today with a fee in
advance), else the next billing date. Its lines come from the same ``InvoiceBuilder.build`` as a real invoice (base
fee, usage received so far, one-time fees, plan-change credits, late-usage adjustments); its totals from the same
``invoice_amounts_set`` (tax on what credits leave). Credits are drawn as ``credits_reserve`` would draw them at
that instant, in the order the run would issue the invoices, but nothing is reserved: no row is written, no invoice
number taken (docs/billing.md, "Upcoming invoice").
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q

from billing.credits.models import CreditGrant
from billing.credits.services import draw_order, grant_balances, grant_reservations
from billing.invoices.builder import ZERO, InvoiceBuilder, billable_from, issue_instants
from billing.invoices.issuing import service_period
from billing.invoices.models import Invoice, InvoiceLine
from billing.invoices.services import due_date, invoice_amounts_set, invoice_snapshot
from billing.subscriptions.models import Subscription
from billing.subscriptions.selectors import calendar_for
from customers.models import Customer

# Billing dates tried before concluding a subscription bills nothing (ten years of monthly periods before go-live);
# it bounds the work of a forecast asked for an instant far ahead (``?at=2999-01-01``).
MAX_EMPTY_INSTANTS = 120


@dataclass
class UpcomingInvoice:
    """An unsaved ``Invoice`` with its unsaved lines (never to be saved: it is a forecast)."""

    invoice: Invoice
    lines: list[InvoiceLine] = field(default_factory=list)

    @property
    def subscription(self) -> Subscription:
        return self.invoice.subscription

    @property
    def discount_total(self) -> Decimal:
        return ZERO  # no coupons yet (SPEC §11.5); the field is kept so clients can rely on it


def _next_instants(subscription: Subscription, at: datetime) -> list[datetime]:
    """The subscription's issue instants up to and including its first one after ``at``."""
    if subscription.ends_at is not None and subscription.ends_at <= subscription.started_at:
        return []  # canceled before it started: never billed
    calendar = calendar_for(subscription)
    start = max(at, billable_from(subscription))
    period = calendar.period_at(start)
    horizon = period.end if period is not None else at
    return issue_instants(subscription, until=max(horizon, at))


def _open_subscriptions(customer: Customer, at: datetime) -> list[Subscription]:
    """Those not ended at ``at``, and ended ones whose final invoice the run has not issued yet."""
    final_issued = Exists(Invoice.objects.filter(subscription=OuterRef("pk"), issued_at=OuterRef("ends_at")))
    return list(
        Subscription.objects.filter(customer=customer)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at) | ~final_issued)
        .select_related("customer__merchant", "merchant", "plan_version__plan")
        .prefetch_related("plan_version__charges__metric", "plan_version__one_time_fees")
        .order_by("pk")
    )


def _forecast(subscription: Subscription, at: datetime, builder: InvoiceBuilder) -> UpcomingInvoice | None:
    """The first invoice of ``subscription`` the run has not issued, or None when there is nothing to bill."""
    instants = _next_instants(subscription, at)
    if not instants:
        return None
    issued = set(
        Invoice.objects.filter(subscription=subscription, issued_at__gte=instants[0], issued_at__lte=instants[-1])
        .values_list("issued_at", flat=True)
    )  # fmt: skip
    pending = [instant for instant in instants if instant not in issued]
    for instant in pending[:MAX_EMPTY_INSTANTS]:
        draft = builder.build(subscription, instant, cutoff=at)
        if not draft.lines:
            continue  # the run issues nothing at this instant (in trial, test customer, before go-live)
        merchant = subscription.merchant
        calendar = calendar_for(subscription)
        period_start, period_end = service_period(calendar, instant, draft.lines)
        invoice = Invoice(
            merchant=merchant, customer=subscription.customer, subscription=subscription,
            currency=subscription.plan_version.currency, period_start=period_start, period_end=period_end,
            is_final=calendar.period_at(instant) is None, issued_at=instant,
            due_at=due_date(issued_at=instant, merchant=merchant), refreshed_at=at,
        )  # fmt: skip
        invoice_snapshot(invoice)
        for line in draft.lines:
            line.invoice = invoice
        return UpcomingInvoice(invoice=invoice, lines=draft.lines)
    return None


def _apply_credits(upcoming: list[UpcomingInvoice]) -> None:
    """Totals, with credits drawn as ``credits_reserve`` would at each issue instant, one invoice after the other
    (what an earlier upcoming invoice takes is not there for a later one), without reserving anything."""
    customer_ids = {item.invoice.customer_id for item in upcoming}
    grants = list(CreditGrant.objects.filter(customer_id__in=customer_ids).order_by("pk"))
    ids = [grant.pk for grant in grants]
    free = grant_balances(ids)
    for grant_id, held in grant_reservations(ids).items():
        free[grant_id] -= held
    for item in upcoming:
        invoice = item.invoice
        subtotal = sum((line.amount for line in item.lines), ZERO)
        creditable = sum((line.amount for line in item.lines if line.type in InvoiceLine.CREDITABLE), ZERO)
        left = max(ZERO, min(creditable, subtotal))
        at = invoice.issued_at
        usable = [
            grant for grant in grants
            if grant.currency == invoice.currency and grant.granted_at <= at
            and (grant.expires_at is None or grant.expires_at > at)
        ]  # fmt: skip
        applied = ZERO
        for grant in draw_order(usable):
            if left <= 0:
                break
            take = min(max(ZERO, free[grant.pk]), left)
            free[grant.pk] -= take
            left -= take
            applied += take
        invoice_amounts_set(invoice, subtotal=subtotal, credits_applied=applied)


def upcoming_invoices(*, customer: Customer, at: datetime) -> list[UpcomingInvoice]:
    """Every open subscription's next invoice, in the order the billing run would issue them."""
    builder = InvoiceBuilder()
    found = []
    for subscription in _open_subscriptions(customer, at):
        forecast = _forecast(subscription, at, builder)
        if forecast is not None:
            found.append(forecast)
    found.sort(key=lambda item: (item.invoice.issued_at, item.subscription.pk))
    _apply_credits(found)
    return found
