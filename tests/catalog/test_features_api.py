"""/api/v1/features: boolean, limit (with a metric) and value features."""

import pytest

from catalog.models import Feature
from catalog.services import metric_create
from tests.catalog.builders import spec_catalog, spec_plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(tenant):
    return metric_create(merchant=tenant.merchant, code="api_calls", name="API calls", event_codes=["api_call"])


def create(api, **payload):
    return api.post("/api/v1/features", payload, format="json")


def shown(response) -> dict:
    body = response.json()
    assert body.pop("created_at").endswith("Z")
    return body


def test_a_limit_feature_names_its_metric_and_defaults_to_no_access(api, calls):
    response = create(api, key="api_calls_limit", name="API calls", kind="limit", metric="api_calls")
    assert response.status_code == 201, response.content
    assert shown(response) == {
        "key": "api_calls_limit",
        "name": "API calls",
        "description": "",
        "kind": "limit",
        "metric": "api_calls",
        "default_limit": 0,
        "default_enabled": False,
        "default_value": "",
        "scope": "customer",
        "counts": "metric",
    }


def test_an_unlimited_default_is_minus_one(api, calls):
    response = create(api, key="calls", name="Calls", kind="limit", metric="api_calls", default_limit=-1)
    assert response.json()["default_limit"] == -1


def test_boolean_and_value_features_have_no_metric(api):
    sso = create(api, key="sso", name="SSO", kind="boolean", default_enabled=True)
    hours = create(api, key="support_hours", name="Support hours", kind="value", default_value="4")
    assert (sso.status_code, hours.status_code) == (201, 201)
    assert (sso.json()["metric"], sso.json()["default_enabled"]) == (None, True)
    assert (hours.json()["default_value"], hours.json()["default_limit"]) == ("4", None)


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"kind": "limit"}, {"metric": "is required for a limit feature (the metric whose usage is limited)"}),
        ({"kind": "limit", "metric": "nope"}, {"metric": "no metric with code 'nope'"}),
        (
            {"kind": "limit", "metric": "api_calls", "default_limit": -2},
            {"default_limit": "Ensure this value is greater than or equal to -1."},
        ),
        ({"kind": "limit", "metric": "api_calls", "default_limit": "10"}, {"default_limit": "must be an integer"}),
        ({"kind": "boolean", "metric": "api_calls"}, {"metric": "only limit features have a metric"}),
        ({"kind": "boolean", "default_limit": 5}, {"default_limit": "only limit features have a limit"}),
        ({"kind": "value", "default_enabled": True}, {"default_enabled": "only boolean features are enabled or not"}),
        ({"kind": "boolean", "default_value": "4"}, {"default_value": "only value features have a value"}),
        ({"kind": "quota"}, {"kind": '"quota" is not a valid choice.'}),
        (
            {"kind": "boolean", "key": "s s o"},
            {"key": "Use letters, digits, '_', '-', '.' and ':', starting with a letter or digit."},
        ),
    ],
)
def test_an_invalid_feature_is_a_400_naming_the_field_and_writes_nothing(api, calls, payload, fields):
    response = create(api, **{"key": "f", "name": "F", **payload})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == fields
    assert Feature.objects.count() == 0


def test_a_duplicate_key_is_a_400_on_key(api):
    create(api, key="sso", name="SSO", kind="boolean")
    response = create(api, key="sso", name="SSO again", kind="boolean")
    assert response.json()["error"]["fields"] == {"key": "a feature with key 'sso' already exists"}
    assert Feature.objects.get().name == "SSO"


def test_features_are_listed_and_found_by_key_for_their_merchant_only(api, other_tenant):
    create(api, key="sso", name="SSO", kind="boolean")
    assert [feature["key"] for feature in api.get("/api/v1/features").json()["results"]] == ["sso"]
    assert api.get("/api/v1/features/sso").json()["name"] == "SSO"
    assert other_tenant.api.get("/api/v1/features").json() == {"results": [], "next": None}
    assert other_tenant.api.get("/api/v1/features/sso").status_code == 404


class TestEditingAFeature:
    def test_name_and_defaults_change(self, api, calls):
        create(api, key="calls", name="Calls", kind="limit", metric="api_calls")
        response = api.patch("/api/v1/features/calls", {"name": "API calls", "default_limit": 500}, format="json")
        assert response.status_code == 200, response.content
        assert (response.json()["name"], response.json()["default_limit"]) == ("API calls", 500)

    def test_the_kind_cannot_change(self, api):
        create(api, key="sso", name="SSO", kind="boolean")
        response = api.patch("/api/v1/features/sso", {"kind": "value"}, format="json")
        assert response.json()["error"]["fields"] == {"kind": "cannot be changed: create a new feature"}
        assert Feature.objects.get().kind == "boolean"

    def test_a_limit_in_a_published_plan_keeps_its_metric(self, api, tenant):
        spec_catalog(tenant.merchant)
        api.post("/api/v1/plans", spec_plan(), format="json")
        api.post("/api/v1/plans/pro/publish")
        response = api.patch("/api/v1/features/api_calls_limit", {"metric": "storage_gb"}, format="json")
        assert response.status_code == 409
        assert Feature.objects.get(key="api_calls_limit").metric.code == "api_calls"

    def test_a_limit_used_only_by_drafts_may_change_metric(self, api, tenant):
        spec_catalog(tenant.merchant)
        api.post("/api/v1/plans", spec_plan(), format="json")
        response = api.patch("/api/v1/features/api_calls_limit", {"metric": "storage_gb"}, format="json")
        assert response.status_code == 200
        assert response.json()["metric"] == "storage_gb"
