"""/api/v1/metrics: create, list, retrieve, PATCH, and what a published plan freezes."""

import pytest

from catalog.models import Metric
from catalog.services import metric_create
from tests.catalog.builders import spec_catalog, spec_plan

pytestmark = pytest.mark.django_db

API_CALLS = {
    "code": "api.calls:v2",
    "name": "API calls",
    "description": "Requests to the public API",
    "event_codes": ["api_call", "graphql_call"],
    "aggregation": "count",
    "filters": {"status": ["2xx", "3xx"]},
    "group_by": ["region"],
}


def test_creating_a_metric_returns_it_with_defaults(api):
    response = api.post("/api/v1/metrics", API_CALLS, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body.pop("created_at").endswith("Z")
    assert body.pop("updated_at").endswith("Z")
    assert body == {**API_CALLS, "field": "", "period": "billing_period", "window_seconds": None}
    metric = Metric.objects.get()
    assert (metric.code, metric.event_codes, metric.filters) == (
        "api.calls:v2",
        ["api_call", "graphql_call"],
        API_CALLS["filters"],
    )


def test_a_metric_is_found_by_a_code_with_dots_and_colons(api):
    api.post("/api/v1/metrics", API_CALLS, format="json")
    response = api.get("/api/v1/metrics/api.calls:v2")
    assert response.status_code == 200
    assert response.json()["name"] == "API calls"


def test_the_list_is_paginated_and_holds_only_the_merchants_metrics(api, tenant, other_tenant):
    metric_create(merchant=tenant.merchant, code="seats", name="Seats", event_codes=["seat"])
    metric_create(
        merchant=tenant.merchant, code="storage", name="Storage", event_codes=["gb"], aggregation="max", field="gb"
    )
    metric_create(merchant=other_tenant.merchant, code="theirs", name="Theirs", event_codes=["x"])
    body = api.get("/api/v1/metrics?limit=1").json()
    assert [metric["code"] for metric in body["results"]] == ["storage"]
    assert body["next"] is not None
    second = api.get(body["next"]).json()
    assert [metric["code"] for metric in second["results"]] == ["seats"]
    assert other_tenant.api.get("/api/v1/metrics/seats").status_code == 404


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"aggregation": "sum"}, {"field": "is required for sum (the event property to aggregate)"}),
        (
            {"aggregation": "unique_count", "field": ""},
            {"field": "is required for unique_count (the event property to aggregate)"},
        ),
        ({"field": "amount"}, {"field": "count does not aggregate a property: leave field empty"}),
        ({"aggregation": "median", "field": "x"}, {"aggregation": '"median" is not a valid choice.'}),
        ({"period": "rolling"}, {"window_seconds": "is required for a rolling period"}),
        ({"window_seconds": 3600}, {"window_seconds": "applies only to a rolling period"}),
        (
            {"period": "rolling", "window_seconds": 0},
            {"window_seconds": "Ensure this value is greater than or equal to 1."},
        ),
        ({"event_codes": []}, {"event_codes": "must list at least one value"}),
        ({"event_codes": "api_call"}, {"event_codes": "must be a list of strings"}),
        ({"event_codes": ["api_call", 7]}, {"event_codes": "item 1 must be a non-empty string"}),
        ({"event_codes": ["a", "a"]}, {"event_codes": "repeats 'a'"}),
        ({"filters": ["status"]}, {"filters": 'must be an object such as {"region": ["eu", "us"]}'}),
        ({"filters": {"status": "2xx"}}, {"filters": "'status' must map to a non-empty list of allowed values"}),
        ({"filters": {"status": [200]}}, {"filters": "the allowed values of 'status' must be strings"}),
        ({"group_by": "region"}, {"group_by": "must be a list of strings"}),
        (
            {"code": "api calls"},
            {"code": "Use letters, digits, '_', '-', '.' and ':', starting with a letter or digit."},
        ),
        ({"name": ""}, {"name": "This field may not be blank."}),
    ],
)
def test_an_invalid_metric_is_a_400_naming_the_field_and_writes_nothing(api, changes, fields):
    response = api.post("/api/v1/metrics", {**API_CALLS, **changes}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == fields
    assert Metric.objects.count() == 0


def test_valid_aggregations_and_periods_are_accepted(api):
    weighted = {
        "code": "seats",
        "name": "Seats",
        "event_codes": ["seat"],
        "aggregation": "weighted_sum",
        "field": "delta",
    }
    rolling = {"code": "hourly", "name": "Hourly", "event_codes": ["call"], "period": "rolling", "window_seconds": 3600}
    assert api.post("/api/v1/metrics", weighted, format="json").status_code == 201
    response = api.post("/api/v1/metrics", rolling, format="json")
    assert (response.json()["period"], response.json()["window_seconds"]) == ("rolling", 3600)


def test_a_duplicate_code_is_a_400_on_code(api):
    api.post("/api/v1/metrics", API_CALLS, format="json")
    response = api.post("/api/v1/metrics", {**API_CALLS, "name": "Again"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"code": "a metric with code 'api.calls:v2' already exists"}
    assert Metric.objects.get().name == "API calls"


class TestEditingAMetric:
    def test_patch_changes_only_what_is_sent(self, api):
        api.post("/api/v1/metrics", API_CALLS, format="json")
        response = api.patch("/api/v1/metrics/api.calls:v2", {"aggregation": "sum", "field": "bytes"}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["aggregation"], body["field"], body["name"], body["group_by"]) == (
            "sum",
            "bytes",
            "API calls",
            ["region"],
        )

    def test_patch_checks_the_metric_as_it_will_be(self, api):
        api.post("/api/v1/metrics", API_CALLS, format="json")
        response = api.patch("/api/v1/metrics/api.calls:v2", {"aggregation": "max"}, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"field": "is required for max (the event property to aggregate)"}
        assert Metric.objects.get().aggregation == "count"

    def test_the_code_cannot_change(self, api):
        api.post("/api/v1/metrics", API_CALLS, format="json")
        response = api.patch("/api/v1/metrics/api.calls:v2", {"code": "calls"}, format="json")
        assert response.json()["error"]["fields"] == {"code": "cannot be changed"}

    def test_a_metric_in_a_published_plan_keeps_its_definition(self, api, tenant):
        spec_catalog(tenant.merchant)
        api.post("/api/v1/plans", spec_plan(), format="json")
        api.post("/api/v1/plans/pro/publish")
        response = api.patch(
            "/api/v1/metrics/storage_gb", {"aggregation": "latest", "filters": {"tier": ["ssd"]}}, format="json"
        )
        assert response.status_code == 409
        assert response.json()["error"] == {
            "type": "conflict",
            "message": "Metric 'storage_gb' is used by a published plan version, so its aggregation, filters cannot "
            "change (only name and description can). Create a new metric and a new plan version instead.",
            "fields": {},
        }
        metric = Metric.objects.get(code="storage_gb")
        assert (metric.aggregation, metric.filters) == ("max", {})

    def test_a_metric_in_a_published_plan_may_be_renamed(self, api, tenant):
        spec_catalog(tenant.merchant)
        api.post("/api/v1/plans", spec_plan(), format="json")
        api.post("/api/v1/plans/pro/publish")
        response = api.patch(
            "/api/v1/metrics/storage_gb",
            {"name": "Disk", "description": "GB stored", "aggregation": "max"},
            format="json",
        )
        assert response.status_code == 200, response.content
        assert (response.json()["name"], response.json()["description"]) == ("Disk", "GB stored")

    def test_a_metric_behind_a_published_limit_keeps_its_definition(self, api, tenant):
        spec_catalog(tenant.merchant)
        api.post("/api/v1/plans", spec_plan(charges=[]), format="json")
        api.post("/api/v1/plans/pro/publish")
        response = api.patch("/api/v1/metrics/api_calls", {"event_codes": ["other"]}, format="json")
        assert response.status_code == 409

    def test_a_metric_used_only_by_drafts_may_change(self, api, tenant):
        spec_catalog(tenant.merchant)
        api.post("/api/v1/plans", spec_plan(), format="json")
        response = api.patch("/api/v1/metrics/storage_gb", {"aggregation": "latest"}, format="json")
        assert response.status_code == 200
        assert response.json()["aggregation"] == "latest"

    def test_another_merchant_cannot_edit_it(self, api, other_tenant):
        api.post("/api/v1/metrics", API_CALLS, format="json")
        response = other_tenant.api.patch("/api/v1/metrics/api.calls:v2", {"name": "Mine"}, format="json")
        assert response.status_code == 404
        assert Metric.objects.get().name == "API calls"
