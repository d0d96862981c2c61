"""Customer tax id and net terms, merchant payment instructions (SPEC §11.2): the APIs and due dates."""

import pytest

from customers.models import Customer
from tests.billing.test_invoices_helpers import at
from tests.billing.test_payments import hundred

pytestmark = pytest.mark.django_db


def test_an_eu_vat_number_is_checked_and_stored_compact(tenant):
    created = tenant.api.post("/api/v1/customers", {"external_id": "eu", "name": "EU GmbH",
                                                     "tax_id": "de 136 695 976", "payment_terms_days": 45},
                              format="json")  # fmt: skip
    assert created.status_code == 201, created.json()
    assert (created.json()["tax_id"], created.json()["payment_terms_days"]) == ("DE136695976", 45)
    bad = tenant.api.post("/api/v1/customers", {"external_id": "eu2", "name": "X", "tax_id": "DE136695977"},
                          format="json")  # fmt: skip
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {
        "tax_id": "'DE136695977' is not a valid EU VAT number: The number's checksum or check digit is invalid."}
    assert not Customer.objects.filter(external_id="eu2").exists()


def test_other_tax_ids_are_free_text_and_terms_are_validated(tenant):
    tenant.api.post("/api/v1/customers", {"external_id": "us", "name": "US Inc"}, format="json")
    patched = tenant.api.patch("/api/v1/customers/us", {"tax_id": "EIN 12-3456789", "payment_terms_days": None},
                               format="json")  # fmt: skip
    assert (patched.json()["tax_id"], patched.json()["payment_terms_days"]) == ("EIN 12-3456789", None)
    for value in (366, -1, "abc", True, 1.5):
        response = tenant.api.patch("/api/v1/customers/us", {"payment_terms_days": value}, format="json")
        assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["payment_terms_days"]
    assert tenant.api.patch("/api/v1/customers/us", {"tax_id": "x" * 65}, format="json").status_code == 400


def test_net_terms_come_from_the_customer_else_the_merchant(tenant):
    tenant.merchant.payment_terms_days = 14
    tenant.merchant.save()
    assert hundred(tenant.merchant, name="own", payment_terms_days=0).due_at == at(2026, 1, 1)
    assert hundred(tenant.merchant, name="default").due_at == at(2026, 1, 15)


def test_the_merchant_sets_its_payment_instructions(tenant):
    response = tenant.api.patch("/api/v1/merchant", {"payment_instructions": "IBAN DE89 3704 0044 0532 0130 00"},
                                format="json")  # fmt: skip
    assert response.status_code == 200
    assert tenant.api.get("/api/v1/merchant").json()["payment_instructions"] == "IBAN DE89 3704 0044 0532 0130 00"
    too_long = tenant.api.patch("/api/v1/merchant", {"payment_instructions": "x" * 2001}, format="json")
    assert too_long.status_code == 400 and list(too_long.json()["error"]["fields"]) == ["payment_instructions"]
    tenant.merchant.refresh_from_db()
    invoice = hundred(tenant.merchant)
    assert invoice.merchant_details["payment_instructions"] == "IBAN DE89 3704 0044 0532 0130 00"
