"""Usage and entitlements asked for an instant count the period up to that instant (SPEC §8, issue #15)."""

import pytest

from tests.metering.test_usage_entitlements import catalog_items, customer, plan, send, subscribe  # noqa: F401
from tests.metering.conftest import at

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant(tenant):
    return tenant.merchant


def test_an_answer_at_an_instant_leaves_out_the_events_after_it(api, merchant, plan, customer):
    subscribe(merchant)
    send(merchant, ("api_call", at(2026, 1, 20, 2), {}), ("api_call", at(2026, 1, 20, 14, 35), {}),
         ("api_call", at(2026, 1, 20, 14, 36), {}))  # fmt: skip

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
