"""Usage and entitlements asked for an instant count the period up to that instant (SPEC §8, issue #15)."""

import pytest

from billing.subscriptions.services import subscription_create
from metering.services import events_ingest
from tests.catalog.builders import spec_catalog, spec_plan
from tests.metering.conftest import at, make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscribed(tenant, api):
    merchant = tenant.merchant
    spec_catalog(merchant)
    assert api.post("/api/v1/plans", spec_plan(), format="json").status_code == 201
    assert api.post("/api/v1/plans/pro/publish").status_code == 200
    make_customer(merchant, "cus_1")
    subscription_create(merchant=merchant, external_id="sub_1", customer="cus_1", plan="pro", start_date=at(2026, 1, 1))
    return merchant


def test_an_answer_at_an_instant_leaves_out_the_events_after_it(api, subscribed):
    instants = (at(2026, 1, 20, 2), at(2026, 1, 20, 14, 35), at(2026, 1, 20, 14, 36))
    payloads = [{"transaction_id": f"t{n}", "customer": "cus_1", "code": "api_call", "timestamp": instant.isoformat()}
                for n, instant in enumerate(instants)]  # fmt: skip
    assert events_ingest(merchant=subscribed, payloads=payloads, received_at=at(2026, 1, 21)).accepted == 3

    def entitlement(instant):
        return api.get(f"/api/v1/customers/cus_1/entitlements/api_calls_limit?at={instant}").json()["usage"]

    def usage(instant):
        body = api.get(f"/api/v1/customers/cus_1/usage?at={instant}").json()
        return [(c["metric"], c["quantity"]) for c in body["subscriptions"][0]["charges"] if c["metric"] == "api_calls"]

    assert entitlement("2026-01-20T03:00:00Z") == "1"
    assert entitlement("2026-01-20T14:36:00Z") == "2"  # an event at the instant itself comes after it
    assert entitlement("2026-01-20T15:00:00Z") == "3"
    assert usage("2026-01-20T03:00:00Z") == [("api_calls", "1")]
    assert usage("2026-01-20T15:00:00Z") == [("api_calls", "3")]
