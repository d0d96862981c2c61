"""A billing run is for an instant between 2000 and now: anything else is a 400 that bills nothing.

A run far in the future would bill every period up to it (thousands of invoices for one
subscription); the schemathesis run keeps ``as_of`` inside these bounds for that reason
(``test_schemathesis.py``), and these tests hold the bounds themselves.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.hostile.seed import diff, seeded_tenant, snapshot

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "as_of",
    [
        pytest.param(lambda: (timezone.now() + timedelta(days=3)).isoformat(), id="later-than-now"),
        pytest.param(lambda: "1999-12-31T23:59:59Z", id="before-2000"),
    ],
)
def test_a_billing_run_outside_2000_to_now_is_a_400_that_bills_nothing(as_of):
    tenant, _ = seeded_tenant()
    before = snapshot(tenant.merchant)

    response = tenant.api.post("/api/v1/billing/runs", {"as_of": as_of()}, format="json")

    assert response.status_code == 400, response.content
    assert set(response.json()["error"]["fields"]) == {"as_of"}
    assert not diff(before, snapshot(tenant.merchant))


def test_a_billing_run_for_now_is_accepted():
    tenant, _ = seeded_tenant()

    response = tenant.api.post("/api/v1/billing/runs", {"as_of": timezone.now().isoformat()}, format="json")

    assert response.status_code == 200, response.content
