"""GET /customers/{id}/usage and /entitlements: answers from the pre-aggregated state at plan prices."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.subscriptions.services import subscription_create
from billing.usage.entitlements import customer_entitlement
from billing.usage.selectors import customer_usage_amounts
from catalog import services as catalog
from customers.models import Customer
from metering.services import events_ingest
from tests.catalog.builders import spec_catalog, spec_plan
from tests.metering.conftest import at, make_customer

pytestmark = pytest.mark.django_db

JAN_20 = "2026-01-20T12:00:00Z"


def send(merchant, *events):
    payloads = []
    for number, (code, ts, properties, *tag) in enumerate(events):
        payloads.append({
            "transaction_id": f"{code}-{ts.isoformat()}-{number}-{send.counter}", "customer": "cus_1", "code": code,
            "timestamp": ts.isoformat(), "properties": properties, "subscription": tag[0] if tag else "",
        })  # fmt: skip
    send.counter += 1
    for chunk in range(0, len(payloads), 1000):
        result = events_ingest(merchant=merchant, payloads=payloads[chunk : chunk + 1000], received_at=at(2026, 2, 1))
        assert result.rejected == 0, result


send.counter = 0


@pytest.fixture
def catalog_items(merchant):
    return spec_catalog(merchant)


@pytest.fixture
def plan(api, catalog_items):
    assert api.post("/api/v1/plans", spec_plan(), format="json").status_code == 201
    assert api.post("/api/v1/plans/pro/publish").status_code == 200


@pytest.fixture
def customer(merchant):
    customer = make_customer(merchant, "cus_1")
    Customer.objects.filter(pk=customer.pk).update(created_at=at(2025, 11, 1))
    return customer


def subscribe(merchant, external_id="sub_1", plan="pro", start=None, **options):
    return subscription_create(
        merchant=merchant,
        external_id=external_id,
        customer="cus_1",
        plan=plan,
        start_date=start or at(2026, 1, 1),
        **options,
    )


def january_usage(merchant):
    day = at(2026, 1, 5)
    send(merchant, *[("api_call", day + timedelta(minutes=n), {}) for n in range(1500)])
    send(
        merchant,
        ("storage", at(2026, 1, 3), {"gb": 12}),
        ("storage", at(2026, 1, 9), {"gb": "25"}),
        ("storage", at(2026, 1, 19), {"gb": 7}),
        *[("request", at(2026, 1, 6, n), {"region": "eu"}) for n in range(10)],
        *[("request", at(2026, 1, 7, n), {"region": "us"}) for n in range(3)],
        ("api_call", at(2025, 12, 31, 23, 59), {}),  # before the period
        ("api_call", at(2026, 1, 8), {}, "sub_other"),  # another subscription's
    )


class TestUsage:
    def test_it_reports_each_charge_of_the_current_period_at_plan_prices(self, api, merchant, plan, customer):
        subscribe(merchant)
        january_usage(merchant)
        body = api.get(f"/api/v1/customers/cus_1/usage?at={JAN_20}").json()
        assert body == {
            "customer": "cus_1",
            "subscriptions": [
                {
                    "subscription": "sub_1",
                    "plan": "pro",
                    "plan_version": 1,
                    "currency": "USD",
                    "period_start": "2026-01-01T00:00:00Z",
                    "period_end": "2026-02-01T00:00:00Z",
                    "billable_from": "2026-01-01T00:00:00Z",
                    "amount": "20.35",
                    "charges": [
                        {
                            "metric": "api_calls", "name": "API calls", "aggregation": "count", "model": "tiered",
                            "quantity": "1500", "events_count": 1500, "amount": "5.00", "groups": [],
                        },
                        {
                            "metric": "storage_gb", "name": "Storage", "aggregation": "max", "model": "package",
                            "quantity": "25", "events_count": 3, "amount": "15.00", "groups": [],
                        },
                        {
                            "metric": "requests_by_region", "name": "Requests", "aggregation": "count",
                            "model": "matrix", "quantity": "13", "events_count": 13, "amount": "0.35",
                            "groups": [
                                {"group": {"region": "eu"}, "quantity": "10", "events_count": 10, "amount": "0.20"},
                                {"group": {"region": "us"}, "quantity": "3", "events_count": 3, "amount": "0.15"},
                            ],
                        },
                    ],
                }
            ],
        }  # fmt: skip
        assert customer_usage_amounts(customer=customer, at=at(2026, 1, 20)) == {"USD": Decimal("20.35")}

    def test_charge_overrides_of_the_subscription_apply(self, api, merchant, plan, customer):
        subscribe(merchant, overrides={"charges": {"api_calls": {"included_units": "0"}}})
        january_usage(merchant)
        charges = api.get(f"/api/v1/customers/cus_1/usage?at={JAN_20}").json()["subscriptions"][0]["charges"]
        assert charges[0]["amount"] == "15.00"

    def test_nothing_is_charged_during_a_trial_and_usage_counts_from_its_end(self, api, merchant, plan, customer):
        subscribe(merchant, trial_days=10)
        send(merchant, *[("api_call", at(2026, 1, 5) + timedelta(minutes=n), {}) for n in range(1200)])
        during = api.get("/api/v1/customers/cus_1/usage?at=2026-01-08T00:00:00Z").json()["subscriptions"][0]
        assert (during["amount"], during["charges"][0]["quantity"]) == ("0.00", "1200")
        assert during["billable_from"] == "2026-01-11T00:00:00Z"
        send(merchant, *[("api_call", at(2026, 1, 12) + timedelta(minutes=n), {}) for n in range(1100)])
        after = api.get(f"/api/v1/customers/cus_1/usage?at={JAN_20}").json()["subscriptions"][0]
        # 2300 events in the period, 1100 after the trial: (1100 - 1000 included) × 0.01
        assert (after["amount"], after["charges"][0]["quantity"]) == ("1.00", "2300")

    def test_a_customer_without_subscriptions_has_no_usage_entries(self, api, customer):
        assert api.get("/api/v1/customers/cus_1/usage").json() == {"customer": "cus_1", "subscriptions": []}

    def test_an_unknown_customer_is_a_404(self, api, other_tenant):
        make_customer(other_tenant.merchant, "cus_9")
        assert api.get("/api/v1/customers/cus_9/usage").status_code == 404
        assert api.get("/api/v1/customers/cus_9/entitlements").status_code == 404

    def test_a_bad_at_is_a_400(self, api, customer):
        response = api.get("/api/v1/customers/cus_1/usage?at=tomorrow")
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"at": "'tomorrow' is not an ISO 8601 timestamp or epoch seconds"}


class TestEntitlements:
    def test_it_answers_every_feature_from_the_plan(self, api, merchant, plan, customer):
        subscribe(merchant)
        january_usage(merchant)
        body = api.get(f"/api/v1/customers/cus_1/entitlements?at={JAN_20}").json()
        assert body == {
            "results": [
                {"key": "api_calls_limit", "kind": "limit", "allowed": True, "limit": 1000000, "usage": "1500",
                 "remaining": "998500", "value": None, "scope": "customer", "bucket": None},
                {"key": "sso", "kind": "boolean", "allowed": True, "limit": None, "usage": None, "remaining": None,
                 "value": None, "scope": "customer", "bucket": None},
                {"key": "support_hours", "kind": "value", "allowed": True, "limit": None, "usage": None,
                 "remaining": None, "value": "4", "scope": "customer", "bucket": None},
            ],
            "next": None,
        }  # fmt: skip

    def test_one_feature_by_key(self, api, merchant, plan, customer):
        subscribe(merchant)
        response = api.get(f"/api/v1/customers/cus_1/entitlements/sso?at={JAN_20}")
        assert response.json() == {
            "key": "sso", "kind": "boolean", "allowed": True, "limit": None, "usage": None, "remaining": None,
            "value": None, "scope": "customer", "bucket": None,
        }  # fmt: skip
        assert api.get("/api/v1/customers/cus_1/entitlements/nope").status_code == 404

    def test_a_hard_limit_is_not_allowed_once_usage_reaches_it(self, api, merchant, plan, customer):
        subscribe(merchant, overrides={"features": {"api_calls_limit": 1500}})
        send(merchant, *[("api_call", at(2026, 1, 5) + timedelta(minutes=n), {}) for n in range(1499)])
        body = api.get(f"/api/v1/customers/cus_1/entitlements/api_calls_limit?at={JAN_20}").json()
        assert (body["allowed"], body["limit"], body["usage"], body["remaining"]) == (True, 1500, "1499", "1")
        send(merchant, ("api_call", at(2026, 1, 6), {}))
        body = api.get(f"/api/v1/customers/cus_1/entitlements/api_calls_limit?at={JAN_20}").json()
        assert (body["allowed"], body["usage"], body["remaining"]) == (False, "1500", "0")

    def test_a_soft_limit_stays_allowed_and_reports_usage_over_it(self, api, merchant, catalog_items, customer):
        plan = spec_plan(features=[{"feature": "api_calls_limit", "limit": 10, "enforcement": "soft"}])
        assert api.post("/api/v1/plans", plan, format="json").status_code == 201
        api.post("/api/v1/plans/pro/publish")
        subscribe(merchant)
        send(merchant, *[("api_call", at(2026, 1, 5, 0, n), {}) for n in range(12)])
        body = api.get(f"/api/v1/customers/cus_1/entitlements/api_calls_limit?at={JAN_20}").json()
        assert body == {"key": "api_calls_limit", "kind": "limit", "allowed": True, "limit": 10, "usage": "12",
                        "remaining": "0", "value": None, "scope": "customer", "bucket": None}  # fmt: skip

    @pytest.mark.parametrize(("limit", "allowed", "remaining"), [(0, False, "0"), (-1, True, None)])
    def test_zero_is_no_access_and_minus_one_unlimited(self, api, merchant, plan, customer, limit, allowed, remaining):
        subscribe(merchant, overrides={"features": {"api_calls_limit": limit}})
        send(merchant, ("api_call", at(2026, 1, 5), {}))
        body = api.get(f"/api/v1/customers/cus_1/entitlements/api_calls_limit?at={JAN_20}").json()
        assert (body["allowed"], body["limit"], body["remaining"]) == (allowed, limit, remaining)

    def test_without_a_plan_the_feature_defaults_apply(self, api, merchant, customer):
        metric = catalog.metric_create(merchant=merchant, code="calls", name="Calls", event_codes=["api_call"])
        catalog.feature_create(merchant=merchant, key="calls", name="Calls", kind="limit", metric=metric,
                               default_limit=5)  # fmt: skip
        catalog.feature_create(merchant=merchant, key="beta", name="Beta", kind="boolean", default_enabled=True)
        catalog.feature_create(merchant=merchant, key="tier", name="Tier", kind="value")
        send(merchant, *[("api_call", at(2026, 1, 5, 0, n), {}) for n in range(3)], ("api_call", at(2025, 12, 5), {}))
        body = api.get(f"/api/v1/customers/cus_1/entitlements?at={JAN_20}").json()["results"]
        assert body == [
            {"key": "beta", "kind": "boolean", "allowed": True, "limit": None, "usage": None, "remaining": None,
             "value": None, "scope": "customer", "bucket": None},
            {"key": "calls", "kind": "limit", "allowed": True, "limit": 5, "usage": "3", "remaining": "2",
             "value": None, "scope": "customer", "bucket": None},
            {"key": "tier", "kind": "value", "allowed": False, "limit": None, "usage": None, "remaining": None,
             "value": None, "scope": "customer", "bucket": None},
        ]  # fmt: skip

    def test_a_rolling_window_limit_of_100_per_hour(self, merchant, customer):
        metric = catalog.metric_create(
            merchant=merchant, code="calls_hourly", name="Calls", event_codes=["api_call"], period="rolling",
            window_seconds=3600,
        )  # fmt: skip
        catalog.feature_create(merchant=merchant, key="rate", name="Rate", kind="limit", metric=metric,
                               default_limit=100)  # fmt: skip
        send(merchant, *[("api_call", at(2026, 1, 5, 10, 0, 30) + timedelta(seconds=30 * n), {}) for n in range(100)])
        # the 100 events run from 10:00:30 to 10:50:00
        full = customer_entitlement(customer=customer, key="rate", at=at(2026, 1, 5, 10, 55))
        assert (full.allowed, full.usage, full.remaining) == (False, Decimal(100), Decimal(0))
        later = customer_entitlement(customer=customer, key="rate", at=at(2026, 1, 5, 11, 10))
        # the window [10:10, 11:10) keeps the events from 10:10:00 on: 81 of them
        assert (later.allowed, later.usage, later.remaining) == (True, Decimal(81), Decimal(19))

    def test_the_most_generous_of_several_subscriptions_wins(self, api, merchant, plan, customer):
        other = spec_plan(code="team", name="Team", features=[{"feature": "api_calls_limit", "limit": -1}])
        assert api.post("/api/v1/plans", other, format="json").status_code == 201
        api.post("/api/v1/plans/team/publish")
        subscribe(merchant)
        subscribe(merchant, external_id="sub_2", plan="team")
        body = api.get(f"/api/v1/customers/cus_1/entitlements/api_calls_limit?at={JAN_20}").json()
        assert (body["limit"], body["remaining"]) == (-1, None)


class TestQueryCost:
    """A check is a fixed number of queries, whatever the volume: authentication, one query for the customer,
    features and subscriptions, and one bucket query per metric read."""

    def test_an_entitlement_check_is_three_queries(self, api, merchant, plan, customer, django_assert_num_queries):
        subscribe(merchant)
        january_usage(merchant)
        path = f"/api/v1/customers/cus_1/entitlements/api_calls_limit?at={JAN_20}"
        assert api.get(path).json()["usage"] == "1500"  # builds the state and stamps the key's last use
        with django_assert_num_queries(3):
            assert api.get(path).json()["usage"] == "1500"
        send(merchant, *[("api_call", at(2026, 1, 6) + timedelta(seconds=n), {}) for n in range(2000)])
        with django_assert_num_queries(3):
            assert api.get(path).json()["usage"] == "3500"

    def test_usage_is_one_bucket_query_per_charge(self, api, merchant, plan, customer, django_assert_num_queries):
        subscribe(merchant)
        january_usage(merchant)
        path = f"/api/v1/customers/cus_1/usage?at={JAN_20}"
        assert api.get(path).json()["subscriptions"][0]["amount"] == "20.35"
        with django_assert_num_queries(2 + 3):
            assert api.get(path).json()["subscriptions"][0]["amount"] == "20.35"
