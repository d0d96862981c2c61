"""Authentication, the error shape, the merchant settings endpoint and the schema."""

from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from atlas.models import ApiKey, Merchant
from atlas.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db


def assert_error(response, status, type_, fields=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] == type_
    assert body["error"]["message"]
    assert body["error"]["fields"] == (fields if fields is not None else body["error"]["fields"])
    return body["error"]


class TestApiKeyAuthentication:
    def test_it_rejects_a_missing_key_with_401(self, tenant):
        response = APIClient().get("/api/v1/merchant")
        assert_error(response, 401, "authentication_error", {})
        assert response["WWW-Authenticate"] == 'Bearer realm="atlas"'

    @pytest.mark.parametrize("header", ["Token abc", "Bearer", "Bearer a b", "Basic dXNlcjpwYXNz"])
    def test_it_rejects_a_malformed_header_with_401(self, tenant, header):
        response = APIClient().get("/api/v1/merchant", HTTP_AUTHORIZATION=header)
        assert_error(response, 401, "authentication_error")

    def test_it_rejects_an_unknown_key_with_401(self, tenant):
        response = APIClient().get("/api/v1/merchant", HTTP_AUTHORIZATION="Bearer atlas_not-a-real-key")
        assert assert_error(response, 401, "authentication_error")["message"] == "Unknown API key."

    def test_it_rejects_a_revoked_key_with_401(self, tenant):
        key = ApiKey.objects.get(merchant=tenant.merchant)
        api_key_revoke(key=key)
        response = tenant.api.get("/api/v1/merchant")
        assert assert_error(response, 401, "authentication_error")["message"] == "This API key has been revoked."

    def test_a_valid_key_authenticates_and_records_last_use(self, tenant):
        key = ApiKey.objects.get(merchant=tenant.merchant)
        assert key.last_used_at is None
        response = tenant.api.get("/api/v1/merchant")
        assert response.status_code == 200
        key.refresh_from_db()
        assert key.last_used_at is not None
        assert timezone.now() - key.last_used_at < timezone.timedelta(seconds=5)

    def test_keys_are_stored_only_as_a_hash(self, tenant):
        key = ApiKey.objects.get(merchant=tenant.merchant)
        assert tenant.key.startswith("atlas_")
        assert key.hashed_key == ApiKey.hash(tenant.key)
        assert tenant.key not in {key.hashed_key, key.prefix, key.name}
        assert tenant.key.startswith(key.prefix)
        assert len(key.prefix) == 12

    def test_a_merchant_may_hold_many_keys_and_revoking_one_keeps_the_others(self, tenant):
        second, secret = api_key_create(merchant=tenant.merchant, name="ingest")
        api_key_revoke(key=ApiKey.objects.get(merchant=tenant.merchant, name="Default key"))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert client.get("/api/v1/merchant").status_code == 200
        assert tenant.api.get("/api/v1/merchant").status_code == 401


class TestMerchantSettings:
    def test_get_returns_the_key_owners_settings(self, tenant, other_tenant):
        body = tenant.api.get("/api/v1/merchant").json()
        assert body["name"] == "Acme Cloud"
        assert body["slug"] == "acme-cloud"
        assert body["billing_day"] == 1
        assert body["invoice_grace_hours"] == 0
        assert body["invoice_prefix"] == "INV"
        assert body["default_tax_rate"] == "0.000000"
        assert body["timezone"] == "UTC"
        assert body["company_email"] == "owner@acme.test"
        assert other_tenant.api.get("/api/v1/merchant").json()["name"] == "Globex"

    def test_patch_changes_settings(self, tenant):
        response = tenant.api.patch(
            "/api/v1/merchant",
            {"billing_day": 26, "default_tax_rate": "0.2", "invoice_prefix": "ACME", "company_address": "1 Main St"},
            format="json",
        )
        assert response.status_code == 200, response.content
        merchant = Merchant.objects.get(pk=tenant.merchant.pk)
        assert merchant.billing_day == 26
        assert merchant.default_tax_rate == Decimal("0.200000")
        assert merchant.invoice_prefix == "ACME"
        assert merchant.company_address == "1 Main St"
        assert response.json()["default_tax_rate"] == "0.200000"

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"billing_day": 31}, "billing_day"),
            ({"billing_day": 0}, "billing_day"),
            ({"billing_day": "soon"}, "billing_day"),
            ({"default_tax_rate": "abc"}, "default_tax_rate"),
            ({"default_tax_rate": "1.5"}, "default_tax_rate"),
            ({"default_tax_rate": "-0.1"}, "default_tax_rate"),
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"invoice_prefix": "bad prefix!"}, "invoice_prefix"),
            ({"invoice_grace_hours": -1}, "invoice_grace_hours"),
            ({"company_email": "not-an-email"}, "company_email"),
        ],
    )
    def test_patch_rejects_bad_values_naming_the_field_and_changes_nothing(self, tenant, payload, field):
        before = Merchant.objects.filter(pk=tenant.merchant.pk).values().get()
        response = tenant.api.patch("/api/v1/merchant", {**payload, "name": "Renamed"}, format="json")
        error = assert_error(response, 400, "validation_error")
        assert list(error["fields"]) == [field]
        assert field in error["message"]
        assert Merchant.objects.filter(pk=tenant.merchant.pk).values().get() == before

    def test_a_non_json_body_is_a_400_not_a_500(self, tenant):
        response = tenant.api.generic("PATCH", "/api/v1/merchant", "{not json", content_type="application/json")
        assert_error(response, 400, "validation_error")

    def test_the_slug_is_read_only(self, tenant):
        tenant.api.patch("/api/v1/merchant", {"slug": "hijack"}, format="json")
        assert Merchant.objects.get(pk=tenant.merchant.pk).slug == "acme-cloud"


def test_unknown_api_paths_answer_404_in_the_error_shape(tenant):
    assert_error(tenant.api.get("/api/v1/no-such-thing"), 404, "not_found")


def test_the_openapi_schema_is_served(client, db):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    text = response.content.decode()
    assert "openapi: 3" in text or '"openapi": "3' in text
    assert "/api/v1/merchant" in text


def test_nested_list_errors_are_keyed_by_index():
    from atlas.api.exceptions import flatten_errors

    detail = {"charges": {0: {"tiers": {1: {"up_to": ["must ascend"]}}}}, "code": ["taken"]}
    assert flatten_errors(detail) == {"charges[0].tiers[1].up_to": "must ascend", "code": "taken"}
    assert flatten_errors({"events": [{}, {"timestamp": ["bad"]}]}) == {"events[1].timestamp": "bad"}


def test_routes_answer_with_and_without_a_trailing_slash(tenant):
    assert tenant.api.get("/api/v1/merchant").status_code == 200
    from atlas.api.routers import Router

    assert Router().trailing_slash == "/?"


def test_the_schema_documents_bearer_authentication(client, db):
    text = client.get("/api/v1/schema/").content.decode()
    assert "bearer" in text
