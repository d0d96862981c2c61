"""Two requests racing on one plan: the plan row lock lets exactly one of them through."""

import threading

import pytest
from django.db import connection, connections

from atlas.api.exceptions import Conflict
from catalog import services
from catalog.models import PlanVersion

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
    pytest.mark.django_db(transaction=True),
]


def race(action, times: int = 2) -> list:
    """Run ``action`` in ``times`` threads released together; return each result or raised exception."""
    barrier, results = threading.Barrier(times), []

    def run():
        try:
            barrier.wait()
            results.append(action())
        except Exception as exc:  # the race's loser is an outcome to assert on
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_concurrent_new_versions_make_exactly_one_draft(tenant):
    plan = services.plan_create(merchant=tenant.merchant, code="pro", name="Pro", content={"currency": "USD"})
    services.plan_publish(plan=plan)

    results = race(lambda: services.plan_version_create(plan=plan))

    assert sorted(type(result).__name__ for result in results) == ["Conflict", "PlanVersion"]
    assert list(PlanVersion.objects.order_by("version").values_list("version", "status")) == [
        (1, "published"),
        (2, "draft"),
    ]


def test_two_concurrent_publishes_publish_once(tenant):
    plan = services.plan_create(merchant=tenant.merchant, code="pro", name="Pro", content={"currency": "USD"})

    results = race(lambda: services.plan_publish(plan=plan))

    assert sum(isinstance(result, Conflict) for result in results) == 1
    assert PlanVersion.objects.get().status == "published"
