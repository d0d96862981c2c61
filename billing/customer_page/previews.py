"""What a subscription action will bill, shown before it is confirmed, and the upcoming invoice, for people.

A plan change or a cancellation is previewed by doing it for real inside a transaction that is rolled back: the
subscription services apply their rules (the same errors as the API), the billing run's own ``invoice_issue`` bills
the old subscription up to its end and the new one's first invoice (prorated fees, the credit for unused days,
usage so far, credits and tax), the invoices are read, and everything is undone. Nothing is committed, no invoice
number is taken (numbers come at finalization), and no PDF or task is queued (``on_commit`` never fires).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from billing.display import date_text, money_with_currency, quantity_text
from billing.invoices.builder import InvoiceBuilder, billable_from, issue_instants
from billing.invoices.issuing import invoice_issue
from billing.invoices.models import Invoice, InvoiceLine
from billing.invoices.upcoming import UpcomingInvoice
from billing.subscriptions.models import Subscription
from billing.subscriptions.selectors import calendar_for

PREVIEW_ACTOR = "preview"


@dataclass
class PreviewInvoice:
    title: str
    invoice: Invoice  # never saved: its rows were rolled back
    lines: list[InvoiceLine]


@dataclass
class ActionPreview:
    subscription: Subscription  # as the action leaves it (ends_at set)
    new: Subscription | None
    invoices: list[PreviewInvoice]


def _load(pk: int) -> Subscription:
    return Subscription.objects.select_related("customer__merchant", "merchant", "plan_version__plan").get(pk=pk)


def _bill(subscription: Subscription, until: datetime, *, first_only: bool, at: datetime, builder) -> list[Invoice]:
    issued = []
    done = set(Invoice.objects.filter(subscription=subscription).values_list("issued_at", flat=True))
    for instant in issue_instants(subscription, until=until):
        if instant in done:
            continue
        invoice = invoice_issue(subscription=subscription, instant=instant, builder=builder, cutoff=at,
                                actor=PREVIEW_ACTOR)  # fmt: skip
        if invoice is not None:
            issued.append(invoice)
            if first_only:
                break
    return issued


def action_preview(*, subscription: Subscription, action: Callable[[], Subscription], at: datetime) -> ActionPreview:
    """Run ``action`` (a call of ``subscription_change_plan`` or ``subscription_cancel``) and bill its consequences,
    then roll all of it back. The services' ``ValidationError`` and ``Conflict`` pass through unchanged."""
    builder = InvoiceBuilder()
    with transaction.atomic():
        result = action()
        old = _load(subscription.pk)
        new = _load(result.pk) if result.pk != old.pk else None
        invoices = []
        for invoice in _bill(old, old.ends_at, first_only=False, at=at, builder=builder):
            title = f"Final invoice of {old.external_id}" if invoice.is_final else f"Invoice of {old.external_id}"
            invoices.append(PreviewInvoice(title, invoice, list(invoice.lines.all())))
        if new is not None:
            # Its first billing date: when it becomes billable if something is billed in advance, else the end of
            # that period.
            period = calendar_for(new).period_at(billable_from(new))
            horizon = period.end if period is not None else new.started_at
            title = f"First invoice of {new.external_id} ({new.plan_version.plan.name})"
            for invoice in _bill(new, horizon, first_only=True, at=at, builder=builder):
                invoices.append(PreviewInvoice(title, invoice, list(invoice.lines.all())))
        transaction.set_rollback(True)
    return ActionPreview(subscription=old, new=new, invoices=invoices)


def invoice_display(*, title: str, invoice: Invoice, lines: list[InvoiceLine], tz: str) -> dict:
    """An invoice (real, previewed or upcoming) as the customer page shows it: money and dates for people."""
    currency = invoice.currency
    return {
        "title": title,
        "subscription": invoice.subscription.external_id,
        "issued_at": date_text(invoice.issued_at, tz),
        "period": f"{date_text(invoice.period_start, tz)} → {date_text(invoice.period_end, tz)}",
        "lines": [
            {"type": line.type, "description": line.description, "quantity": quantity_text(line.quantity),
             "amount": money_with_currency(line.amount, currency)}
            for line in lines
        ],  # fmt: skip
        "subtotal": money_with_currency(invoice.subtotal, currency),
        "discounts": money_with_currency(0, currency),
        "credits": money_with_currency(-invoice.credits_applied, currency),
        "tax_rate": quantity_text(invoice.tax_rate * 100),
        "tax": money_with_currency(invoice.tax, currency),
        "total": money_with_currency(invoice.total, currency),
        "amount_due": money_with_currency(invoice.amount_due, currency),
    }


def upcoming_display(item: UpcomingInvoice, tz: str) -> dict:
    return invoice_display(title=f"Next invoice of {item.subscription.external_id}", invoice=item.invoice,
                           lines=item.lines, tz=tz)  # fmt: skip
