"""GET /customers/{id}/upcoming_invoice: the next billing date's invoice, to the cent, computed without writing."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.credits.services import credit_grant_create
from billing.invoices.models import InvoiceCounter
from billing.invoices.upcoming import upcoming_invoices
from billing.models import CreditApplication, CreditLedgerEntry, Invoice, InvoiceEvent, InvoiceLine
from billing.runs.engine import billing_run
from billing.subscriptions.services import subscription_cancel
from tests.billing.test_invoices_helpers import at, customer, event, metric, plan, subscribe

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/acme/upcoming_invoice"
WRITES = ("INSERT", "UPDATE", "DELETE")
MODELS = (Invoice, InvoiceLine, InvoiceEvent, InvoiceCounter, CreditApplication, CreditLedgerEntry)


def counts() -> dict:
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.fixture
def acme(tenant):
    """Pro: $49 a month in advance, calls at $0.01, $500 onboarding; Acme taxed at 20 %, on Pro since Jan 1, 2026,
    its opening invoice issued and finalized; 750 calls in January so far (received by Jan 20); $5 of credit."""
    m = tenant.merchant
    calls = metric(m, "calls")
    version = plan(m, "pro", base_fee="49.00", charges=[
        {"metric": calls, "model": "per_unit", "params": {"unit_amount": "0.01"}},
    ], one_time_fees=[("Onboarding", "500.00")])  # fmt: skip
    cust = customer(m, "acme", tax_rate=Decimal("0.2"))
    sub = subscribe(m, cust, version, at(2026, 1, 1), external_id="sub_acme")
    billing_run(as_of=at(2026, 1, 1, 1), merchant=m)
    for n in range(750):
        event(cust, "calls", at(2026, 1, 2 + n % 17, 12), received_at=at(2026, 1, 19))
    event(cust, "calls", at(2026, 1, 19, 13), received_at=at(2026, 1, 21))  # received after the forecast instant
    credit_grant_create(merchant=m, customer=cust, amount=Decimal("5.00"), currency="USD", granted_at=at(2026, 1, 5))
    return sub


def test_it_answers_base_fee_plus_usage_so_far_less_credits_plus_tax(api, acme):
    before = counts()
    with CaptureQueriesContext(connection) as queries:
        response = api.get(URL, {"at": "2026-01-20T00:00:00Z"})
    assert response.status_code == 200, response.json()
    body = response.json()
    lines = [(line["type"], line["description"], line["quantity"], line["amount"]) for line in body["lines"]]
    assert lines == [
        ("base_fee", "Pro base fee", "1", "49.00"),  # February, in advance
        ("usage", "Calls", "750", "7.50"),  # January so far: 750 × 0.01
    ]
    assert {key: body[key] for key in (
        "customer", "subscription", "currency", "period_start", "period_end", "issued_at", "subtotal",
        "discount_total", "credits_applied", "tax_rate", "tax", "total", "amount_due", "is_final",
    )} == {
        "customer": "acme", "subscription": "sub_acme", "currency": "USD",
        "period_start": "2026-01-01T00:00:00Z", "period_end": "2026-02-01T00:00:00Z",
        "issued_at": "2026-02-01T00:00:00Z", "subtotal": "56.50", "discount_total": "0.00",
        "credits_applied": "5.00",  # credits pay usage only: 5.00 of the 7.50
        "tax_rate": "0.2", "tax": "10.30",  # 20 % of 56.50 − 5.00 = 51.50
        "total": "61.80", "amount_due": "61.80", "is_final": False,
    }  # fmt: skip
    assert "id" not in body and "number" not in body
    assert counts() == before
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)]
    assert all("atlas_apikey" in sql for sql in writes)


def test_the_forecast_itself_runs_no_write_statement(acme):
    with CaptureQueriesContext(connection) as queries:
        forecasts = upcoming_invoices(customer=acme.customer, at=at(2026, 1, 20))
    assert [f.invoice.total for f in forecasts] == [Decimal("61.80")]
    assert [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)] == []


def test_it_shows_the_opening_invoice_the_run_has_not_issued_yet(api, tenant):
    m = tenant.merchant
    version = plan(m, "pro", base_fee="49.00", one_time_fees=[("Onboarding", "500.00")])
    cust = customer(m, "acme")
    subscribe(m, cust, version, at(2026, 3, 10), external_id="sub_acme")
    response = api.get(URL, {"at": "2026-03-10T09:00:00Z"})
    body = response.json()
    assert [(line["type"], line["amount"]) for line in body["lines"]] == [
        ("base_fee", "34.77"),  # 49 × 22/31, March 10 to April 1
        ("one_time", "500.00"),
    ]
    assert (body["issued_at"], body["subtotal"], body["tax"], body["total"]) == (
        "2026-03-10T00:00:00Z", "534.77", "0.00", "534.77"
    )
    assert not Invoice.objects.exists()


def test_a_canceled_subscription_shows_its_final_invoice(api, acme):
    subscription_cancel(subscription=acme, effective="immediately", at=at(2026, 1, 16))
    body = api.get(URL, {"at": "2026-01-20T00:00:00Z"}).json()
    assert body["is_final"] is True
    assert body["issued_at"] == "2026-01-16T00:00:00Z"
    assert [(line["type"], line["amount"]) for line in body["lines"]] == [
        ("usage", "6.18"),  # the 618 calls before Jan 16 (days 2 to 15: 2 × 45 + 12 × 44)
        ("base_fee", "-25.29"),  # 16 unused days of January's 49.00: 49 × 16/31
    ]


def test_a_subscription_canceled_before_it_started_bills_nothing(api, tenant):
    m = tenant.merchant
    version = plan(m, "pro", base_fee="49.00")
    sub = subscribe(m, customer(m, "acme"), version, at(2026, 3, 10), external_id="sub_acme")
    subscription_cancel(subscription=sub, effective="immediately", at=at(2026, 3, 1))
    assert api.get(URL, {"at": "2026-03-05T00:00:00Z"}).status_code == 404


def test_credits_drawn_by_an_earlier_upcoming_invoice_are_not_counted_twice(tenant, acme):
    m = tenant.merchant
    version = plan(m, "extra", charges=[{"metric": metric(m, "calls"), "model": "per_unit",
                                         "params": {"unit_amount": "1.00"}}])  # fmt: skip
    subscribe(m, acme.customer, version, at(2026, 1, 1), external_id="sub_extra")
    forecasts = upcoming_invoices(customer=acme.customer, at=at(2026, 1, 20))
    assert [(f.subscription.external_id, f.invoice.credits_applied) for f in forecasts] == [
        ("sub_acme", Decimal("5.00")),
        ("sub_extra", Decimal("0")),  # the $5 grant is spent by the first
    ]


def test_a_customer_without_a_subscription_has_no_upcoming_invoice(api, tenant):
    customer(tenant.merchant, "acme")
    response = api.get(URL)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == (
        "Customer 'acme' has no upcoming invoice: no subscription has anything to bill."
    )


def test_another_merchants_customer_is_not_found(acme, other_tenant):
    response = other_tenant.api.get(URL)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize(("query", "field"), [({"at": "yesterday"}, "at"), ({"at": "1900-01-01T00:00:00Z"}, "at")])
def test_bad_parameters_are_a_400_naming_them(api, acme, query, field):
    response = api.get(URL, query)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


def test_an_unknown_subscription_is_not_found(api, acme):
    assert api.get(URL, {"subscription": "nope", "at": "2026-01-20T00:00:00Z"}).status_code == 404
    assert api.get(URL, {"subscription": "sub_acme", "at": "2026-01-20T00:00:00Z"}).status_code == 200


def test_a_forecast_far_ahead_answers_the_first_invoice_not_issued(api, acme):
    response = api.get(URL, {"at": "2999-01-01T00:00:00Z"})
    assert response.status_code == 200
    assert response.json()["issued_at"] == "2026-02-01T00:00:00Z"  # the run has not issued it yet
