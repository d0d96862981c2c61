"""Records for the tenant-isolation walk: a finalized invoice with a usage line, a credit note and a partial payment
with a refund, and a credit grant."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from billing.credit_notes.services import credit_note_issue
from billing.credits.services import credit_grant_create
from billing.invoices.services import invoice_finalize
from billing.models import Invoice, InvoiceEvent, InvoiceLine, Subscription
from billing.payments.services import payment_record, payment_refund
from catalog.models import Metric, Plan, PlanVersion
from customers.models import Customer


def populate(merchant, ctx: dict) -> None:
    customer = ctx.get("customer") or Customer.objects.create(
        merchant=merchant, external_id="tenancy-billing", name="Tenancy Billing"
    )
    subscription = ctx.get("subscription")
    if subscription is None:
        plan = Plan.objects.create(merchant=merchant, code="tenancy-billing", name="Tenancy")
        version = PlanVersion.objects.create(merchant=merchant, plan=plan, version=1, status="published",
                                             currency=customer.currency)  # fmt: skip
        subscription = Subscription.objects.create(
            merchant=merchant, customer=customer, external_id="tenancy-billing", plan_version=version,
            started_at=timezone.now() - timedelta(days=40),
        )  # fmt: skip
    metric = Metric.objects.filter(merchant=merchant).first() or Metric.objects.create(
        merchant=merchant, code="tenancy-calls", name="Calls", event_codes=["tenancy-calls"]
    )
    now = timezone.now()
    start, end = now - timedelta(days=30), now - timedelta(days=1)
    invoice = Invoice.objects.create(
        merchant=merchant, customer=customer, subscription=subscription, currency=customer.currency,
        period_start=end, period_end=end, issued_at=end, due_at=end + timedelta(days=30), grace_until=end,
    )  # fmt: skip
    InvoiceEvent.objects.create(merchant=merchant, invoice=invoice, to_state="draft", actor="tenancy", at=end)
    InvoiceLine.objects.create(
        merchant=merchant, invoice=invoice, type="usage", description="Calls", metric=metric, metric_code=metric.code,
        quantity=Decimal(3), amount=Decimal("3.00"), service_start=start, service_end=end, window_start=start,
        window_end=end, received_before=now,
    )  # fmt: skip
    invoice.subtotal = invoice.total = invoice.amount_due = Decimal("3.00")
    invoice.save()
    ctx["invoice"] = invoice_finalize(invoice=invoice, at=now)
    ctx["credit_note"] = credit_note_issue(
        invoice=ctx["invoice"], lines=[(invoice.lines.get().pk, Decimal("1.00"))], reason="billing_error", at=now,
        actor="tenancy",
    )  # fmt: skip
    ctx["credit_grant"] = credit_grant_create(
        merchant=merchant, customer=customer, amount=Decimal("10.00"), currency=customer.currency, reason="tenancy"
    )
    ctx["payment"] = payment_record(
        invoice=ctx["invoice"], amount=Decimal("1.00"), method="bank_transfer", reference="tenancy", actor="tenancy"
    )
    ctx["refund"] = payment_refund(payment=ctx["payment"], amount=Decimal("0.50"), actor="tenancy")
