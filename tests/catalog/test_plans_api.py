"""Plans through the API: the SPEC §8 shape, the draft → published → new version lifecycle, archiving."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from rest_framework.exceptions import ValidationError

from billing.models import Subscription
from catalog.models import Charge, Plan, PlanVersion
from catalog.selectors import plan_version_for_subscription
from customers.models import Customer
from tests.catalog.builders import spec_catalog, spec_plan

pytestmark = pytest.mark.django_db

SPEC_PLAN_AS_RETURNED = {
    "code": "pro",
    "name": "Pro",
    "description": "",
    "currency": "USD",
    "interval": "month",
    "interval_count": 1,
    "base_fee": "49.00",
    "base_fee_timing": "in_advance",
    "trial_days": 0,
    "charges": [
        {
            "metric": "api_calls",
            "model": "tiered",
            "tiers": [
                {"up_to": "10000", "unit_amount": "0.01", "flat_amount": "0.00"},
                {"up_to": None, "unit_amount": "0.005", "flat_amount": "0.00"},
            ],
            "included_units": "1000",
            "minimum_amount": None,
            "maximum_amount": None,
            "timing": "in_arrears",
            "description": "",
        },
        {
            "metric": "storage_gb",
            "model": "package",
            "package_size": "10",
            "amount": "5.00",
            "included_units": "0",
            "minimum_amount": None,
            "maximum_amount": None,
            "timing": "in_arrears",
            "description": "",
        },
        {
            "metric": "requests_by_region",
            "model": "matrix",
            "dimensions": ["region"],
            "rows": [{"match": {"region": "eu"}, "unit_amount": "0.02"}],
            "default_unit_amount": "0.05",
            "included_units": "0",
            "minimum_amount": None,
            "maximum_amount": None,
            "timing": "in_arrears",
            "description": "",
        },
    ],
    "features": [
        {"feature": "api_calls_limit", "limit": 1000000, "enforcement": "hard"},
        {"feature": "sso", "enabled": True},
        {"feature": "support_hours", "value": "4"},
    ],
    "one_time_fees": [{"name": "Onboarding", "amount": "500.00"}],
    "version": 1,
    "status": "draft",
    "published_at": None,
    "archived_at": None,
}


@pytest.fixture
def catalog(tenant):
    return spec_catalog(tenant.merchant)


@pytest.fixture
def pro(api, catalog):
    response = api.post("/api/v1/plans", spec_plan(), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def without_timestamps(body: dict) -> dict:
    body = dict(body)
    body.pop("created_at")
    body.pop("versions")
    return body


def versions_of(body: dict) -> list[tuple[int, str]]:
    return [(summary["version"], summary["status"]) for summary in body["versions"]]


def publish(api, code="pro"):
    response = api.post(f"/api/v1/plans/{code}/publish")
    assert response.status_code == 200, response.content
    return response.json()


class TestCreatingAPlan:
    def test_a_new_plan_is_a_draft_version_1_shaped_as_the_spec(self, pro):
        assert without_timestamps(pro) == SPEC_PLAN_AS_RETURNED
        assert versions_of(pro) == [(1, "draft")]
        assert pro["created_at"].endswith("Z")

    def test_get_returns_the_same_representation(self, api, pro):
        response = api.get("/api/v1/plans/pro")
        assert response.status_code == 200
        assert response.json() == pro

    def test_charges_are_stored_with_normalised_parameters(self, pro):
        charge = Charge.objects.get(plan_version__plan__code="pro", metric__code="api_calls")
        assert charge.properties == {
            "tiers": [
                {"up_to": "10000", "unit_amount": "0.01", "flat_amount": "0.00"},
                {"up_to": None, "unit_amount": "0.005", "flat_amount": "0.00"},
            ]
        }
        assert charge.included_units == Decimal("1000")
        assert charge.position == 0

    def test_stored_charges_rate_through_the_engine(self, pro):
        charge = Charge.objects.get(plan_version__plan__code="pro", metric__code="api_calls")
        # 12,000 calls less 1,000 included: 10,000 units at 0.01, then 1,000 at 0.005.
        assert charge.priced().rate(Decimal("12000")).amount == Decimal("105.00")

    def test_defaults_fill_everything_but_code_name_and_currency(self, api, catalog):
        response = api.post("/api/v1/plans", {"code": "free", "name": "Free", "currency": "EUR"}, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert {
            key: body[key] for key in ("interval", "interval_count", "base_fee", "base_fee_timing", "trial_days")
        } == {
            "interval": "month",
            "interval_count": 1,
            "base_fee": "0.00",
            "base_fee_timing": "in_advance",
            "trial_days": 0,
        }
        assert (body["charges"], body["features"], body["one_time_fees"]) == ([], [], [])

    def test_amounts_are_shown_with_the_currency_decimals(self, api, catalog):
        response = api.post(
            "/api/v1/plans",
            spec_plan(
                code="jp",
                currency="JPY",
                base_fee="4900",
                charges=[],
                one_time_fees=[{"name": "Setup", "amount": "5000"}],
            ),
            format="json",
        )
        assert response.status_code == 201, response.content
        assert response.json()["base_fee"] == "4900"
        assert response.json()["one_time_fees"] == [{"name": "Setup", "amount": "5000"}]
        response = api.post("/api/v1/plans", spec_plan(code="bh", currency="BHD", base_fee="12.5"), format="json")
        assert response.status_code == 201, response.content
        assert response.json()["base_fee"] == "12.500"

    def test_unit_prices_keep_up_to_twelve_decimals(self, api, catalog):
        charge = {"metric": "api_calls", "model": "per_unit", "unit_amount": "0.000000000001"}
        response = api.post("/api/v1/plans", spec_plan(code="micro", charges=[charge]), format="json")
        assert response.status_code == 201, response.content
        assert response.json()["charges"][0]["unit_amount"] == "0.000000000001"

    def test_minimum_and_maximum_are_returned_as_money(self, api, catalog):
        charge = {
            "metric": "api_calls", "model": "per_unit", "unit_amount": "0.01",
            "minimum_amount": "10", "maximum_amount": "250.5",
        }  # fmt: skip
        response = api.post("/api/v1/plans", spec_plan(code="floor", charges=[charge]), format="json")
        assert response.status_code == 201, response.content
        returned = response.json()["charges"][0]
        assert (returned["minimum_amount"], returned["maximum_amount"]) == ("10.00", "250.50")

    def test_percentage_and_in_advance_charges_are_accepted_where_they_apply(self, api, catalog):
        charges = [
            {"metric": "payments", "model": "percentage", "rate": "0.029", "fixed_amount": "0.30"},
            {"metric": "storage_gb", "model": "flat", "amount": "20", "timing": "in_advance"},
        ]
        response = api.post("/api/v1/plans", spec_plan(code="pay", charges=charges), format="json")
        assert response.status_code == 201, response.content
        body = response.json()["charges"]
        assert (body[0]["rate"], body[0]["fixed_amount"]) == ("0.029", "0.30")
        assert (body[1]["amount"], body[1]["timing"]) == ("20.00", "in_advance")

    def test_a_posted_plan_round_trips_through_patch_unchanged(self, api, pro):
        response = api.patch("/api/v1/plans/pro", pro, format="json")
        assert response.status_code == 200, response.content
        assert without_timestamps(response.json()) == without_timestamps(pro)


class TestListingPlans:
    def test_the_list_is_paginated_and_shows_each_plans_latest_version(self, api, pro):
        publish(api)
        api.post("/api/v1/plans/pro/versions")
        api.post("/api/v1/plans", {"code": "basic", "name": "Basic", "currency": "USD"}, format="json")
        body = api.get("/api/v1/plans").json()
        assert set(body) == {"results", "next"}
        assert body["next"] is None
        assert [(plan["code"], plan["version"], plan["status"]) for plan in body["results"]] == [
            ("basic", 1, "draft"),
            ("pro", 2, "draft"),
        ]

    def test_the_list_filters_archived_plans(self, api, pro):
        api.post("/api/v1/plans", {"code": "basic", "name": "Basic", "currency": "USD"}, format="json")
        api.post("/api/v1/plans/pro/archive")
        assert [plan["code"] for plan in api.get("/api/v1/plans?archived=false").json()["results"]] == ["basic"]
        assert [plan["code"] for plan in api.get("/api/v1/plans?archived=true").json()["results"]] == ["pro"]

    def test_another_merchants_plans_are_not_listed_or_found(self, api, pro, other_tenant):
        assert other_tenant.api.get("/api/v1/plans").json() == {"results": [], "next": None}
        assert other_tenant.api.get("/api/v1/plans/pro").status_code == 404
        assert other_tenant.api.post("/api/v1/plans/pro/publish").status_code == 404
        assert PlanVersion.objects.get().status == "draft"


class TestEditingTheDraft:
    def test_patch_replaces_the_given_lists_and_keeps_the_others(self, api, pro):
        response = api.patch(
            "/api/v1/plans/pro",
            {"base_fee": "59", "charges": [{"metric": "api_calls", "model": "per_unit", "unit_amount": "0.02"}]},
            format="json",
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["base_fee"] == "59.00"
        assert [(charge["metric"], charge["model"]) for charge in body["charges"]] == [("api_calls", "per_unit")]
        assert body["features"] == SPEC_PLAN_AS_RETURNED["features"]
        assert body["one_time_fees"] == [{"name": "Onboarding", "amount": "500.00"}]
        assert (body["version"], body["status"]) == (1, "draft")
        assert Charge.objects.count() == 1

    def test_patch_can_empty_a_list(self, api, pro):
        response = api.patch("/api/v1/plans/pro", {"features": [], "one_time_fees": []}, format="json")
        assert (response.json()["features"], response.json()["one_time_fees"]) == ([], [])

    def test_a_currency_change_revalidates_the_charges_kept(self, api, catalog):
        charge = {"metric": "api_calls", "model": "per_unit", "unit_amount": "1", "minimum_amount": "10.50"}
        api.post("/api/v1/plans", spec_plan(code="c", charges=[charge], base_fee="0"), format="json")
        response = api.patch("/api/v1/plans/c", {"currency": "JPY"}, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {
            "charges[0].minimum_amount": "has more decimal places than JPY allows (0)"
        }
        assert PlanVersion.objects.get().currency == "USD"

    def test_the_code_cannot_change(self, api, pro):
        response = api.patch("/api/v1/plans/pro", {"code": "premium"}, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"code": "cannot be changed"}
        assert Plan.objects.get().code == "pro"


class TestLifecycle:
    def test_publishing_freezes_the_draft(self, api, pro):
        body = publish(api)
        assert (body["version"], body["status"]) == (1, "published")
        assert body["published_at"].endswith("Z")
        assert versions_of(body) == [(1, "published")]
        assert without_timestamps(body) | {"status": "draft", "published_at": None} == SPEC_PLAN_AS_RETURNED

    def test_editing_a_published_version_is_a_409_and_changes_nothing(self, api, pro):
        publish(api)
        response = api.patch("/api/v1/plans/pro", {"base_fee": "99.00", "charges": []}, format="json")
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["type"] == "conflict"
        assert error["message"] == (
            "Version 1 of plan 'pro' is published and cannot change. "
            "Start a new draft with POST /api/v1/plans/pro/versions."
        )
        version = PlanVersion.objects.get()
        assert version.base_fee == Decimal("49.00")
        assert version.charges.count() == 3

    def test_renaming_a_published_plan_is_allowed(self, api, pro):
        publish(api)
        response = api.patch("/api/v1/plans/pro", {"name": "Pro (2024)", "description": "For teams"}, format="json")
        assert response.status_code == 200, response.content
        assert (response.json()["name"], response.json()["description"]) == ("Pro (2024)", "For teams")
        assert response.json()["status"] == "published"

    def test_publishing_twice_is_a_409(self, api, pro):
        publish(api)
        response = api.post("/api/v1/plans/pro/publish")
        assert response.status_code == 409
        assert response.json()["error"]["message"] == (
            "Plan 'pro' has no draft to publish: version 1 is already published."
        )

    def test_a_new_version_copies_the_latest_into_a_v2_draft(self, api, pro):
        published = publish(api)
        response = api.post("/api/v1/plans/pro/versions")
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["version"], body["status"], body["published_at"]) == (2, "draft", None)
        assert versions_of(body) == [(1, "published"), (2, "draft")]
        assert without_timestamps(body) | {"version": 1, "status": "published", "published_at": None} == (
            without_timestamps(published) | {"published_at": None}
        )
        assert Charge.objects.filter(plan_version__version=2).count() == 3

    def test_a_second_draft_is_a_409(self, api, pro):
        response = api.post("/api/v1/plans/pro/versions")
        assert response.status_code == 409
        assert response.json()["error"]["message"] == (
            "Version 1 of plan 'pro' is still a draft: edit it with PATCH or publish it first."
        )
        assert PlanVersion.objects.count() == 1

    def test_editing_v2_leaves_v1_untouched(self, api, pro):
        publish(api)
        api.post("/api/v1/plans/pro/versions")
        response = api.patch("/api/v1/plans/pro", {"base_fee": "59.00"}, format="json")
        assert response.json()["base_fee"] == "59.00"
        v1 = api.get("/api/v1/plans/pro?version=1").json()
        assert (v1["version"], v1["status"], v1["base_fee"]) == (1, "published", "49.00")

    def test_an_unknown_version_is_a_404_and_a_malformed_one_a_400(self, api, pro):
        assert api.get("/api/v1/plans/pro?version=7").status_code == 404
        response = api.get("/api/v1/plans/pro?version=first")
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"version": "A valid integer is required."}

    def test_publishing_v2_leaves_subscriptions_on_v1(self, api, tenant, pro):
        publish(api)
        v1 = PlanVersion.objects.get(version=1)
        customer = Customer.objects.create(merchant=tenant.merchant, external_id="cus_1", name="Initech")
        subscription = Subscription.objects.create(
            merchant=tenant.merchant,
            customer=customer,
            external_id="sub_1",
            plan_version=v1,
            started_at=datetime(2024, 1, 1, tzinfo=UTC),
        )
        api.post("/api/v1/plans/pro/versions")
        api.patch("/api/v1/plans/pro", {"base_fee": "59.00"}, format="json")
        publish(api)

        subscription.refresh_from_db()
        assert subscription.plan_version_id == v1.pk
        v1.refresh_from_db()
        assert (v1.status, v1.base_fee) == ("published", Decimal("49.0000"))
        new = plan_version_for_subscription(merchant=tenant.merchant, plan_code="pro")
        assert (new.version, new.base_fee) == (2, Decimal("59.0000"))

    def test_publishing_validates_the_draft_again(self, api, pro):
        # The metric lost the group_by its matrix charge prices by (allowed: no published plan used it yet).
        assert api.patch("/api/v1/metrics/requests_by_region", {"group_by": []}, format="json").status_code == 200
        response = api.post("/api/v1/plans/pro/publish")
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {
            "charges[2].dimensions[0]": "'region' is not one of the metric's group_by properties (none)"
        }
        assert PlanVersion.objects.get().status == "draft"


class TestArchiving:
    def test_an_archived_plan_accepts_no_new_subscriptions(self, api, tenant, pro):
        publish(api)
        response = api.post("/api/v1/plans/pro/archive")
        assert response.status_code == 200
        assert response.json()["archived_at"].endswith("Z")
        with pytest.raises(ValidationError) as raised:
            plan_version_for_subscription(merchant=tenant.merchant, plan_code="pro")
        assert raised.value.detail == {"plan": "plan 'pro' is archived and accepts no new subscriptions"}

    def test_archiving_twice_keeps_the_first_date(self, api, pro):
        first = api.post("/api/v1/plans/pro/archive").json()["archived_at"]
        assert api.post("/api/v1/plans/pro/archive").json()["archived_at"] == first

    @pytest.mark.parametrize(
        ("method", "path", "payload", "verb"),
        [
            ("patch", "/api/v1/plans/pro", {"base_fee": "1.00"}, "edited"),
            ("post", "/api/v1/plans/pro/publish", None, "published"),
            ("post", "/api/v1/plans/pro/versions", None, "given a new version"),
        ],
    )
    def test_an_archived_plan_cannot_change(self, api, pro, method, path, payload, verb):
        api.post("/api/v1/plans/pro/archive")
        response = getattr(api, method)(path, payload, format="json")
        assert response.status_code == 409
        assert (
            response.json()["error"]["message"] == f"Plan 'pro' is archived and cannot be {verb}; unarchive it first."
        )
        assert PlanVersion.objects.get().status == "draft"

    def test_unarchiving_restores_the_plan(self, api, tenant, pro):
        publish(api)
        api.post("/api/v1/plans/pro/archive")
        response = api.post("/api/v1/plans/pro/unarchive")
        assert response.json()["archived_at"] is None
        assert plan_version_for_subscription(merchant=tenant.merchant, plan_code="pro").version == 1
