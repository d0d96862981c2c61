"""Subscriptions over the API: create, read with periods, change plan and cancel, errors as 400 naming the field."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import Subscription
from customers.models import Customer
from tests.billing.test_subscriptions import dt, make_plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant(tenant):
    make_plan(tenant.merchant, "pro")
    make_plan(tenant.merchant, "basic")
    make_plan(tenant.merchant, "draft", publish=False)
    customer = Customer.objects.create(merchant=tenant.merchant, external_id="cus_1", name="Initech")
    Customer.objects.filter(pk=customer.pk).update(created_at=dt(2024, 1, 1))
    return tenant.merchant


def post(api, **body):
    body = {"external_id": "sub_1", "customer": "cus_1", "plan": "pro", "start_date": "2024-08-10", **body}
    return api.post("/api/v1/subscriptions", body, format="json")


def test_it_creates_a_subscription_and_shows_its_current_period(api, merchant):
    response = post(api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert {
        k: body[k]
        for k in (
            "external_id",
            "customer",
            "plan",
            "plan_version",
            "currency",
            "billing_anchor",
            "billing_day",
            "timezone",
            "started_at",
            "ends_at",
            "previous",
            "next",
        )
    } == {
        "external_id": "sub_1",
        "customer": "cus_1",
        "plan": "pro",
        "plan_version": 1,
        "currency": "USD",
        "billing_anchor": "calendar",
        "billing_day": 1,
        "timezone": "UTC",
        "started_at": "2024-08-10T00:00:00Z",
        "ends_at": None,
        "previous": None,
        "next": None,
    }
    now = timezone.now()
    assert body["current_period_start"] == now.replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    ).isoformat().replace("+00:00", "Z")
    detail = api.get("/api/v1/subscriptions/sub_1?at=2024-08-20T00:00:00Z").json()
    assert (detail["status"], detail["current_period_start"], detail["current_period_end"]) == (
        "active",
        "2024-08-10T00:00:00Z",
        "2024-09-01T00:00:00Z",
    )


@pytest.mark.parametrize(
    "anchor, billing_day, at, start, end",
    [
        ("calendar", 1, "2024-08-20T00:00:00Z", "2024-08-10T00:00:00Z", "2024-09-01T00:00:00Z"),
        ("calendar", 26, "2024-08-20T00:00:00Z", "2024-08-10T00:00:00Z", "2024-08-26T00:00:00Z"),
        ("calendar", 26, "2024-09-30T00:00:00Z", "2024-09-26T00:00:00Z", "2024-10-26T00:00:00Z"),
        ("anniversary", 26, "2024-09-30T00:00:00Z", "2024-09-10T00:00:00Z", "2024-10-10T00:00:00Z"),
        ("anniversary", 1, "2024-08-01T00:00:00Z", "2024-08-10T00:00:00Z", "2024-09-10T00:00:00Z"),
    ],
)
def test_the_period_output_follows_the_anchor_and_billing_day(api, merchant, anchor, billing_day, at, start, end):
    merchant.billing_day = billing_day
    merchant.save()
    assert post(api, billing_anchor=anchor).status_code == 201
    body = api.get(f"/api/v1/subscriptions/sub_1?at={at}").json()
    assert (body["current_period_start"], body["current_period_end"]) == (start, end)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"plan": "draft"}, "plan"),
        ({"plan": "nope"}, "plan"),
        ({"customer": "ghost"}, "customer"),
        ({"start_date": "1999-06-01"}, "start_date"),  # outside the calendar (2023, before the customer: allowed)
        ({"start_date": "soon"}, "start_date"),
        ({"billing_anchor": "lunar"}, "billing_anchor"),
        ({"trial_days": -1}, "trial_days"),
        ({"overrides": {"charges": {"x": {}}}}, "overrides.charges.x"),
        ({"external_id": ""}, "external_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, merchant, body, field):
    response = post(api, **body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not Subscription.objects.exists()


def test_an_overlap_is_a_400_on_plan(api, merchant):
    assert post(api).status_code == 201
    response = post(api, external_id="sub_2")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["plan"]


def test_change_plan_at_period_end_and_immediately(api, merchant):
    assert post(api).status_code == 201
    response = api.post("/api/v1/subscriptions/sub_1/change_plan", {"plan": "basic"}, format="json")
    assert response.status_code == 201, response.content
    new = response.json()
    now = timezone.now()
    boundary = (now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(day=1)
    assert new["started_at"] == boundary.isoformat().replace("+00:00", "Z")
    assert (new["plan"], new["previous"], new["status"]) == ("basic", "sub_1", "pending")
    old = api.get("/api/v1/subscriptions/sub_1").json()
    assert (old["ends_at"], old["next"]) == (new["started_at"], "sub_1-2")

    response = api.post(
        "/api/v1/subscriptions/sub_1-2/change_plan", {"plan": "pro", "effective": "immediately"}, format="json"
    )
    # A pending subscription changed immediately is replaced at its own start.
    assert response.status_code == 201, response.content
    assert response.json()["started_at"] == new["started_at"]


def test_change_plan_errors(api, merchant):
    assert post(api).status_code == 201
    response = api.post(
        "/api/v1/subscriptions/sub_1/change_plan", {"plan": "basic", "effective": "never"}, format="json"
    )
    assert list(response.json()["error"]["fields"]) == ["effective"]
    response = api.post("/api/v1/subscriptions/sub_1/change_plan", {}, format="json")
    assert list(response.json()["error"]["fields"]) == ["plan"]
    assert Subscription.objects.count() == 1


def test_cancel_at_period_end_and_immediately(api, merchant):
    assert post(api).status_code == 201
    response = api.post("/api/v1/subscriptions/sub_1/cancel", {}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["canceled_at"] is not None
    assert body["ends_at"] == body["current_period_end"]
    response = api.post("/api/v1/subscriptions/sub_1/cancel", {"effective": "immediately"}, format="json")
    assert response.json()["status"] == "terminated"
    response = api.post("/api/v1/subscriptions/sub_1/cancel", {}, format="json")
    assert response.status_code == 409


def test_lists_filter_by_customer_and_plan(api, merchant):
    post(api)
    post(api, external_id="sub_2", plan="basic")
    ids = lambda q: sorted(row["external_id"] for row in api.get("/api/v1/subscriptions" + q).json()["results"])  # noqa: E731
    assert ids("") == ["sub_1", "sub_2"]
    assert ids("?plan=basic") == ["sub_2"]
    assert ids("?customer=nobody") == []
    assert ids("?active_at=2024-01-01T00:00:00Z") == []


def test_another_merchants_subscription_is_a_404(api, merchant, other_tenant):
    assert post(api).status_code == 201
    assert other_tenant.api.get("/api/v1/subscriptions/sub_1").status_code == 404
    assert other_tenant.api.post("/api/v1/subscriptions/sub_1/cancel", {}, format="json").status_code == 404
    assert other_tenant.api.post("/api/v1/subscriptions/sub_1/change_plan", {}, format="json").status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"plan_version": 10**30}, "plan_version"),
        ({"start_date": "1850-01-01"}, "start_date"),
        ({"overrides": [1]}, "overrides"),
        ({"customer": ["a"]}, "customer"),
    ],
)
def test_absurd_input_is_a_400_never_a_500(api, merchant, body, field):
    response = post(api, **body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_absurd_ids_are_404(api, merchant):
    assert api.get("/api/v1/billing_rules/99999999999999999999999999").status_code == 404
    assert api.get("/api/v1/subscriptions/nope").status_code == 404
