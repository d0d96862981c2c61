"""The Metrics and Features cockpit pages: list, create, edit within the API's rules (a published plan freezes)."""

import pytest

from catalog import services as catalog
from catalog.models import Feature, Metric
from tests.cockpit.pagedata import api_catalog, login, login_viewer, pro_plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def items(tenant):
    return api_catalog(tenant.merchant)


def metric_form(**changes) -> dict:
    return {
        "code": "storage_gb", "name": "Storage", "description": "", "event_codes": "storage, storage_v2",
        "aggregation": "max", "field": "gb", "filters": "region: eu, us\ntier: gold", "group_by": "region",
        "period": "billing_period", "window_seconds": "", **changes,
    }  # fmt: skip


def feature_form(**changes) -> dict:
    return {"key": "seats", "name": "Seats", "description": "", "kind": "limit", "metric": "api_calls",
            "default_limit": "25", "default_value": "", **changes}  # fmt: skip


class TestMetricList:
    def test_it_lists_each_metric_with_its_definition_and_the_plans_using_it(self, client, tenant, other_tenant, items):
        pro_plan(tenant.merchant, items)
        pro_plan(tenant.merchant, items, code="starter", publish=False)
        catalog.metric_create(merchant=other_tenant.merchant, code="globex_metric", name="G", event_codes=["g"])
        login(client, tenant)
        response = client.get("/metrics/")
        assert response.status_code == 200
        rows = {row["metric"].code: row for row in response.context["rows"]}
        assert list(rows) == ["api_calls", "payments", "requests"]
        assert rows["api_calls"]["uses"] == ["pro v1", "starter v1 (draft)"]
        assert rows["api_calls"]["locked"] is True
        assert (rows["requests"]["uses"], rows["requests"]["locked"]) == ([], False)
        content = response.content.decode()
        assert "globex_metric" not in content
        assert "sum of <code>amount</code>" in content
        assert "<div>by region</div>" in content

    def test_an_admin_creates_a_metric(self, client, tenant):
        login(client, tenant)
        response = client.post("/metrics/", metric_form())
        assert response.status_code == 302
        assert response["Location"] == "/metrics/storage_gb/"
        metric = Metric.objects.get(merchant=tenant.merchant, code="storage_gb")
        assert (metric.event_codes, metric.aggregation, metric.field, metric.filters, metric.group_by) == (
            ["storage", "storage_v2"], "max", "gb", {"region": ["eu", "us"], "tier": ["gold"]}, ["region"],
        )  # fmt: skip
        assert (metric.period, metric.window_seconds) == ("billing_period", None)

    def test_a_rolling_metric_keeps_its_window(self, client, tenant):
        login(client, tenant)
        data = metric_form(code="calls_hour", aggregation="count", field="", period="rolling", window_seconds="3600")
        assert client.post("/metrics/", data).status_code == 302
        metric = Metric.objects.get(code="calls_hour")
        assert (metric.period, metric.window_seconds) == ("rolling", 3600)

    @pytest.mark.parametrize(
        ("changes", "field", "message"),
        [
            ({"aggregation": "sum", "field": ""}, "field", "is required for sum (the event property to aggregate)"),
            ({"aggregation": "count", "field": "gb"}, "field", "count does not aggregate a property"),
            ({"period": "rolling"}, "window_seconds", "is required for a rolling period"),
            ({"window_seconds": "60"}, "window_seconds", "applies only to a rolling period"),
            ({"period": "rolling", "window_seconds": "an hour"}, "window_seconds", "must be an integer"),
            ({"event_codes": " , "}, "event_codes", "must list at least one value"),
            ({"filters": "region"}, "filters", "line 1: expected property: value, value"),
            ({"filters": "region:"}, "filters", "'region' must map to a non-empty list of allowed values"),
            ({"code": "api_calls"}, "code", "a metric with code 'api_calls' already exists"),
            ({"code": "bad code"}, "code", "Use letters, digits"),
            ({"aggregation": "median"}, "aggregation", "Select a valid choice"),
            ({"name": ""}, "name", "This field is required."),
        ],
    )
    def test_bad_metrics_are_refused_with_the_field_named(self, client, tenant, items, changes, field, message):
        login(client, tenant)
        response = client.post("/metrics/", metric_form(**changes))
        assert response.status_code == 400
        assert message in " ".join(response.context["form"].errors[field])
        assert f'data-field="{field}"' in response.content.decode()
        assert sorted(Metric.objects.filter(merchant=tenant.merchant).values_list("code", flat=True)) == [
            "api_calls", "payments", "requests",
        ]  # fmt: skip

    def test_a_viewer_reads_metrics_but_cannot_create_or_edit(self, client, tenant, items):
        login_viewer(client, tenant)
        response = client.get("/metrics/")
        assert response.status_code == 200
        assert b"New metric" not in response.content
        detail = client.get("/metrics/api_calls/")
        assert detail.status_code == 200
        assert b"Edit metric" not in detail.content and b"<form method=\"post\">" not in detail.content
        assert client.post("/metrics/", metric_form()).status_code == 403
        assert client.post("/metrics/api_calls/", metric_form(name="Hacked")).status_code == 403
        assert not Metric.objects.filter(code="storage_gb").exists()
        assert Metric.objects.get(merchant=tenant.merchant, code="api_calls").name == "API calls"

    def test_another_merchants_metric_is_not_found(self, client, tenant, other_tenant):
        catalog.metric_create(merchant=other_tenant.merchant, code="globex_metric", name="G", event_codes=["g"])
        login(client, tenant)
        assert client.get("/metrics/globex_metric/").status_code == 404
        assert client.post("/metrics/globex_metric/", metric_form(name="Mine")).status_code == 404
        assert Metric.objects.get(code="globex_metric").name == "G"


class TestMetricEdit:
    def test_an_unused_metric_is_edited_in_full(self, client, tenant, items):
        login(client, tenant)
        page = client.get("/metrics/requests/")
        assert page.status_code == 200
        assert page.context["form"].initial["group_by"] == "region"
        assert not page.context["locked_by"]
        data = metric_form(code="ignored", name="Requests v2", aggregation="unique_count", field="user",
                           filters="", group_by="region, plan")  # fmt: skip
        response = client.post("/metrics/requests/", data)
        assert response.status_code == 302
        metric = Metric.objects.get(merchant=tenant.merchant, code="requests")
        assert (metric.name, metric.aggregation, metric.field, metric.filters, metric.group_by) == (
            "Requests v2", "unique_count", "user", {}, ["region", "plan"],
        )  # fmt: skip
        assert (metric.event_codes, metric.code) == (["storage", "storage_v2"], "requests")

    def test_a_published_plan_locks_the_definition_and_the_page_says_why(self, client, tenant, items):
        pro_plan(tenant.merchant, items)
        login(client, tenant)
        page = client.get("/metrics/api_calls/")
        assert page.context["locked_by"] == ["pro v1"]
        content = page.content.decode()
        assert "are locked: published plan version pro v1 bills by this definition" in content
        assert page.context["form"].fields["aggregation"].disabled is True
        assert page.context["form"].fields["name"].disabled is False
        # A post that tries to change the definition anyway changes only what may change.
        data = metric_form(name="Calls", description="Every call", aggregation="sum", field="n", event_codes="other")
        assert client.post("/metrics/api_calls/", data).status_code == 302
        metric = Metric.objects.get(merchant=tenant.merchant, code="api_calls")
        assert (metric.name, metric.description) == ("Calls", "Every call")
        assert (metric.aggregation, metric.field, metric.event_codes) == ("count", "", ["api_call"])

    def test_a_draft_alone_does_not_lock_the_metric(self, client, tenant, items):
        pro_plan(tenant.merchant, items, publish=False)
        login(client, tenant)
        page = client.get("/metrics/api_calls/")
        assert page.context["uses"] == ["pro v1 (draft)"]
        assert page.context["locked_by"] == []
        data = metric_form(name="API calls", aggregation="count", field="", event_codes="api_call, api_call_v2",
                           filters="", group_by="")  # fmt: skip
        assert client.post("/metrics/api_calls/", data).status_code == 302
        assert Metric.objects.get(merchant=tenant.merchant, code="api_calls").event_codes == ["api_call", "api_call_v2"]

    def test_a_metric_measured_by_a_published_limit_is_locked_too(self, client, tenant, items):
        metric = catalog.metric_create(merchant=tenant.merchant, code="seats_used", name="Seats", event_codes=["seat"])
        seats = catalog.feature_create(merchant=tenant.merchant, key="seats", name="Seats", kind="limit", metric=metric)
        pro_plan(tenant.merchant, items, code="team", features=[{"feature": seats, "limit": 5}])
        login(client, tenant)
        assert client.get("/metrics/seats_used/").context["locked_by"] == ["team v1"]

    def test_an_edit_with_bad_values_changes_nothing(self, client, tenant, items):
        login(client, tenant)
        response = client.post("/metrics/requests/", metric_form(aggregation="sum", field=""))
        assert response.status_code == 400
        assert "is required for sum" in " ".join(response.context["form"].errors["field"])
        metric = Metric.objects.get(merchant=tenant.merchant, code="requests")
        assert (metric.aggregation, metric.name) == ("count", "Requests")


class TestFeatures:
    def test_it_lists_features_with_kind_metric_default_and_plans(self, client, tenant, other_tenant, items):
        pro_plan(tenant.merchant, items)
        catalog.feature_create(merchant=other_tenant.merchant, key="globex_feature", name="G", kind="boolean")
        catalog.feature_create(merchant=tenant.merchant, key="support", name="Support", kind="value",
                               default_value="8x5")  # fmt: skip
        login(client, tenant)
        response = client.get("/features/")
        assert response.status_code == 200
        rows = {row["feature"].key: row for row in response.context["rows"]}
        assert list(rows) == ["api_calls_limit", "sso", "support"]
        assert (rows["api_calls_limit"]["default"], rows["api_calls_limit"]["uses"]) == (
            "no access of api_calls", ["pro v1"],
        )  # fmt: skip
        assert (rows["sso"]["default"], rows["support"]["default"], rows["support"]["uses"]) == ("disabled", "8x5", [])
        assert "globex_feature" not in response.content.decode()

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            (feature_form(), ("limit", "api_calls", 25, False, "")),
            (feature_form(key="sso2", kind="boolean", metric="", default_limit="", default_enabled="on"),
             ("boolean", None, None, True, "")),
            (feature_form(key="sla", kind="value", metric="", default_limit="", default_value="99.9%"),
             ("value", None, None, False, "99.9%")),
        ],
    )  # fmt: skip
    def test_an_admin_creates_each_kind_of_feature(self, client, tenant, items, data, expected):
        login(client, tenant)
        response = client.post("/features/", data)
        assert response.status_code == 302
        assert response["Location"] == f"/features/{data['key']}/"
        feature = Feature.objects.select_related("metric").get(merchant=tenant.merchant, key=data["key"])
        metric = feature.metric.code if feature.metric else None
        assert (feature.kind, metric, feature.default_limit, feature.default_enabled, feature.default_value) == expected

    @pytest.mark.parametrize(
        ("changes", "field", "message"),
        [
            ({"metric": ""}, "metric", "is required for a limit feature"),
            ({"kind": "boolean"}, "metric", "only limit features have a metric"),
            ({"kind": "value", "metric": ""}, "default_limit", "only limit features have a limit"),
            ({"default_limit": "-2"}, "default_limit", "Ensure this value is greater than or equal to -1."),
            ({"default_limit": "lots"}, "default_limit", "must be an integer"),
            ({"metric": "nope"}, "metric", "Select a valid choice"),
            ({"key": "sso"}, "key", "a feature with key 'sso' already exists"),
            ({"kind": "quota"}, "kind", "Select a valid choice"),
        ],
    )
    def test_bad_features_are_refused_with_the_field_named(self, client, tenant, items, changes, field, message):
        login(client, tenant)
        response = client.post("/features/", feature_form(**changes))
        assert response.status_code == 400
        assert message in " ".join(response.context["form"].errors[field])
        assert f'data-field="{field}"' in response.content.decode()
        assert Feature.objects.filter(merchant=tenant.merchant).count() == 2

    def test_a_feature_is_edited_but_its_kind_and_key_stay(self, client, tenant, items):
        login(client, tenant)
        data = feature_form(key="other", kind="boolean", name="Calls per month", metric="requests",
                            default_limit="-1")  # fmt: skip
        assert client.post("/features/api_calls_limit/", data).status_code == 302
        feature = Feature.objects.select_related("metric").get(merchant=tenant.merchant, key="api_calls_limit")
        assert (feature.name, feature.kind, feature.metric.code, feature.default_limit) == (
            "Calls per month", "limit", "requests", -1,
        )  # fmt: skip

    def test_a_published_plan_locks_the_features_metric(self, client, tenant, items):
        pro_plan(tenant.merchant, items)
        login(client, tenant)
        page = client.get("/features/api_calls_limit/")
        assert page.context["locked_by"] == ["pro v1"]
        assert page.context["form"].fields["metric"].disabled is True
        assert "The metric is locked too: published plan version pro v1" in page.content.decode()
        response = client.post("/features/api_calls_limit/", feature_form(metric="requests", default_limit="50"))
        assert response.status_code == 302
        feature = Feature.objects.select_related("metric").get(merchant=tenant.merchant, key="api_calls_limit")
        assert (feature.metric.code, feature.default_limit) == ("api_calls", 50)

    def test_a_viewer_reads_features_but_cannot_change_them(self, client, tenant, items):
        login_viewer(client, tenant)
        assert b"New feature" not in client.get("/features/").content
        assert b"Edit feature" not in client.get("/features/sso/").content
        assert client.post("/features/", feature_form()).status_code == 403
        assert client.post("/features/sso/", {"name": "Hacked", "kind": "boolean"}).status_code == 403
        assert Feature.objects.filter(merchant=tenant.merchant).count() == 2
        assert Feature.objects.get(merchant=tenant.merchant, key="sso").name == "SSO"

    def test_another_merchants_feature_is_not_found(self, client, tenant, other_tenant):
        catalog.feature_create(merchant=other_tenant.merchant, key="globex_feature", name="G", kind="boolean")
        login(client, tenant)
        assert client.get("/features/globex_feature/").status_code == 404
        assert client.post("/features/globex_feature/", {"name": "Mine", "kind": "boolean"}).status_code == 404
        assert Feature.objects.get(key="globex_feature").name == "G"
