"""Hostile text never reaches a query: NUL, lone surrogates and invalid UTF-8 are a 400 naming the field.

Bodies (atlas/api/parsers.py), query strings and paths (atlas/middleware.py), cockpit forms. These
probes answered 500 on PostgreSQL before; run the file with DATABASE_URL set to check both databases.
"""

import json

import pytest

from atlas import text
from catalog.models import Feature, Metric, Plan
from customers.models import Customer
from tests.catalog.builders import spec_catalog, spec_plan

pytestmark = pytest.mark.django_db

NUL = text.NUL_REASON
SURROGATE = text.SURROGATE_REASON
UTF8 = text.UTF8_REASON


def post_raw(api, path: str, raw_json: str):
    """POST a JSON body as written (json.dumps cannot write a lone surrogate the way an attacker does)."""
    return api.post(path, data=raw_json.encode(), content_type="application/json")


def fields(response) -> dict:
    body = response.json()
    assert body["error"]["type"] == "validation_error"
    return body["error"]["fields"]


class TestJsonBodies:
    def test_a_lone_surrogate_in_a_customer_name_is_a_400_on_name(self, api):
        response = post_raw(api, "/api/v1/customers", '{"external_id": "c1", "name": "x\\ud800"}')
        assert response.status_code == 400
        assert fields(response) == {"name": SURROGATE}
        assert response.json()["error"]["message"] == f"Invalid input: name: {SURROGATE}"
        assert not Customer.objects.exists()

    def test_a_nul_in_an_external_id_is_a_400_on_external_id(self, api):
        response = post_raw(api, "/api/v1/customers", '{"external_id": "a\\u0000b", "name": "Acme"}')
        assert response.status_code == 400
        assert fields(response) == {"external_id": NUL}
        assert not Customer.objects.exists()

    def test_a_nul_in_a_metadata_value_names_the_key(self, api):
        body = '{"external_id": "c1", "name": "Acme", "metadata": {"crm": "4\\u00002"}}'
        response = post_raw(api, "/api/v1/customers", body)
        assert response.status_code == 400
        assert fields(response) == {"metadata.crm": NUL}
        assert not Customer.objects.exists()

    def test_a_nul_in_a_metadata_key_names_the_key_escaped(self, api):
        body = '{"external_id": "c1", "name": "Acme", "metadata": {"c\\u0000rm": "42"}}'
        response = post_raw(api, "/api/v1/customers", body)
        assert response.status_code == 400
        assert fields(response) == {"metadata.c\\x00rm": f"the key {NUL}"}
        assert not Customer.objects.exists()

    def test_a_lone_surrogate_in_a_key_is_echoed_as_an_escape_not_a_500(self, api):
        body = '{"external_id": "c1", "name": "Acme", "metadata": {"\\udc80": "42"}}'
        response = post_raw(api, "/api/v1/customers", body)
        assert response.status_code == 400
        assert fields(response) == {"metadata.\\udc80": f"the key {SURROGATE}"}

    def test_a_nul_in_a_patch_changes_nothing(self, api):
        api.post("/api/v1/customers", {"external_id": "c1", "name": "Acme"}, format="json")
        response = api.patch("/api/v1/customers/c1", data=b'{"name": "Ac\\u0000me"}', content_type="application/json")
        assert response.status_code == 400
        assert fields(response) == {"name": NUL}
        assert Customer.objects.get().name == "Acme"

    def test_a_nul_in_a_metric_code_is_a_400_on_code(self, api):
        body = '{"code": "api\\u0000calls", "name": "API calls", "event_codes": ["api_call"]}'
        response = post_raw(api, "/api/v1/metrics", body)
        assert response.status_code == 400
        assert fields(response) == {"code": NUL}
        assert not Metric.objects.exists()

    def test_a_nul_in_an_event_code_of_a_metric_names_the_list_item(self, api):
        body = '{"code": "api_calls", "name": "API calls", "event_codes": ["ok", "api\\u0000call"]}'
        response = post_raw(api, "/api/v1/metrics", body)
        assert response.status_code == 400
        assert fields(response) == {"event_codes[1]": NUL}
        assert not Metric.objects.exists()

    def test_a_nul_in_a_feature_key_is_a_400_on_key(self, api):
        response = post_raw(api, "/api/v1/features", '{"key": "s\\u0000so", "name": "SSO", "kind": "boolean"}')
        assert response.status_code == 400
        assert fields(response) == {"key": NUL}
        assert not Feature.objects.exists()

    def test_a_nul_in_a_charge_metric_names_the_charge(self, api, tenant):
        spec_catalog(tenant.merchant)
        plan = spec_plan()
        plan["charges"][1]["metric"] = "storage\x00gb"
        response = post_raw(api, "/api/v1/plans", json.dumps(plan))
        assert response.status_code == 400
        assert fields(response) == {"charges[1].metric": NUL}
        assert not Plan.objects.exists()

    def test_a_nul_in_a_multipart_field_is_a_400_on_that_field(self, api):
        response = api.post("/api/v1/customers", {"external_id": "c\x001", "name": "Acme"}, format="multipart")
        assert response.status_code == 400
        assert fields(response) == {"external_id": NUL}
        assert not Customer.objects.exists()

    def test_valid_unicode_passes(self, api):
        response = post_raw(api, "/api/v1/customers", '{"external_id": "c1", "name": "Café \\ud83d\\ude00 東京"}')
        assert response.status_code == 201
        assert Customer.objects.get().name == "Café 😀 東京"

    def test_events_still_ingest(self, api, tenant):
        api.post("/api/v1/customers", {"external_id": "c1", "name": "Acme"}, format="json")
        response = api.post(
            "/api/v1/events", {"transaction_id": "t1", "customer": "c1", "code": "api_call"}, format="json"
        )
        assert response.status_code == 202


class TestQueryStrings:
    @pytest.mark.parametrize(
        ("url", "field", "reason"),
        [
            ("/api/v1/customers?search=a%00b", "search", NUL),
            ("/api/v1/customers?search=caf%E9", "search", UTF8),
            ("/api/v1/customers?search=%ED%A0%80", "search", UTF8),  # a surrogate encoded as UTF-8
            ("/api/v1/events?customer=a%00b", "customer", NUL),
            ("/api/v1/events?code=a%00b", "code", NUL),
            ("/api/v1/invoices?customer=a%00b", "customer", NUL),
            ("/api/v1/customers?a%00=1", "a\\x00", f"the parameter name {NUL}"),
            ("/api/v1/customers?search=" + "a" * 2001, "search", "must be at most 2000 characters"),
        ],
    )
    def test_a_hostile_parameter_is_a_400_naming_it(self, api, url, field, reason):
        response = api.get(url)
        assert response.status_code == 400
        assert fields(response) == {field: reason}
        assert response.json()["error"]["message"] == f"Invalid input: {field}: {reason}"

    def test_a_nul_in_a_path_parameter_is_a_400_on_path(self, api):
        response = api.get("/api/v1/customers/a%00b")
        assert response.status_code == 400
        assert fields(response) == {"path": NUL}

    def test_invalid_utf8_in_a_path_names_no_record(self, api):
        # Django re-escapes the stray byte: the path is the ASCII text "caf%E9", which no customer has.
        response = api.get("/api/v1/customers/caf%E9")
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found"

    def test_a_nul_in_a_query_string_changes_nothing_on_a_post(self, api):
        response = api.post("/api/v1/customers?dry_run=a%00", {"external_id": "c1", "name": "Acme"}, format="json")
        assert response.status_code == 400
        assert fields(response) == {"dry_run": NUL}
        assert not Customer.objects.exists()

    def test_ordinary_parameters_pass(self, api):
        api.post("/api/v1/customers", {"external_id": "c1", "name": "Café"}, format="json")
        response = api.get("/api/v1/customers?search=caf%C3%A9&limit=10")
        assert response.status_code == 200
        assert [row["external_id"] for row in response.json()["results"]] == ["c1"]


class TestCockpit:
    def test_a_nul_in_a_cockpit_query_string_is_a_plain_400_page(self, client, tenant):
        client.force_login(tenant.user)
        response = client.get("/customers/?q=a%00b")
        assert response.status_code == 400
        assert response["Content-Type"] == "text/html; charset=utf-8"
        assert f"q: {NUL}." in response.content.decode()

    def test_a_nul_in_a_cockpit_path_is_a_plain_400_page(self, client, tenant):
        client.force_login(tenant.user)
        response = client.get("/customers/a%00b/")
        assert response.status_code == 400
        assert f"path: {NUL}." in response.content.decode()

    def test_a_nul_in_a_posted_form_field_is_a_400_and_writes_nothing(self, client, tenant):
        client.force_login(tenant.user)
        response = client.post("/plans/new/", {"code": "p\x00ro", "name": "Pro", "currency": "USD"})
        assert response.status_code == 400
        assert f"code: {NUL}." in response.content.decode()
        assert not Plan.objects.exists()
