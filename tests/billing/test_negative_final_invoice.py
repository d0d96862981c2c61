"""A final invoice whose total is negative leaves nothing due: its amount becomes customer credit (SPEC §11.1)."""

import pytest

from billing.credits.selectors import credit_summary
from billing.invoices.issuing import invoice_issue
from billing.invoices.selectors import invoice_settlement
from billing.invoices.services import invoice_finalize
from billing.models import CreditGrant, CreditLedgerEntry, Invoice
from billing.runs.engine import billing_run
from billing.subscriptions.services import subscription_cancel
from tests.billing.test_invoices_helpers import D, at, customer, event, metric, plan, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def canceled(tenant):
    """31.00/month in advance + 1.00 a call; two calls, then an immediate cancel on Jan 11 at 15:00."""
    m = tenant.merchant
    calls = metric(m, "calls")
    version = plan(m, "monthly", base_fee="31.00",
                   charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "1"}}])  # fmt: skip
    cust = customer(m)
    sub = subscribe(m, cust, version, at(2026, 1, 1))
    billing_run(as_of=at(2026, 1, 1))
    event(cust, "calls", at(2026, 1, 3))
    event(cust, "calls", at(2026, 1, 4))
    subscription_cancel(subscription=sub, effective="immediately", at=at(2026, 1, 11, 15))
    return cust, sub


def test_the_refund_of_unused_fees_becomes_customer_credit(tenant, canceled):
    cust, sub = canceled
    billing_run(as_of=at(2026, 2, 1))

    final = Invoice.objects.get(subscription=sub, is_final=True)
    assert (final.status, final.total, final.amount_due) == (Invoice.Status.PAID, D("-19.00"), D("0.00"))
    grant = final.credit_grant
    assert (grant.amount, grant.currency, grant.granted_at, grant.expires_at) == (
        D("19.00"), "USD", at(2026, 1, 11, 15), None)  # fmt: skip
    assert grant.reason == f"Credit from invoice {final.number}"
    assert list(CreditLedgerEntry.objects.filter(customer=cust).values_list("kind", "amount")) == [
        ("grant", D("19.00"))]  # fmt: skip
    assert credit_summary(customer=cust, at=at(2026, 2, 2))["currencies"]["USD"]["balance"] == D("19.00")


def test_the_credit_shows_in_the_credits_api(tenant, canceled):
    billing_run(as_of=at(2026, 2, 1))
    body = tenant.api.get("/api/v1/customers/acme/credits").json()
    assert (body["currency"], body["balance"]) == ("USD", "19.00")
    assert [(entry["kind"], entry["amount"]) for entry in body["ledger"]] == [("grant", "19.00")]


def test_a_rerun_grants_the_credit_only_once(tenant, canceled):
    billing_run(as_of=at(2026, 2, 1))
    billing_run(as_of=at(2026, 2, 1))
    assert CreditGrant.objects.count() == 1


def test_a_final_invoice_finalized_on_its_own_becomes_credit_too(tenant, canceled):
    cust, sub = canceled
    sub.refresh_from_db()  # ended by the cancel
    tenant.merchant.invoice_grace_hours = 48
    tenant.merchant.save()
    invoice_issue(subscription=sub, instant=at(2026, 1, 11, 15))
    draft = Invoice.objects.get(subscription=sub, is_final=True)
    assert draft.status == Invoice.Status.DRAFT
    final = invoice_finalize(invoice=draft, at=at(2026, 1, 12))
    assert (final.status, final.amount_due, final.credit_grant.amount) == (Invoice.Status.PAID, D("0.00"), D("19.00"))


def test_the_invoice_reads_from_its_negative_total_to_nothing_due(tenant, canceled):
    cust, sub = canceled
    billing_run(as_of=at(2026, 2, 1))
    final = Invoice.objects.get(subscription=sub, is_final=True)
    rows = [(row.label, row.amount) for row in invoice_settlement(final)]
    assert rows == [("Added to your credit balance", D("19.00"))]
    assert final.total + sum(amount for _, amount in rows) == final.amount_due == D("0.00")
