"""Concurrent provisioning against a hard seat limit: the customer's row lock lets exactly the free seats through."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, connections

from billing.subscriptions.services import subscription_create
from billing.usage.seats import SeatLimitReached
from catalog import services as catalog
from catalog.models import Feature
from customers.models import Customer, CustomerUser
from metering.provisioning import Actor, user_provision

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
    pytest.mark.django_db(transaction=True),
]


def race(actions) -> list:
    """Run each action in its own thread, released together; return each result or raised exception."""
    barrier, results = threading.Barrier(len(actions)), []

    def run(action):
        try:
            barrier.wait()
            results.append(action())
        except Exception as exc:  # a loser of the race is an outcome to assert on
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_six_concurrent_provisionings_never_pass_a_hard_limit_of_three(tenant):
    merchant = tenant.merchant
    customer = Customer.objects.create(merchant=merchant, external_id="acme", name="Acme")
    seats = catalog.feature_create(merchant=merchant, key="seats", name="Seats", kind="limit", counts="users")
    plan = catalog.plan_create(
        merchant=merchant, code="team", name="Team",
        content={"currency": "USD", "features": [{"feature": seats, "limit": 3, "enforcement": "hard"}]},
    )  # fmt: skip
    catalog.plan_publish(plan=plan)
    subscription_create(merchant=merchant, external_id="sub", customer="acme", plan="team",
                        start_date=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip

    def provision(user_id):
        return lambda: user_provision(customer=customer, external_id=user_id, actor=Actor())

    results = race([provision(f"u{n}") for n in range(6)])

    assert sorted(type(result).__name__ for result in results) == ["CustomerUser"] * 3 + ["SeatLimitReached"] * 3
    assert all(result.feature == "seats" for result in results if isinstance(result, SeatLimitReached))
    assert CustomerUser.objects.filter(customer=customer, deprovisioned_at=None).count() == 3
    assert Feature.objects.get(key="seats").counts == "users"
