"""The README's walkthrough, step by step, through the real API: what it shows must work as shown."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import Invoice

pytestmark = pytest.mark.django_db

PLAN = {
    "code": "pro",
    "name": "Pro",
    "currency": "USD",
    "interval": "month",
    "base_fee": "49.00",
    "charges": [
        {
            "metric": "api_calls",
            "model": "tiered",
            "included_units": "1000",
            "tiers": [
                {"up_to": "10000", "unit_amount": "0.01", "flat_amount": "0"},
                {"up_to": None, "unit_amount": "0.005", "flat_amount": "0"},
            ],
        }
    ],
    "features": [{"feature": "api_calls_limit", "limit": 1000000, "enforcement": "hard"}],
}


def test_the_readme_walkthrough(api):
    def ok(response, status=(200, 201, 202)):
        assert response.status_code in (status if isinstance(status, tuple) else (status,)), response.content
        return response.json()

    ok(api.post("/api/v1/metrics", {"code": "api_calls", "name": "API calls", "event_codes": ["api_call"],
                                    "aggregation": "count"}, format="json"))  # fmt: skip
    ok(api.post("/api/v1/features", {"key": "api_calls_limit", "name": "API calls per month", "kind": "limit",
                                     "metric": "api_calls", "default_limit": 0}, format="json"))  # fmt: skip
    assert ok(api.post("/api/v1/plans", PLAN, format="json"))["status"] == "draft"
    assert ok(api.post("/api/v1/plans/pro/publish"))["status"] == "published"
    ok(api.post("/api/v1/customers", {"external_id": "acme", "name": "Acme Inc", "email": "billing@acme.test",
                                      "currency": "USD"}, format="json"))  # fmt: skip
    # The subscription began on the 1st of last month, before the customer came to Atlas (a book taken over).
    this_month = timezone.now().date().replace(day=1)
    last = (this_month - timedelta(days=1)).replace(day=1)
    ok(api.post("/api/v1/subscriptions", {"external_id": "sub_acme", "customer": "acme", "plan": "pro",
                                          "start_date": last.isoformat()}, format="json"))  # fmt: skip

    def call(i):
        return {"transaction_id": f"evt_{i}", "customer": "acme", "code": "api_call", "timestamp": f"{last}T12:00:00Z"}

    assert ok(api.post("/api/v1/events", call(1), format="json"), 202) == {"status": "accepted"}
    assert ok(api.post("/api/v1/events", call(1), format="json"), 200) == {"status": "duplicate"}
    report = ok(api.post("/api/v1/events/batch", {"events": [call(i) for i in range(2, 1001)]}, format="json"))
    assert (report["accepted"], report["duplicates"], report["rejected"]) == (999, 0, 0)
    for first in (1001, 2001):
        batch = {"events": [call(i) for i in range(first, min(first + 1000, 2501))]}
        assert ok(api.post("/api/v1/events/batch", batch, format="json"))["rejected"] == 0

    entitlement = ok(api.get(f"/api/v1/customers/acme/entitlements/api_calls_limit?at={last}T23:00:00Z"))
    assert entitlement == {"key": "api_calls_limit", "kind": "limit", "allowed": True, "limit": 1000000,
                           "usage": "2500", "remaining": "997500", "value": None,
                           "scope": "customer", "bucket": None}  # fmt: skip
    ok(api.get("/api/v1/customers/acme/usage"))
    ok(api.post("/api/v1/customers/acme/credit_grants", {"amount": "20.00", "currency": "USD", "priority": 1,
                                                         "reason": "welcome credit", "granted_at": f"{last}T00:00:00Z"},
                format="json"))  # fmt: skip

    future = (timezone.now() + timedelta(days=40)).isoformat()
    assert api.post("/api/v1/billing/runs", {"as_of": future}, format="json").status_code == 400
    ok(api.post("/api/v1/billing/runs", {"as_of": timezone.now().isoformat()}, format="json"))
    invoices = ok(api.get("/api/v1/invoices?customer=acme"))["results"]
    closing = next(i for i in invoices if i["issued_at"].startswith(this_month.isoformat()))
    usage = [line for line in closing["lines"] if line["type"] == "usage"]
    # 2,500 calls less 1,000 included: 1,500 billable at 0.01
    assert [(line["quantity"], line["amount"]) for line in usage] == [("1500", "15.00")]
    assert closing["credits_applied"] == "15.00"
    base = [line for line in closing["lines"] if line["type"] == "base_fee"]
    assert [line["amount"] for line in base] == ["49.00"]
    assert closing["total"] == "49.00"
    pdf = api.get(f"/api/v1/invoices/{closing['id']}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content if pdf.streaming else [pdf.content]).startswith(b"%PDF")
    assert Invoice.objects.filter(customer__external_id="acme").count() == len(invoices) == 2

    note = ok(api.post(f"/api/v1/invoices/{closing['id']}/credit_notes", {
        "reason": "billing_error", "memo": "Two days of outage", "lines": [{"line": base[0]["id"], "amount": "10.00"}],
    }, format="json"), 201)  # fmt: skip
    assert (note["number"], note["total"], note["amount_applied"]) == (
        f"INV-CN-{timezone.now().year}-000001", "10.00", "10.00")  # fmt: skip
    corrected = ok(api.get(f"/api/v1/invoices/{closing['id']}"))
    assert (corrected["total"], corrected["credited"], corrected["amount_due"]) == ("49.00", "10.00", "39.00")
    note_pdf = api.get(f"/api/v1/credit_notes/{note['id']}/pdf")
    assert note_pdf.status_code == 200 and note_pdf.content.startswith(b"%PDF")
    credits = ok(api.get("/api/v1/customers/acme/credits"))
    assert credits["balance"] == "5.00"
    assert [(entry["kind"], entry["amount"]) for entry in credits["ledger"]] == [
        ("grant", "20.00"),
        ("consumption", "-15.00"),
    ]
