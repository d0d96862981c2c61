"""One merchant with a record behind every API route, for the hostile-input tests.

The records come from the tenant-isolation walk's builders (``tests/tenancy_data``: a metric,
a feature, a published plan, a customer with a provisioned user, a billing rule, a subscription,
events, a finalized invoice with a usage line and a credit note, a credit grant), plus a draft
invoice so the invoice actions meet an invoice they can act on.
"""

from datetime import timedelta
from decimal import Decimal

from django.apps import apps
from django.utils import timezone

from tests.conftest import Tenant
from tests.tenancy_data import populate


def seeded_tenant() -> tuple[Tenant, dict]:
    tenant = Tenant("Hostile Co", "owner@hostile.test")
    ctx = populate(tenant.merchant)
    ctx["draft_invoice"] = _draft_invoice(ctx["invoice"])
    return tenant, ctx


def _draft_invoice(finalized):
    """A draft copy of ``finalized`` one period earlier, with its usage line (billing models by label: the
    billing app's modules move, its models stay)."""
    Invoice = apps.get_model("billing", "Invoice")
    start = finalized.period_start - timedelta(days=31)
    draft = Invoice.objects.create(
        merchant=finalized.merchant, customer=finalized.customer, subscription=finalized.subscription,
        currency=finalized.currency, period_start=start, period_end=finalized.period_start, issued_at=start,
        due_at=start + timedelta(days=30), grace_until=timezone.now() + timedelta(days=1),
        subtotal=Decimal("3.00"), total=Decimal("3.00"), amount_due=Decimal("3.00"),
    )  # fmt: skip
    line = finalized.lines.get()
    line.pk, line.invoice = None, draft
    line.save()
    return draft


def path_values(ctx: dict) -> dict[str, dict[str, str]]:
    """The value of every path parameter, by the schema's path template: records that exist, so that the
    generated requests reach the views instead of stopping at a 404."""
    customer, invoice, draft = ctx["customer"], ctx["invoice"], ctx["draft_invoice"]
    usage_line = invoice.lines.get()
    return {
        "/api/v1/billing_rules/{id}/": {"id": str(ctx["billing_rule"].pk)},
        "/api/v1/credit_notes/{id}/": {"id": str(ctx["credit_note"].pk)},
        "/api/v1/credit_notes/{id}/pdf/": {"id": str(ctx["credit_note"].pk)},
        "/api/v1/customers/{customer_external_id}/users": {"customer_external_id": customer.external_id},
        "/api/v1/customers/{customer_external_id}/users/{user_external_id}": {
            "customer_external_id": customer.external_id, "user_external_id": ctx["customer_user"].external_id,
        },  # fmt: skip
        "/api/v1/customers/{external_id}/": {"external_id": customer.external_id},
        "/api/v1/customers/{external_id}/credit_grants": {"external_id": customer.external_id},
        "/api/v1/customers/{external_id}/credits": {"external_id": customer.external_id},
        "/api/v1/customers/{external_id}/entitlements/": {"external_id": customer.external_id},
        "/api/v1/customers/{external_id}/entitlements/{key}/": {
            "external_id": customer.external_id, "key": ctx["feature"].key,
        },  # fmt: skip
        "/api/v1/customers/{external_id}/usage/": {"external_id": customer.external_id},
        "/api/v1/features/{key}/": {"key": ctx["feature"].key},
        "/api/v1/invoices/{id}/": {"id": str(invoice.pk)},
        "/api/v1/invoices/{id}/credit_notes/": {"id": str(invoice.pk)},
        # A draft can be finalized or voided; the finalized invoice is the one to mark paid, credit or print.
        "/api/v1/invoices/{id}/finalize/": {"id": str(draft.pk)},
        "/api/v1/invoices/{id}/void/": {"id": str(draft.pk)},
        "/api/v1/invoices/{id}/mark_paid/": {"id": str(invoice.pk)},
        "/api/v1/invoices/{id}/payments/": {"id": str(invoice.pk)},
        "/api/v1/payments/{id}/": {"id": str(ctx["payment"].pk)},
        "/api/v1/payments/{id}/refunds/": {"id": str(ctx["payment"].pk)},
        "/api/v1/invoices/{id}/pdf/": {"id": str(invoice.pk)},
        "/api/v1/invoices/{id}/lines/{line_id}/events/": {"id": str(invoice.pk), "line_id": str(usage_line.pk)},
        "/api/v1/metrics/{code}/": {"code": ctx["metric"].code},
        "/api/v1/plans/{code}/": {"code": ctx["plan"].code},
        "/api/v1/plans/{code}/archive/": {"code": ctx["plan"].code},
        "/api/v1/plans/{code}/publish/": {"code": ctx["plan"].code},
        "/api/v1/plans/{code}/unarchive/": {"code": ctx["plan"].code},
        "/api/v1/plans/{code}/versions/": {"code": ctx["plan"].code},
        "/api/v1/subscriptions/{external_id}/": {"external_id": ctx["subscription"].external_id},
        "/api/v1/subscriptions/{external_id}/cancel/": {"external_id": ctx["subscription"].external_id},
        "/api/v1/subscriptions/{external_id}/change_plan/": {"external_id": ctx["subscription"].external_id},
    }


def snapshot(merchant) -> dict[str, list[dict] | int]:
    """Every row the merchant owns, model by model, and how many rows every other table holds
    (``last_used_at`` aside: authenticating a key stamps it)."""
    state: dict[str, list[dict] | int] = {}
    for model in apps.get_models():
        label = model._meta.label
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "last_used_at"]
        if "merchant_id" in fields:
            state[label] = list(model._default_manager.filter(merchant=merchant).order_by("pk").values(*fields))
        elif label == "atlas.Merchant":
            state[label] = list(model._default_manager.filter(pk=merchant.pk).values(*fields))
        else:
            state[label] = model._default_manager.count()
    return state


def diff(before: dict, after: dict) -> list[str]:
    """The tables that changed, with their rows (or row counts) before and after."""
    changed = []
    for label, rows in before.items():
        if rows != after[label]:
            changed.append(f"{label}: {_size(rows)} → {_size(after[label])} rows")
    return changed


def _size(rows: list | int) -> int:
    return rows if isinstance(rows, int) else len(rows)
