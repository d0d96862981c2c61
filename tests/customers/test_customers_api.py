"""Customers over the API: create, validate, list and filter, update, delete or archive; billing rules."""

from datetime import date
from decimal import Decimal

import pytest

from customers.models import BillingRule, Customer

pytestmark = pytest.mark.django_db


def create(api, **body):
    body = {"external_id": "cus_1", "name": "Initech", **body}
    return api.post("/api/v1/customers", body, format="json")


def fields_of(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


class TestCreate:
    def test_it_creates_a_customer_with_every_field(self, api, tenant):
        response = create(
            api,
            email="ap@initech.test",
            currency="eur",
            address_line1="1 Main St",
            city="Austin",
            country="us",
            tax_rate="0.2",
            billing_starts_on="2025-01-01",
            billing_ends_on="2025-12-31",
            is_test=True,
            metadata={"crm": "42"},
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["external_id"] == "cus_1"
        assert body["currency"] == "EUR"
        assert body["country"] == "US"
        assert body["tax_rate"] == "0.200000"
        assert body["billing_starts_on"] == "2025-01-01"
        assert body["is_test"] is True
        assert body["metadata"] == {"crm": "42"}
        assert body["archived_at"] is None
        customer = Customer.objects.get(merchant=tenant.merchant, external_id="cus_1")
        assert customer.tax_rate == Decimal("0.2")
        assert customer.currency == "EUR"

    @pytest.mark.parametrize(
        "body, field",
        [
            ({"currency": "XYZ"}, "currency"),
            ({"email": "not-an-email"}, "email"),
            ({"country": "USA"}, "country"),
            ({"country": "QQ"}, "country"),
            ({"tax_rate": "1.5"}, "tax_rate"),
            ({"tax_rate": "-0.1"}, "tax_rate"),
            ({"tax_rate": 0.2}, "tax_rate"),
            ({"tax_rate": "abc"}, "tax_rate"),
            ({"billing_starts_on": "2025-02-01", "billing_ends_on": "2025-01-01"}, "billing_ends_on"),
            ({"billing_starts_on": "2025-02-01", "billing_ends_on": "2025-02-01"}, "billing_ends_on"),
            ({"billing_starts_on": "01/02/2025"}, "billing_starts_on"),
            ({"name": ""}, "name"),
            ({"external_id": "a/b"}, "external_id"),
            ({"parent": "nobody"}, "parent"),
            ({"is_test": "maybe"}, "is_test"),
        ],
    )
    def test_it_rejects_bad_input_naming_the_field(self, api, body, field):
        response = create(api, **body)
        assert field in fields_of(response)
        assert not Customer.objects.exists()

    def test_a_duplicate_external_id_is_a_400_on_external_id(self, api):
        assert create(api).status_code == 201
        response = create(api, name="Other")
        assert fields_of(response) == {"external_id": "a customer with external_id 'cus_1' already exists"}
        assert Customer.objects.count() == 1

    def test_the_same_external_id_is_fine_at_another_merchant(self, api, other_tenant):
        assert create(api).status_code == 201
        assert create(other_tenant.api).status_code == 201

    def test_a_parent_must_belong_to_the_same_merchant(self, api, other_tenant):
        assert create(other_tenant.api, external_id="reseller").status_code == 201
        assert fields_of(create(api, parent="reseller")) == {"parent": "no customer with external_id 'reseller'"}

    def test_a_parent_is_set_by_external_id(self, api):
        assert create(api, external_id="reseller", name="Reseller").status_code == 201
        response = create(api, parent="reseller")
        assert response.status_code == 201
        assert response.json()["parent"] == "reseller"


class TestUpdate:
    def test_patch_changes_only_the_given_fields(self, api):
        create(api, email="a@x.test", city="Austin")
        response = api.patch("/api/v1/customers/cus_1", {"city": "Dallas"}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["city"] == "Dallas"
        assert response.json()["email"] == "a@x.test"

    def test_the_billing_window_is_checked_against_the_stored_date(self, api):
        create(api, billing_starts_on="2025-03-01")
        response = api.patch("/api/v1/customers/cus_1", {"billing_ends_on": "2025-02-01"}, format="json")
        assert fields_of(response) == {"billing_ends_on": "must be after billing_starts_on"}
        assert Customer.objects.get().billing_ends_on is None

    def test_a_customer_cannot_be_its_own_parent_nor_its_descendants_child(self, api):
        create(api, external_id="a", name="A")
        create(api, external_id="b", name="B", parent="a")
        create(api, external_id="c", name="C", parent="b")
        assert fields_of(api.patch("/api/v1/customers/a", {"parent": "a"}, format="json")) == {
            "parent": "a customer cannot be its own parent"
        }
        assert fields_of(api.patch("/api/v1/customers/a", {"parent": "c"}, format="json")) == {
            "parent": "'c' is a descendant of this customer"
        }
        assert Customer.objects.get(external_id="a").parent is None

    def test_the_external_id_cannot_change(self, api):
        create(api)
        response = api.patch("/api/v1/customers/cus_1", {"external_id": "cus_2"}, format="json")
        assert "external_id" in fields_of(response)

    def test_a_parent_can_be_cleared(self, api):
        create(api, external_id="r", name="R")
        create(api, parent="r")
        response = api.patch("/api/v1/customers/cus_1", {"parent": None}, format="json")
        assert response.json()["parent"] is None


class TestListAndDelete:
    def test_it_lists_filters_and_searches(self, api):
        create(api, external_id="acme", name="Acme Corp", email="ap@acme.test")
        create(api, external_id="glob", name="Globex", is_test=True)
        create(api, external_id="ini", name="Initech", email="billing@initech.test")

        def ids(query=""):
            return sorted(row["external_id"] for row in api.get("/api/v1/customers" + query).json()["results"])

        assert ids() == ["acme", "glob", "ini"]
        assert ids("?search=ACME") == ["acme"]
        assert ids("?search=initech.test") == ["ini"]
        assert ids("?search=glo") == ["glob"]
        assert ids("?is_test=true") == ["glob"]
        assert ids("?is_test=false") == ["acme", "ini"]
        assert "is_test" in fields_of(api.get("/api/v1/customers?is_test=perhaps"))

    def test_a_customer_without_history_is_deleted(self, api):
        create(api)
        response = api.delete("/api/v1/customers/cus_1")
        assert response.status_code == 204
        assert not Customer.objects.exists()

    def test_a_customer_with_history_is_archived_and_leaves_lists(self, api):
        create(api, external_id="r", name="Reseller")
        create(api, parent="r")
        response = api.delete("/api/v1/customers/r")
        assert response.status_code == 200
        assert response.json()["archived_at"] is not None
        assert Customer.objects.filter(external_id="r", archived_at__isnull=False).exists()
        listed = [row["external_id"] for row in api.get("/api/v1/customers").json()["results"]]
        assert listed == ["cus_1"]
        listed = sorted(
            row["external_id"] for row in api.get("/api/v1/customers?include_archived=true").json()["results"]
        )
        assert listed == ["cus_1", "r"]
        assert api.get("/api/v1/customers/r").json()["archived_at"] is not None
        # Archiving is idempotent and the external id stays taken.
        assert api.delete("/api/v1/customers/r").status_code == 200
        assert "external_id" in fields_of(create(api, external_id="r"))

    def test_another_merchants_customer_is_a_404(self, api, other_tenant):
        create(other_tenant.api)
        assert api.get("/api/v1/customers/cus_1").status_code == 404
        assert api.patch("/api/v1/customers/cus_1", {"name": "x"}, format="json").status_code == 404
        assert api.delete("/api/v1/customers/cus_1").status_code == 404
        assert Customer.objects.count() == 1


class TestBillingRules:
    def test_it_creates_lists_updates_and_deletes_rules(self, api):
        response = api.post(
            "/api/v1/billing_rules",
            {"name": "Test accounts", "target": "customer", "pattern": "*-test", "starts_on": "2025-01-01"},
            format="json",
        )
        assert response.status_code == 201, response.content
        rule_id = response.json()["id"]
        assert api.get("/api/v1/billing_rules").json()["results"][0]["pattern"] == "*-test"
        response = api.patch(f"/api/v1/billing_rules/{rule_id}", {"ends_on": "2025-06-01"}, format="json")
        assert response.json()["ends_on"] == "2025-06-01"
        assert api.delete(f"/api/v1/billing_rules/{rule_id}").status_code == 204
        assert not BillingRule.objects.exists()

    @pytest.mark.parametrize(
        "body, field",
        [
            ({"target": "invoice"}, "target"),
            ({"pattern": ""}, "pattern"),
            ({"starts_on": "2025-02-01", "ends_on": "2025-01-01"}, "ends_on"),
        ],
    )
    def test_it_rejects_bad_rules(self, api, body, field):
        body = {"name": "r", "target": "user", "pattern": "admin@*", **body}
        assert field in fields_of(api.post("/api/v1/billing_rules", body, format="json"))
        assert not BillingRule.objects.exists()

    def test_dates_are_validated_on_patch_too(self, api):
        response = api.post(
            "/api/v1/billing_rules",
            {"name": "r", "target": "user", "pattern": "admin@*", "starts_on": "2025-03-01"},
            format="json",
        )
        rule_id = response.json()["id"]
        response = api.patch(f"/api/v1/billing_rules/{rule_id}", {"ends_on": "2025-01-01"}, format="json")
        assert fields_of(response) == {"ends_on": "must be after starts_on"}
        assert BillingRule.objects.get().ends_on is None


def test_dates_are_dates(api):
    create(api, billing_starts_on="2025-01-01")
    assert Customer.objects.get().billing_starts_on == date(2025, 1, 1)
