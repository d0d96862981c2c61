"""Credit grants and the ledger over the API (SPEC §6, §8)."""

import pytest

from billing.credits.services import credit_grant_create
from billing.models import CreditGrant, CreditLedgerEntry
from billing.runs.engine import billing_run
from tests.billing.test_invoices_helpers import D, at, customer, event, metric, plan, subscribe

pytestmark = pytest.mark.django_db


def test_a_grant_is_created_and_listed_with_its_remaining(tenant):
    customer(tenant.merchant, "acme")
    response = tenant.api.post("/api/v1/customers/acme/credit_grants",
                               {"amount": "25.00", "priority": 1, "reason": "welcome"}, format="json")  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert (body["amount"], body["currency"], body["remaining"], body["status"]) == ("25.00", "USD", "25.00", "active")
    listed = tenant.api.get("/api/v1/customers/acme/credit_grants").json()["results"]
    assert [(g["id"], g["remaining"]) for g in listed] == [(body["id"], "25.00")]


@pytest.mark.parametrize(
    "payload, field",
    [({"amount": 5}, None), ({"amount": "-1"}, "amount"), ({"amount": "1.001"}, "amount"), ({}, "amount"),
     ({"amount": "1", "currency": "XXQ"}, "currency"), ({"amount": "1", "expires_at": "nope"}, "expires_at"),
     ({"amount": "abc"}, "amount")],  # fmt: skip
)
def test_bad_grants_are_refused_naming_the_field_and_write_nothing(tenant, payload, field):
    customer(tenant.merchant, "acme")
    response = tenant.api.post("/api/v1/customers/acme/credit_grants", payload, format="json")
    if field is None:  # an integer amount is exact, so it is accepted
        assert response.status_code == 201
        return
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert not CreditGrant.objects.exists() and not CreditLedgerEntry.objects.exists()


def test_another_merchants_customer_is_404(tenant, other_tenant):
    customer(tenant.merchant, "acme")
    assert other_tenant.api.get("/api/v1/customers/acme/credits").status_code == 404
    response = other_tenant.api.post("/api/v1/customers/acme/credit_grants", {"amount": "1"}, format="json")
    assert response.status_code == 404 and not CreditGrant.objects.exists()


def test_the_ledger_sums_to_the_balance_after_consumption_and_expiry(tenant):
    m = tenant.merchant
    calls = metric(m, "calls")
    version = plan(m, "metered", charges=[{"metric": calls, "model": "per_unit", "params": {"unit_amount": "1"}}])
    cust = customer(m, "acme")
    subscribe(m, cust, version, at(2026, 1, 1))
    lasting = credit_grant_create(merchant=m, customer=cust, amount=D("30.00"), currency="USD", priority=2,
                                  granted_at=at(2026, 1, 1))  # fmt: skip
    expiring = credit_grant_create(merchant=m, customer=cust, amount=D("10.00"), currency="USD", priority=2,
                        granted_at=at(2026, 1, 1), expires_at=at(2026, 3, 1))  # fmt: skip
    for _ in range(12):
        event(cust, "calls", at(2026, 1, 10))
    billing_run(as_of=at(2026, 3, 2))

    body = tenant.api.get("/api/v1/customers/acme/credits").json()
    # Same priority: the grant expiring first is drawn first (10), then 2 from the other; nothing left to expire.
    assert sorted((e["grant"], e["kind"], e["amount"]) for e in body["ledger"]) == [
        (lasting.pk, "consumption", "-2.00"), (lasting.pk, "grant", "30.00"),
        (expiring.pk, "consumption", "-10.00"), (expiring.pk, "grant", "10.00"),
    ]  # fmt: skip
    assert body["balance"] == "28.00"
    assert sum(D(e["amount"]) for e in body["ledger"]) == D(body["balance"])
    assert body["balances"]["USD"]["granted"] == "40.00" and body["balances"]["USD"]["expired"] == "0.00"
