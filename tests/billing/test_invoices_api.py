"""The invoice lifecycle over the API: list, filters, finalize/void/mark_paid with 409s, audit, numbering."""

import pytest

from billing.models import Invoice, InvoiceCounter
from billing.runs.engine import billing_run
from tests.billing.test_invoices_helpers import D, at, customer, event, metric, plan, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def drafts(tenant):
    """Two customers' drafts in a 48-hour grace period (issued Feb 1)."""
    m = tenant.merchant
    m.invoice_grace_hours = 48
    m.save()
    calls = metric(m, "calls")
    version = plan(m, "metered", timing="in_arrears", base_fee="20.00",
                   charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.25"}}])  # fmt: skip
    subs = []
    for name in ("alpha", "beta"):
        cust = customer(m, name)
        subs.append(subscribe(m, cust, version, at(2026, 1, 1), external_id=f"{name}-sub"))
        event(cust, "calls", at(2026, 1, 9))
    billing_run(as_of=at(2026, 2, 1, 12))
    return [Invoice.objects.get(subscription=s) for s in subs]


def test_drafts_stay_unnumbered_during_the_grace_period(drafts):
    assert [(i.status, i.number, i.total) for i in drafts] == [("draft", "", D("20.25"))] * 2


def test_the_list_filters_by_customer_subscription_and_status(tenant, drafts):
    body = tenant.api.get("/api/v1/invoices?customer=alpha").json()
    assert [row["id"] for row in body["results"]] == [drafts[0].pk]
    assert tenant.api.get("/api/v1/invoices?subscription=beta-sub").json()["results"][0]["id"] == drafts[1].pk
    assert tenant.api.get("/api/v1/invoices?status=paid").json()["results"] == []
    bad = tenant.api.get("/api/v1/invoices?status=nope")
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]


def test_an_invoice_reads_as_the_spec_shows_it(tenant, drafts):
    body = tenant.api.get(f"/api/v1/invoices/{drafts[0].pk}").json()
    assert {k: body[k] for k in ("number", "customer", "subscription", "status", "currency", "subtotal",
                                 "credits_applied", "tax_rate", "tax", "total", "amount_due")} == {
        "number": None, "customer": "alpha", "subscription": "alpha-sub", "status": "draft", "currency": "USD",
        "subtotal": "20.25", "credits_applied": "0.00", "tax_rate": "0", "tax": "0.00", "total": "20.25",
        "amount_due": "20.25",
    }  # fmt: skip
    assert [(line["type"], line["metric"], line["quantity"], line["amount"]) for line in body["lines"]] == [
        ("base_fee", None, "1", "20.00"),
        ("usage", "calls", "1", "0.25"),
    ]
    assert body["lines"][1]["events_count"] == 1
    # SPEC §11.1: an in-arrears invoice shows the period it bills, January, issued on Feb 1
    assert (body["period_start"], body["period_end"], body["issued_at"]) == (
        "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-01T00:00:00Z")  # fmt: skip


def test_finalize_numbers_without_gaps_then_mark_paid_and_illegal_moves_are_409(tenant, drafts):
    first, second = drafts
    response = tenant.api.post(f"/api/v1/invoices/{second.pk}/finalize")
    assert response.status_code == 200 and response.json()["number"] == "INV-2026-000001"
    assert tenant.api.post(f"/api/v1/invoices/{first.pk}/finalize").json()["number"] == "INV-2026-000002"
    again = tenant.api.post(f"/api/v1/invoices/{first.pk}/finalize")
    assert again.status_code == 409 and again.json()["error"]["type"] == "conflict"
    assert tenant.api.post(f"/api/v1/invoices/{first.pk}/mark_paid").json()["status"] == "paid"
    assert tenant.api.post(f"/api/v1/invoices/{first.pk}/void").status_code == 409
    assert tenant.api.post(f"/api/v1/invoices/{second.pk}/void").json()["status"] == "void"
    assert tenant.api.post(f"/api/v1/invoices/{second.pk}/mark_paid").status_code == 409
    assert InvoiceCounter.objects.get(merchant=tenant.merchant, year=2026).last_number == 2
    audit = [(e.from_state, e.to_state) for e in first.audit.order_by("at", "pk")]
    assert audit == [("", "draft"), ("draft", "finalized"), ("finalized", "paid")]
    assert first.audit.last().actor.startswith("api key atlas_")


def test_a_finalized_invoice_no_longer_changes_when_the_grace_run_comes(tenant, drafts):
    tenant.api.post(f"/api/v1/invoices/{drafts[0].pk}/finalize")
    before = list(drafts[0].lines.values_list("pk", "amount"))
    event(drafts[0].customer, "calls", at(2026, 1, 20))
    billing_run(as_of=at(2026, 2, 3, 12))
    drafts[0].refresh_from_db()
    drafts[1].refresh_from_db()
    assert list(drafts[0].lines.values_list("pk", "amount")) == before
    # The other one was still a draft: refreshed with the late event, then finalized when its grace ended.
    assert (drafts[1].status, drafts[1].total) == ("finalized", D("20.25"))
    assert drafts[1].number == "INV-2026-000002"


def test_the_grace_run_refreshes_a_draft_with_late_events(tenant, drafts):
    event(drafts[0].customer, "calls", at(2026, 1, 20))
    billing_run(as_of=at(2026, 2, 2))
    drafts[0].refresh_from_db()
    assert (drafts[0].status, drafts[0].total) == ("draft", D("20.50"))
    assert drafts[0].lines.get(type="usage").events_count == 2


def test_unknown_or_malformed_invoice_ids_are_404(tenant, other_tenant, drafts):
    assert tenant.api.get("/api/v1/invoices/999999").status_code == 404
    assert tenant.api.get("/api/v1/invoices/abc").status_code == 404
    assert other_tenant.api.post(f"/api/v1/invoices/{drafts[0].pk}/finalize").status_code == 404
    assert Invoice.objects.get(pk=drafts[0].pk).status == "draft"


def test_billing_runs_endpoint_runs_the_engine_for_the_callers_merchant(tenant, drafts):
    response = tenant.api.post("/api/v1/billing/runs", {"as_of": "2026-02-04T00:00:00Z"}, format="json")
    assert response.status_code == 200
    assert response.json()["stats"]["invoices_finalized"] == 2
    bad = tenant.api.post("/api/v1/billing/runs", {"as_of": "soon"}, format="json")
    assert bad.status_code == 400 and "as_of" in bad.json()["error"]["fields"]


def test_run_billing_command_runs_the_engine(tenant, drafts):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("run_billing", "--as-of", "2026-02-04", stdout=out)
    assert "invoices_finalized 2" in out.getvalue()
    assert set(Invoice.objects.values_list("status", flat=True)) == {"finalized"}
